#!/usr/bin/env node
'use strict';
// Tests the package as users get it: packs it (which builds the TypeScript and
// the Node-API prebuilds, tools/prebuild.js), checks the tarball's file list, then
// installs the tarball into two empty projects, once with --ignore-scripts (so
// the prebuild alone must serve) and once normally, and in each one requires
// and imports it by name and checks that a cleanup runs after its object dies.
//
// Packing happens in a copy of the package's sources, so the build/ folder of
// this checkout (loaded by the running test suite) is never rebuilt under it.
//
//   node tools/test-tarball.js [--keep]   (--keep leaves the temp folder)
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const { TARGETS, compilerOf, has } = require('./prebuild');
const { commandLine } = require('./cli');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const SOURCES = ['package.json', 'package-lock.json', 'binding.gyp', 'native', 'lib', 'tools', 'tsconfig.json', 'README.md', 'LICENSE', 'CHANGELOG.md'];

// The installed package must load what it ships: no ADDCLEANUP_NATIVE_PATH
// of the calling test run. npm.cmd (Windows) runs only through a shell.
function run(cmd, args, cwd, extraEnv = {}) {
  const env = { ...process.env, ...extraEnv };
  delete env.ADDCLEANUP_NATIVE_PATH;
  return execFileSync(cmd, args, {
    cwd,
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
    shell: cmd.endsWith('.cmd'),
  });
}

function step(message) {
  process.stdout.write(`tarball: ${message}\n`);
}

// The check a user would write: require and import by name, one cleanup runs
// after its object dies (counted by collect(), which needs no --expose-gc),
// and the binary that loaded is reported.
const CHECK = `
const assert = require('node:assert/strict');
const path = require('node:path');
(async () => {
  const cjs = require('addcleanup');
  const esm = await import('addcleanup');
  assert.equal(esm.addCleanup, cjs.addCleanup);
  const { collect } = require('addcleanup/testing');
  let ran = 0;
  (() => { cjs.addCleanup({}, (n) => { ran += n; }, 1); })();
  assert.equal(await collect(), 1);
  assert.equal(ran, 1);
  const loaded = Object.keys(require.cache).filter((f) => f.endsWith('.node'));
  console.log(JSON.stringify({ ok: true, loaded: loaded.map((f) => path.relative(process.cwd(), f)) }));
})().catch((error) => { console.error(error); process.exit(1); });
`;

function installAndCheck(work, tarball, label, installArgs) {
  const project = path.join(work, label);
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: `tarball-${label}`, version: '1.0.0', private: true }));
  run(npm, ['install', '--no-audit', '--no-fund', ...installArgs, tarball], project);
  fs.writeFileSync(path.join(project, 'check.js'), CHECK);
  const out = run(process.execPath, ['check.js'], project).trim().split('\n').pop();
  const result = JSON.parse(out);
  assert.equal(result.ok, true);
  return { project, loaded: result.loaded };
}

/**
 * Packs the package as `npm pack` does for a release, in a copy of its sources
 * under `work` (sharing this checkout's node_modules), so that this checkout's
 * build/ and prebuilds/ are never rebuilt under the running tests. Returns the
 * tarball's path, npm's report and its sorted file list.
 */
function pack(work) {
  const src = path.join(work, 'src');
  fs.mkdirSync(src);
  for (const entry of SOURCES) {
    fs.cpSync(path.join(ROOT, entry), path.join(src, entry), { recursive: true });
  }
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(src, 'node_modules'), 'dir');

  // prepare (tsc) and prepack (tools/prebuild.js) run here.
  step('packing (tsc + tools/prebuild.js)');
  const out = path.join(work, 'out');
  fs.mkdirSync(out);
  // The build scripts print to stdout too: npm's JSON report is the last
  // top-level array (the only line that starts with "[").
  const report = run(npm, ['pack', '--json', '--pack-destination', out], src);
  const info = JSON.parse(report.slice(report.lastIndexOf('\n[') + 1))[0];
  return { tarball: path.join(out, info.filename), info, files: info.files.map((f) => f.path).sort() };
}

function main() {
  const { values } = commandLine({
    name: 'test-tarball',
    usage: 'usage: node tools/test-tarball.js [--keep]   (--keep leaves the temp folder)',
    options: { keep: { type: 'boolean', default: false } },
  });
  const started = Date.now();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'addcleanup-tarball-'));
  try {
    const { tarball, info, files } = pack(work);
    step(`${info.filename}: ${files.length} files, ${info.size} bytes packed, ${info.unpackedSize} unpacked`);

    // What users get: the prebuild, both entry points with their types,
    //    the sources to build from elsewhere; no tests, no local build.
    // One name, node-gyp-build's first choice for a Node-API build: no abi
    // tag, so any runtime version loads it. arm64 is there when its cross
    // compiler is installed (CI installs it; tools/prebuild.js); its copy in
    // the tarball is tested under qemu by test/reliability/runtimes.js.
    // (The prebuilds are made on an x64 Linux host; this test also runs under
    // an emulated arm64 Node there, which must find its own.)
    const prebuild = `prebuilds/${process.platform}-${process.arch}/node.napi.node`;
    const expected = ['prebuilds/linux-x64/node.napi.node'];
    for (const target of TARGETS.filter((t) => !(t.platform === 'linux' && t.arch === 'x64'))) {
      if (has(compilerOf(target))) expected.push(`prebuilds/${target.platform}-${target.arch}/node.napi.node`);
    }
    assert.ok(expected.includes(prebuild), `no prebuild for this platform (${prebuild}) among ${expected}`);
    assert.deepEqual(files.filter((f) => f.startsWith('prebuilds/')).sort(), expected.sort(), `prebuilds in the tarball:\n${files.join('\n')}`);
    for (const required of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'binding.gyp', 'dist/index.js', 'dist/index.mjs', 'dist/index.d.ts', 'dist/index.d.mts', 'dist/testing.js', 'dist/testing.mjs', 'dist/testing.d.ts', 'dist/check/index.js', 'native/addon.cc']) {
      assert.ok(files.includes(required), `${required} missing from the tarball`);
    }
    for (const file of files) {
      assert.ok(!/^(test|build|node_modules|bench|tools|examples)\//.test(file), `${file} should not be in the tarball`);
    }

    // Installed without scripts: nothing is compiled, the prebuild serves.
    step('installing with --ignore-scripts (the prebuild must serve)');
    const bare = installAndCheck(work, tarball, 'ignore-scripts', ['--ignore-scripts']);
    assert.equal(fs.existsSync(path.join(bare.project, 'node_modules', 'addcleanup', 'build')), false);
    assert.deepEqual(bare.loaded, [path.join('node_modules', 'addcleanup', prebuild)]);

    // Installed normally: node-gyp-build finds the prebuild and skips the compile.
    step('installing normally');
    const normal = installAndCheck(work, tarball, 'normal', []);
    assert.equal(normal.loaded.length, 1);

    step(`ok in ${((Date.now() - started) / 1000).toFixed(1)} s; prebuild ${prebuild}; loaded ${normal.loaded[0]} after a normal install`);
    console.log(JSON.stringify({ tarball: info.filename, size: info.size, unpackedSize: info.unpackedSize, files }));
  } finally {
    if (values.keep) step(`kept ${work}`);
    else fs.rmSync(work, { recursive: true, force: true });
  }
}

if (require.main === module) main();
module.exports = { pack };

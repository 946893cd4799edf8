#!/usr/bin/env node
'use strict';
// Tests the package as users get it: packs it with tools/pack.js (which
// compiles the TypeScript and builds the Node-API prebuilds, tools/prebuild.js,
// in temporary folders: this checkout's dist/ and build/, loaded by the
// running test suite, are never rebuilt under it), checks the tarball's file
// list and manifest, then installs the tarball into an empty project, requires
// and imports it by name there and checks that a cleanup runs after its
// object dies. (The installs under npm 12 and pnpm 10, without a prebuild and
// after a build from source: test/reliability/install.js.)
//
//   node tools/test-tarball.js [--keep]   (--keep leaves the temp folder)
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const { TARGETS, compilerOf, has, hostFolder, isBuildHost } = require('./prebuild');
const { pack, prebuildMember, UNPUBLISHED_FIELDS } = require('./pack');
const { commandLine } = require('./cli');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

// The installed package must load what it ships: no ADDCLEANUP_NATIVE_PATH or ADDCLEANUP_ENGINE
// of the calling test run. npm.cmd (Windows) runs only through a shell.
function run(cmd, args, cwd, extraEnv = {}) {
  const env = { ...process.env, ...extraEnv };
  delete env.ADDCLEANUP_NATIVE_PATH;
  delete env.ADDCLEANUP_ENGINE;
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

function installAndCheck(work, tarball, label) {
  const project = path.join(work, label);
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: `tarball-${label}`, version: '1.0.0', private: true }));
  run(npm, ['install', '--no-audit', '--no-fund', tarball], project);
  fs.writeFileSync(path.join(project, 'check.js'), CHECK);
  const out = run(process.execPath, ['check.js'], project).trim().split('\n').pop();
  const result = JSON.parse(out);
  assert.equal(result.ok, true);
  return { project, loaded: result.loaded };
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
    step('packing (tools/pack.js: tsc + tools/prebuild.js)');
    const { tarball, info, files } = pack({ out: work });
    step(`${info.filename}: ${files.length} files, ${info.size} bytes packed, ${info.unpackedSize} unpacked`);

    // What users get: the prebuild, both entry points with their types, the
    // sources to build from elsewhere; no tests, no local build.
    // One name per target, node-gyp-build's first choice for a Node-API
    // build: no abi tag, so any runtime version loads it; on Linux a libc
    // tag. arm64 and win32 are there when their cross compilers are
    // installed (CI installs them; tools/prebuild.js); their copies in the
    // tarball are tested under qemu and Wine by test/reliability/runtimes.js.
    // (The prebuilds are made on an x64 Linux host; this test also runs under
    // an emulated arm64 Node there, which must find its own.)
    // Elsewhere (a Mac, Windows, a real arm64 or Alpine machine) pack.js
    // builds this machine's own prebuild only.
    const memberOf = (t) => prebuildMember(`${t.platform}-${t.arch}`).member;
    const prebuild = prebuildMember(hostFolder()).member;
    const expected = isBuildHost()
      ? TARGETS.filter((t) => (t.platform === 'linux' && t.arch === 'x64') || has(compilerOf(t))).map(memberOf)
      : [prebuild];
    assert.ok(expected.includes(prebuild), `no prebuild for this platform (${prebuild}) among ${expected}`);
    assert.deepEqual(files.filter((f) => f.startsWith('prebuilds/')).sort(), expected.sort(), `prebuilds in the tarball:\n${files.join('\n')}`);
    for (const required of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'native/binding.gyp', 'bin/addcleanup.js', 'testing/package.json', 'dist/index.js', 'dist/index.mjs', 'dist/index.d.ts', 'dist/index.d.mts', 'dist/testing.js', 'dist/testing.mjs', 'dist/testing.d.ts', 'dist/check/index.js', 'native/addon.cc']) {
      assert.ok(files.includes(required), `${required} missing from the tarball`);
    }
    for (const file of files) {
      assert.ok(!/^(test|build|node_modules|bench|tools|examples)\//.test(file), `${file} should not be in the tarball`);
    }
    // Nothing that a package manager runs, or asks to approve, at install:
    // no lifecycle script, no binding.gyp at the root (an implicit node-gyp rebuild).
    assert.ok(!files.includes('binding.gyp'), 'binding.gyp at the root of the tarball');
    const manifest = JSON.parse(execFileSync('tar', ['-xzf', tarball, '-O', 'package/package.json'], { encoding: 'utf8' }));
    assert.deepEqual(
      Object.keys(manifest).filter((k) => UNPUBLISHED_FIELDS.includes(k)),
      [],
      `the published manifest:\n${JSON.stringify(manifest, null, 2)}`,
    );

    // Installed: nothing is compiled, the prebuild serves.
    step('installing');
    const installed = installAndCheck(work, tarball, 'project');
    assert.equal(fs.existsSync(path.join(installed.project, 'node_modules', 'addcleanup', 'build')), false);
    assert.deepEqual(installed.loaded, [path.join('node_modules', 'addcleanup', prebuild)]);

    step(`ok in ${((Date.now() - started) / 1000).toFixed(1)} s; loaded ${installed.loaded[0]}`);
    console.log(JSON.stringify({ tarball: info.filename, size: info.size, unpackedSize: info.unpackedSize, files }));
  } finally {
    if (values.keep) step(`kept ${work}`);
    else fs.rmSync(work, { recursive: true, force: true });
  }
}

if (require.main === module) main();

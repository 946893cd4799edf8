#!/usr/bin/env node
'use strict';
// Proves which binary a packed tarball gives this machine: installs the
// tarball into an empty project (with the npm beside this Node), then, in a
// child process there with ADDCLEANUP_ENGINE=native (the addon or
// ERR_ADDCLEANUP_LOAD, never the JavaScript engine), requires the package by
// name and checks that
//   - its engine is 'native' and one cleanup runs after its object dies;
//   - the one .node file loaded is the package's own prebuild for this
//     platform, prebuilds/<platform>-<arch>/<file>, and no build/ exists;
//   - on musl, <file> carries the musl tag. node-gyp-build takes a folder
//     name of exactly two dash-separated parts (so "linux-x64-musl" is never
//     read), and the libc as a dot-separated tag of the file name; it says
//     musl where /etc/alpine-release exists (or LIBC=musl), then drops files
//     tagged for the other libc and prefers the file with the most tags. An
//     untagged glibc file would be taken on Alpine, and fail to load there.
// The release workflow (.github/workflows/ci.yml) runs it on each platform's
// runner, on the tarball it publishes.
//
//   node tools/verify-prebuild.js --tarball=FILE|DIR [--expect=prebuilds/linux-x64/node.napi.musl.node]
//     --tarball  the .tgz, or a folder holding exactly one
//     --expect   the loaded file must be this one (a path inside the package)
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const { createRequire } = require('node:module');
const os = require('node:os');
const path = require('node:path');
const { commandLine } = require('./cli');

const USAGE = [
  'usage: node tools/verify-prebuild.js --tarball=FILE|DIR [--expect=PATH]',
  '  --tarball  the packed .tgz, or a folder holding exactly one',
  '  --expect   the path inside the package of the .node file that must load',
].join('\n');

// Run in the project: what loaded, reported as JSON on the last line.
const PROBE = `
const path = require('node:path');
(async () => {
  const addcleanup = require('addcleanup');
  const { collect } = require('addcleanup/testing');
  let ran = 0;
  (() => { addcleanup.addCleanup({}, () => { ran += 1; }, undefined); })();
  const collected = await collect();
  const loaded = Object.keys(require.cache).filter((file) => file.endsWith('.node'));
  console.log(JSON.stringify({ engine: addcleanup.engine, ran, collected, loaded }));
})().catch((error) => { console.error(error); process.exit(1); });
`;

function findTarball(given) {
  const file = path.resolve(given);
  if (!fs.statSync(file).isDirectory()) return file;
  const found = fs.readdirSync(file).filter((name) => name.endsWith('.tgz'));
  assert.equal(found.length, 1, `${file} must hold exactly one .tgz, not ${found.length}: ${found.join(', ')}`);
  return path.join(file, found[0]);
}

// node-gyp-build's own rule (its node-gyp-build.js), so the check and the
// loader cannot disagree about which libc this is.
function libc() {
  if (process.env.LIBC) return process.env.LIBC;
  return process.platform === 'linux' && fs.existsSync('/etc/alpine-release') ? 'musl' : 'glibc';
}

// npm.cmd (Windows) runs only through a shell.
function run(command, args, options) {
  const shell = process.platform === 'win32' && command === 'npm';
  return execFileSync(shell ? 'npm.cmd' : command, args, { encoding: 'utf8', shell, ...options });
}

function install(tarball, project) {
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'verify-prebuild', private: true }));
  const env = { ...process.env };
  delete env.ADDCLEANUP_NATIVE_PATH;
  run('npm', ['install', '--no-audit', '--no-fund', tarball], { cwd: project, env, stdio: ['ignore', 'pipe', 'inherit'] });
  return fs.realpathSync(path.join(project, 'node_modules', 'addcleanup'));
}

function probe(project) {
  const env = { ...process.env, ADDCLEANUP_ENGINE: 'native' };
  delete env.ADDCLEANUP_NATIVE_PATH;
  const out = run(process.execPath, ['-e', PROBE], { cwd: project, env, stdio: ['ignore', 'pipe', 'inherit'] });
  return JSON.parse(out.trim().split('\n').pop());
}

function check(pkg, result, expect) {
  assert.equal(result.engine, 'native', `engine is ${result.engine}, not native`);
  assert.equal(result.ran, 1, `the cleanup ran ${result.ran} times (collect() said ${result.collected})`);
  assert.equal(result.loaded.length, 1, `loaded ${result.loaded.length} .node files: ${result.loaded.join(', ')}`);
  const loaded = path.relative(pkg, result.loaded[0]).split(path.sep);
  assert.equal(fs.existsSync(path.join(pkg, 'build')), false, 'the installed package has a build/ folder');
  if (expect !== undefined) {
    assert.equal(loaded.join('/'), expect, `loaded ${loaded.join('/')}, not ${expect}`);
    return loaded;
  }
  const folder = `${process.platform}-${process.arch}`;
  assert.deepEqual(loaded.slice(0, 2), ['prebuilds', folder], `loaded ${loaded.join('/')}, not a file of prebuilds/${folder}/`);
  const { parseTags } = createRequire(path.join(pkg, 'package.json'))('node-gyp-build/node-gyp-build.js');
  const tags = parseTags(loaded[2]);
  assert.ok(tags.napi, `${loaded[2]} has no napi tag`);
  if (libc() === 'musl') assert.equal(tags.libc, 'musl', `this is musl, and ${loaded[2]} is not tagged musl`);
  return loaded;
}

function main() {
  const { values, fail } = commandLine({
    name: 'verify-prebuild',
    usage: USAGE,
    options: { tarball: { type: 'string' }, expect: { type: 'string' } },
  });
  if (!values.tarball) fail('--tarball is required');
  const tarball = findTarball(values.tarball);
  const project = fs.mkdtempSync(path.join(os.tmpdir(), 'addcleanup-verify-'));
  try {
    const pkg = install(tarball, project);
    const loaded = check(pkg, probe(project), values.expect);
    const where = `${process.platform}-${process.arch}${libc() === 'musl' ? ' (musl)' : ''}`;
    console.log(`verify-prebuild: ok: ${path.basename(tarball)} on ${where}, Node ${process.versions.node}: engine native, loaded ${loaded.join('/')}`);
  } finally {
    fs.rmSync(project, { recursive: true, force: true });
  }
}

if (require.main === module) {
  try {
    main();
  } catch (error) {
    console.error(`verify-prebuild: ${error.message}`);
    process.exit(1);
  }
}

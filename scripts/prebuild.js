#!/usr/bin/env node
'use strict';
// Builds the Node-API prebuilds that ship in the npm tarball, named as
// node-gyp-build looks for them (one name, the one it ranks first for a
// Node-API build):
//
//   prebuilds/linux-x64/node.napi.node     g++ (this machine)
//   prebuilds/linux-arm64/node.napi.node   aarch64-linux-gnu-g++ (Debian's g++-aarch64-linux-gnu)
//
// Both are glibc builds. Each is compiled in a copy of binding.gyp and native/
// in a temporary folder, so the checkout's build/ (which the tests load) is
// never touched, and stripped with the strip of its own toolchain.
//
//   node scripts/prebuild.js                 every target whose compiler is installed
//   node scripts/prebuild.js --arch=arm64    only those (comma-separated)
//   node scripts/prebuild.js --all           every target; a missing compiler is an error
//
// `npm pack` runs it (prepack). Under `npm publish` it behaves as with --all:
// a published tarball never lacks a platform silently. The arm64 binary is
// tested under qemu by `npm run test:arm64` (scripts/arm64.js), which CI runs.
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');

const ROOT = path.join(__dirname, '..');
const NODE_GYP = path.join(ROOT, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');

/** The shipped targets, with the toolchain that builds each from an x64 Linux host. */
const TARGETS = [
  { platform: 'linux', arch: 'x64', prefix: '', apt: 'g++' },
  { platform: 'linux', arch: 'arm64', prefix: 'aarch64-linux-gnu-', apt: 'g++-aarch64-linux-gnu' },
];

function has(command) {
  return spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0;
}

// Headers: npm's nodedir setting when npm runs us, else this Node's own prefix
// when it ships them (no download); Node-API's headers are the same for every
// architecture.
function nodedir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  return fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined;
}

/**
 * Builds the node-gyp project made of `sources` (paths relative to `from`) for
 * `target`, in a temporary copy, and copies build/Release/<product> to `out`,
 * stripped with the target's own strip. Also used by scripts/runtimes.js for
 * the arm64 copy of the test addon.
 */
function buildFor(target, { from, sources, product, out }) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `addcleanup-build-${target.arch}-`));
  try {
    for (const source of sources) fs.cpSync(path.join(from, source), path.join(work, source), { recursive: true });
    const tools = target.prefix
      ? {
          CC: `${target.prefix}gcc`,
          CXX: `${target.prefix}g++`,
          LINK: `${target.prefix}g++`,
          AR: `${target.prefix}ar`,
        }
      : {};
    const dir = nodedir();
    const args = [NODE_GYP, 'rebuild', `--arch=${target.arch}`, ...(dir ? [`--nodedir=${dir}`] : [])];
    // NODE_PATH: binding.gyp's require('node-addon-api') resolves from here.
    const env = { ...process.env, ...tools, NODE_PATH: path.join(ROOT, 'node_modules') };
    const run = spawnSync(process.execPath, args, { cwd: work, env, encoding: 'utf8' });
    if (run.status !== 0) {
      throw new Error(`node-gyp failed for ${target.platform}-${target.arch}:\n${run.stdout}\n${run.stderr}`);
    }
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.copyFileSync(path.join(work, 'build', 'Release', product), out);
    execFileSync(`${target.prefix}strip`, ['--strip-unneeded', out]);
    const machine = elfMachine(out);
    if (machine !== target.arch) throw new Error(`${out} was built for ${machine}, not ${target.arch}`);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

// The architecture an ELF file was built for (its e_machine field).
function elfMachine(file) {
  const header = Buffer.alloc(20);
  const fd = fs.openSync(file, 'r');
  try {
    fs.readSync(fd, header, 0, 20, 0);
  } finally {
    fs.closeSync(fd);
  }
  const machines = { 0x3e: 'x64', 0xb7: 'arm64' };
  return machines[header.readUInt16LE(18)] ?? `e_machine 0x${header.readUInt16LE(18).toString(16)}`;
}

function build(target) {
  const out = path.join(ROOT, 'prebuilds', `${target.platform}-${target.arch}`);
  fs.rmSync(out, { recursive: true, force: true });
  const file = path.join(out, 'node.napi.node');
  buildFor(target, { from: ROOT, sources: ['binding.gyp', 'native'], product: 'addcleanup.node', out: file });
  console.log(`prebuild: ${path.relative(ROOT, file)} (${fs.statSync(file).size} bytes, ${target.platform}-${target.arch})`);
}

function main() {
  const { values } = parseArgs({ options: { arch: { type: 'string' }, all: { type: 'boolean' } } });
  const all = values.all || process.env.npm_command === 'publish';
  const wanted = values.arch ? values.arch.split(',') : TARGETS.map((t) => t.arch);
  for (const arch of wanted) {
    if (!TARGETS.some((t) => t.arch === arch)) throw new Error(`prebuild: no target for arch "${arch}"`);
  }
  // The toolchains are named for an x64 Linux host (whichever Node runs this
  // script: an emulated arm64 one runs it too); each binary's ELF header is
  // checked against its target after the build.
  if (process.platform !== 'linux') throw new Error(`prebuild: the prebuilds are made on Linux (this is ${process.platform})`);
  for (const target of TARGETS.filter((t) => wanted.includes(t.arch))) {
    if (!has(`${target.prefix}g++`)) {
      const message = `${target.prefix}g++ is not installed (Debian: apt-get install ${target.apt})`;
      if (all || values.arch) throw new Error(`prebuild: cannot build ${target.platform}-${target.arch}: ${message}`);
      console.log(`prebuild: skipped ${target.platform}-${target.arch}: ${message}`);
      continue;
    }
    build(target);
  }
}

module.exports = { TARGETS, buildFor, has };

if (require.main === module) {
  try {
    main();
  } catch (error) {
    console.error(error.message);
    process.exit(1);
  }
}

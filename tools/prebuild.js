#!/usr/bin/env node
'use strict';
// Builds the Node-API prebuilds that ship in the npm tarball, named as
// node-gyp-build looks for them (one name, the one it ranks first for a
// Node-API build):
//
//   prebuilds/linux-x64/node.napi.node     g++ (this machine)
//   prebuilds/linux-arm64/node.napi.node   aarch64-linux-gnu-g++ (Debian's g++-aarch64-linux-gnu)
//   prebuilds/win32-x64/node.napi.node     x86_64-w64-mingw32-g++-posix (Debian's mingw-w64)
//
// The Linux ones are glibc builds made by node-gyp in a copy of binding.gyp
// and native/ in a temporary folder, so the checkout's build/ (which the tests
// load) is never touched, and stripped with their own toolchain's strip. The
// Windows one is compiled by buildMingw() from the same binding.gyp.
//
//   node tools/prebuild.js                        every target whose compiler is installed
//   node tools/prebuild.js --target=linux-arm64   only those (comma-separated)
//   node tools/prebuild.js --all                  every target; a missing compiler is an error
//   node tools/prebuild.js --native --out=DIR     this machine's own platform and architecture,
//                                                 with node-gyp and the local toolchain (g++, clang
//                                                 or MSVC), stripped, written to
//                                                 DIR/<platform>-<arch>[-musl]/addcleanup.node (the
//                                                 layout tools/pack.js reads); what the release
//                                                 workflow runs on each runner (.github/workflows/ci.yml)
//
// `npm pack` runs it (prepack). Under `npm publish` it behaves as with --all:
// a published tarball never lacks a platform silently. `npm run test:runtimes`
// (test/reliability/runtimes.js), which CI runs, tests the arm64 binary under qemu and
// the win32 one under Wine, both taken from a packed tarball.
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { commandLine } = require('./cli');

const ROOT = path.join(__dirname, '..');
const NODE_GYP = path.join(ROOT, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');

/** The shipped targets, with the toolchain that builds each from an x64 Linux host. */
const TARGETS = [
  { platform: 'linux', arch: 'x64', prefix: '', apt: 'g++' },
  { platform: 'linux', arch: 'arm64', prefix: 'aarch64-linux-gnu-', apt: 'g++-aarch64-linux-gnu' },
  // mingw-w64's -posix g++ (the -win32 one has no std::mutex, which
  // node-addon-api needs); linked against an import library for node.exe.
  {
    platform: 'win32',
    arch: 'x64',
    prefix: 'x86_64-w64-mingw32-',
    apt: 'mingw-w64',
    gcc: 'x86_64-w64-mingw32-gcc-posix',
    gxx: 'x86_64-w64-mingw32-g++-posix',
  },
];
// Node-API's def files, for the Windows import library (npm registry).
const NODE_API_HEADERS = { pkg: 'node-api-headers', version: '1.9.0' };

function compilerOf(target) {
  return target.gxx ?? `${target.prefix}g++`;
}

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
 * `target`, in a temporary copy, and copies the built .node (named after the
 * binding.gyp's target) to `out`,
 * stripped with the target's own strip. Also used by test/reliability/runtimes.js for
 * the arm64 copy of the test addon.
 */
function buildFor(target, { from, sources, out }) {
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
    fs.copyFileSync(path.join(work, 'build', 'Release', `${gypTarget(from).target_name}.node`), out);
    strip(out, target);
    checkMachine(out, target);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

// The symbols a loader never needs go; MSVC already keeps them apart, in
// the .pdb beside the DLL, so a Windows build is left as it is.
function strip(file, target) {
  if (target.platform === 'linux') execFileSync(`${target.prefix}strip`, ['--strip-unneeded', file]);
  else if (target.platform === 'darwin') execFileSync('strip', ['-x', file]);
}

// Throws unless `file` was built for the target's architecture: an ELF
// file's e_machine, a PE file's Machine field (after the "PE\0\0"
// signature e_lfanew points at), or a 64-bit Mach-O file's cputype.
function checkMachine(file, target) {
  const machine = machineOf(file);
  if (machine !== target.arch) throw new Error(`${file} was built for ${machine}, not ${target.arch}`);
}

function machineOf(file) {
  const bytes = fs.readFileSync(file);
  if (bytes.toString('latin1', 0, 2) === 'MZ') {
    const pe = bytes.readUInt32LE(0x3c);
    const machines = { 0x8664: 'x64', 0xaa64: 'arm64' };
    return machines[bytes.readUInt16LE(pe + 4)] ?? `PE machine 0x${bytes.readUInt16LE(pe + 4).toString(16)}`;
  }
  if (bytes.readUInt32LE(0) === 0xfeedfacf) {
    const cpus = { 0x01000007: 'x64', 0x0100000c: 'arm64' };
    return cpus[bytes.readUInt32LE(4)] ?? `Mach-O cputype 0x${bytes.readUInt32LE(4).toString(16)}`;
  }
  const machines = { 0x3e: 'x64', 0xb7: 'arm64' };
  return machines[bytes.readUInt16LE(18)] ?? `e_machine 0x${bytes.readUInt16LE(18).toString(16)}`;
}

// The first target of a binding.gyp (JSON once its # comments are gone).
function gypTarget(dir) {
  const text = fs.readFileSync(path.join(dir, 'binding.gyp'), 'utf8');
  return JSON.parse(text.replace(/^\s*#.*$/gm, '')).targets[0];
}

/**
 * node-gyp cannot target Windows from Linux: this compiles a binding.gyp's
 * sources with mingw-w64 directly, with its defines and flags (and its
 * Release configuration's), against an import library for node.exe made from
 * Node-API's def file. Statically linked: the result imports only node.exe,
 * KERNEL32 and msvcrt.
 */
function buildMingw(target, { from, out }) {
  const gyp = gypTarget(from);
  const release = gyp.configurations?.Release ?? {};
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `addcleanup-build-${target.platform}-`));
  try {
    const headers = nodeApiHeaders();
    execFileSync(`${target.prefix}dlltool`, ['-d', path.join(headers, 'def', 'node_api.def'), '-l', path.join(work, 'libnode.a'), '-D', 'node.exe']);
    const includes = (gyp.include_dirs ?? []).map((dir) =>
      dir.startsWith('<!') ? require('node-addon-api').include_dir : path.resolve(from, dir),
    );
    const defines = [...(gyp.defines ?? []), ...(release.defines ?? []), 'BUILDING_NODE_EXTENSION'];
    const objects = [];
    for (const source of gyp.sources) {
      const isC = source.endsWith('.c');
      const cxx = isC ? target.gcc : target.gxx;
      const flags = isC ? gyp.cflags ?? [] : [...(gyp.cflags_cc ?? []), ...(release.cflags_cc ?? [])];
      const object = path.join(work, `${path.basename(source)}.o`);
      const args = [...flags, ...defines.map((d) => `-D${d}`), ...[...includes, path.join(headers, 'include')].map((i) => `-I${i}`)];
      execFileSync(cxx, [...args, '-c', path.join(from, source), '-o', object]);
      objects.push(object);
    }
    fs.mkdirSync(path.dirname(out), { recursive: true });
    execFileSync(compilerOf(target), ['-shared', '-o', out, ...objects, `-L${work}`, '-lnode', '-static-libgcc', '-static-libstdc++', '-static', '-Wl,--no-undefined', '-s']);
    checkMachine(out, target);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

// node-api-headers from the npm registry (its def files and headers), cached
// like the runtimes' binaries.
function nodeApiHeaders() {
  const { cacheRoot, ensurePackage } = require('./npm-binaries');
  const { pkg, version } = NODE_API_HEADERS;
  const dir = path.join(cacheRoot(), pkg);
  const isComplete = (prefix) => fs.existsSync(path.join(prefix, 'def', 'node_api.def'));
  const { prefix } = ensurePackage({ pkg, version, dir, members: ['package/def', 'package/include'], isComplete, check() {} });
  return prefix;
}

function build(target) {
  const out = path.join(ROOT, 'prebuilds', `${target.platform}-${target.arch}`);
  fs.rmSync(out, { recursive: true, force: true });
  const file = path.join(out, 'node.napi.node');
  if (target.platform === 'win32') buildMingw(target, { from: ROOT, out: file });
  else buildFor(target, { from: ROOT, sources: ['binding.gyp', 'native'], out: file });
  console.log(`prebuild: ${path.relative(ROOT, file)} (${fs.statSync(file).size} bytes, ${target.platform}-${target.arch})`);
}

const USAGE = [
  'usage: node tools/prebuild.js [--target=linux-x64,linux-arm64,win32-x64] [--all]',
  '       node tools/prebuild.js --native --out=DIR',
  '  --target  only these targets (a missing compiler is then an error)',
  '  --all     every target; a missing compiler is an error (the default under npm publish)',
  "  --native  this machine's own platform and architecture, with its own toolchain, into",
  '            DIR/<platform>-<arch>[-musl]/addcleanup.node',
].join('\n');

// On a runner of the release workflow: the platform this Node runs on, built
// by node-gyp with whatever toolchain it finds there, in the folder
// tools/pack.js takes it from. A Node without a glibc version is a musl one.
function buildNative(dir) {
  const target = { platform: process.platform, arch: process.arch, prefix: '' };
  const musl = target.platform === 'linux' && !process.report.getReport().header.glibcVersionRuntime;
  const out = path.join(dir, `${target.platform}-${target.arch}${musl ? '-musl' : ''}`, 'addcleanup.node');
  buildFor(target, { from: ROOT, sources: ['binding.gyp', 'native'], out });
  console.log(`prebuild: ${out} (${fs.statSync(out).size} bytes, built here)`);
}

function main() {
  const { values, fail } = commandLine({
    name: 'prebuild',
    usage: USAGE,
    options: { target: { type: 'string' }, all: { type: 'boolean' }, native: { type: 'boolean' }, out: { type: 'string' } },
  });
  if (values.native) {
    if (values.target || values.all || !values.out) fail('--native needs --out=DIR, and no --target or --all');
    buildNative(path.resolve(values.out));
    return;
  }
  if (values.out) fail('--out goes with --native');
  const all = values.all || process.env.npm_command === 'publish';
  const name = (t) => `${t.platform}-${t.arch}`;
  const wanted = values.target ? values.target.split(',') : TARGETS.map(name);
  for (const w of wanted) {
    if (!TARGETS.some((t) => name(t) === w)) throw new Error(`prebuild: no target "${w}" (${TARGETS.map(name).join(', ')})`);
  }
  // The toolchains are named for an x64 Linux host (whichever Node runs this
  // script: an emulated arm64 one runs it too); each binary's header is
  // checked against its target after the build.
  if (process.platform !== 'linux') throw new Error(`prebuild: the prebuilds are made on Linux (this is ${process.platform})`);
  for (const target of TARGETS.filter((t) => wanted.includes(name(t)))) {
    if (!has(compilerOf(target))) {
      const message = `${compilerOf(target)} is not installed (Debian: apt-get install ${target.apt})`;
      if (all || values.target) throw new Error(`prebuild: cannot build ${target.platform}-${target.arch}: ${message}`);
      console.log(`prebuild: skipped ${target.platform}-${target.arch}: ${message}`);
      continue;
    }
    build(target);
  }
}

module.exports = { TARGETS, buildFor, buildMingw, compilerOf, has };

if (require.main === module) {
  try {
    main();
  } catch (error) {
    console.error(error.message);
    process.exit(1);
  }
}

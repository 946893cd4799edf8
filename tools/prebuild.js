#!/usr/bin/env node
'use strict';
// Builds the Node-API prebuilds made on this machine, one folder per target,
// in the layout tools/pack.js takes with --prebuilds (the one CI's runners
// upload too):
//
//   <out>/linux-x64/addcleanup.node     g++ (this machine)
//   <out>/linux-arm64/addcleanup.node   aarch64-linux-gnu-g++ (Debian's g++-aarch64-linux-gnu)
//   <out>/win32-x64/addcleanup.node     x86_64-w64-mingw32-g++-posix (Debian's mingw-w64)
//
// tools/pack.js renames them as node-gyp-build looks for them in the tarball.
// The Linux ones are glibc builds made by node-gyp in a copy of binding.gyp
// and native/ in a temporary folder, so the checkout's build/ (which the tests
// load) is never touched, and stripped with their own toolchain's strip. The
// Windows one is compiled by buildMingw() from the same binding.gyp.
//
//   node tools/prebuild.js                        every target whose compiler is installed
//   node tools/prebuild.js --target=linux-arm64   only those (comma-separated)
//   node tools/prebuild.js --all                  every target; a missing compiler is an error
//   node tools/prebuild.js --out=DIR              into DIR (default: prebuilds/)
//   node tools/prebuild.js --native --out=DIR     this machine's own platform and architecture,
//                                                 with node-gyp and the local toolchain (g++, clang
//                                                 or MSVC), stripped, written to
//                                                 DIR/<platform>-<arch>[-musl]/addcleanup.node (the
//                                                 layout tools/pack.js reads); what the release
//                                                 workflow runs on each runner (.github/workflows/ci.yml)
//
// `node tools/pack.js` without --prebuilds runs it into a temporary folder.
// `npm run test:runtimes` (test/reliability/runtimes.js), which CI runs, tests
// the arm64 binary under qemu and the win32 one under Wine, both taken from a
// packed tarball.
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { commandLine } = require('./cli');
const { compile, nodedirArgs } = require('../bin/addcleanup');

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

/**
 * Builds the node-gyp project made of `sources` (paths relative to `from`) for
 * `target`, in a temporary copy (bin/addcleanup.js' compile(), which users'
 * `addcleanup build` runs too), and copies the built .node to `out`,
 * stripped with the target's own strip. Also used by test/reliability/runtimes.js for
 * the arm64 copy of the test addon.
 */
function buildFor(target, { from, sources, out }) {
  const tools = target.prefix
    ? {
        CC: `${target.prefix}gcc`,
        CXX: `${target.prefix}g++`,
        LINK: `${target.prefix}g++`,
        AR: `${target.prefix}ar`,
      }
    : {};
  const { file, remove } = compile({
    files: sources.map((source) => [path.join(from, source), source]),
    nodeGyp: [process.execPath, NODE_GYP],
    args: [`--arch=${target.arch}`, ...nodedirArgs()],
    env: tools,
    // binding.gyp's require('node-addon-api') resolves from here.
    modules: path.join(ROOT, 'node_modules'),
  });
  try {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.copyFileSync(file, out);
    strip(out, target);
    checkMachine(out, target);
  } catch (error) {
    throw new Error(`build for ${target.platform}-${target.arch} failed: ${error.message}`);
  } finally {
    remove();
  }
}

// The symbols a loader never needs go; MSVC already keeps them apart, in
// the .pdb beside the DLL, so a Windows build is left as it is.
function strip(file, target) {
  if (target.platform === 'linux') execFileSync(`${target.prefix}strip`, ['--strip-unneeded', file]);
  else if (target.platform === 'darwin') execFileSync('strip', ['-x', file]);
}

// Throws unless `file` was built for the target's architecture.
function checkMachine(file, target) {
  const { arch } = describeBinary(file);
  if (arch !== target.arch) throw new Error(`${file} was built for ${arch}, not ${target.arch}`);
}

/**
 * What a compiled addon is, from its header: { format, arch } with format
 * 'ELF', 'PE' or 'Mach-O' (undefined for anything else). The architecture
 * is an ELF file's e_machine, a PE file's Machine field (after the "PE\0\0"
 * signature e_lfanew points at), or a Mach-O file's cputype (thin files).
 */
function describeBinary(file) {
  const bytes = fs.readFileSync(file);
  if (bytes.length < 64) return { format: undefined, arch: undefined };
  if (bytes.toString('latin1', 0, 2) === 'MZ') {
    const pe = bytes.readUInt32LE(0x3c);
    const machines = { 0x8664: 'x64', 0xaa64: 'arm64' };
    const machine = bytes.readUInt16LE(pe + 4);
    return { format: 'PE', arch: machines[machine] ?? `PE machine 0x${machine.toString(16)}` };
  }
  if (bytes.toString('latin1', 0, 4) === '\x7fELF') {
    const machines = { 0x3e: 'x64', 0xb7: 'arm64' };
    const machine = bytes.readUInt16LE(18);
    return { format: 'ELF', arch: machines[machine] ?? `e_machine 0x${machine.toString(16)}` };
  }
  if (bytes.readUInt32LE(0) === 0xfeedfacf) {
    const cpus = { 0x01000007: 'x64', 0x0100000c: 'arm64' };
    const cpu = bytes.readUInt32LE(4);
    return { format: 'Mach-O', arch: cpus[cpu] ?? `cputype 0x${cpu.toString(16)}` };
  }
  return { format: undefined, arch: undefined };
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

function build(target, outDir) {
  const out = path.join(outDir, `${target.platform}-${target.arch}`);
  fs.rmSync(out, { recursive: true, force: true });
  const file = path.join(out, 'addcleanup.node');
  if (target.platform === 'win32') buildMingw(target, { from: ROOT, out: file });
  else buildFor(target, { from: ROOT, sources: ['binding.gyp', 'native'], out: file });
  console.log(`prebuild: ${file} (${fs.statSync(file).size} bytes, ${target.platform}-${target.arch})`);
}

const name = (t) => `${t.platform}-${t.arch}`;

/**
 * Builds `targets` (names, default all) into `out`; without `all`, a target
 * whose compiler is not installed is skipped with a message. Returns the
 * names built.
 */
function buildPrebuilds({ out, targets = TARGETS.map(name), all = false }) {
  for (const w of targets) {
    if (!TARGETS.some((t) => name(t) === w)) throw new Error(`prebuild: no target "${w}" (${TARGETS.map(name).join(', ')})`);
  }
  // The toolchains are named for an x64 Linux host (whichever Node runs this
  // script: an emulated arm64 one runs it too); each binary's header is
  // checked against its target after the build.
  if (process.platform !== 'linux') throw new Error(`prebuild: the prebuilds are made on Linux (this is ${process.platform})`);
  const built = [];
  for (const target of TARGETS.filter((t) => targets.includes(name(t)))) {
    if (!has(compilerOf(target))) {
      const message = `${compilerOf(target)} is not installed (Debian: apt-get install ${target.apt})`;
      if (all) throw new Error(`prebuild: cannot build ${name(target)}: ${message}`);
      console.log(`prebuild: skipped ${name(target)}: ${message}`);
      continue;
    }
    build(target, out);
    built.push(name(target));
  }
  return built;
}

const USAGE = [
  'usage: node tools/prebuild.js [--target=linux-x64,linux-arm64,win32-x64] [--all] [--out=DIR]',
  '  --target  only these targets (a missing compiler is then an error)',
  '  --all     every target; a missing compiler is an error',
  '  --out     the folder to write <platform>-<arch>/addcleanup.node into (default: prebuilds/)',
  "  --native  this machine's own platform and architecture, with its own toolchain, into",
  '            OUT/<platform>-<arch>[-musl]/addcleanup.node',
].join('\n');

// This machine's prebuild folder: <platform>-<arch>, with -musl on a musl
// Linux (a Node without a glibc version).
function hostFolder() {
  const musl = process.platform === 'linux' && !process.report.getReport().header.glibcVersionRuntime;
  return `${process.platform}-${process.arch}${musl ? '-musl' : ''}`;
}

// The cross-building host of TARGETS: glibc Linux whose g++ makes x64 code
// (the toolchains are named for it). An arm64 Node emulated by qemu on such a
// host is one too; a real arm64 runner, a Mac or Alpine is not.
function isBuildHost() {
  if (hostFolder() !== `linux-${process.arch}`) return false;
  const gcc = spawnSync('g++', ['-dumpmachine'], { encoding: 'utf8' });
  return gcc.status === 0 && gcc.stdout.startsWith('x86_64-');
}

// On a runner of the release workflow: the platform this Node runs on, built
// by node-gyp with whatever toolchain it finds there, in the folder
// tools/pack.js takes it from.
function buildNative(dir) {
  const target = { platform: process.platform, arch: process.arch, prefix: '' };
  const out = path.join(dir, hostFolder(), 'addcleanup.node');
  buildFor(target, { from: ROOT, sources: ['binding.gyp', 'native'], out });
  console.log(`prebuild: ${out} (${fs.statSync(out).size} bytes, built here)`);
}

function main() {
  const { values } = commandLine({
    name: 'prebuild',
    usage: USAGE,
    options: { target: { type: 'string' }, all: { type: 'boolean' }, out: { type: 'string' }, native: { type: 'boolean' } },
  });
  const out = path.resolve(values.out ?? path.join(ROOT, 'prebuilds'));
  if (values.native) {
    if (values.target !== undefined || values.all) throw new Error('prebuild: --native takes no --target or --all');
    buildNative(out);
    return;
  }
  buildPrebuilds({ out, targets: values.target?.split(','), all: values.all || values.target !== undefined });
}

module.exports = { TARGETS, buildFor, buildMingw, buildNative, buildPrebuilds, compilerOf, describeBinary, has, hostFolder, isBuildHost };

if (require.main === module) {
  try {
    main();
  } catch (error) {
    console.error(error.message);
    process.exit(1);
  }
}

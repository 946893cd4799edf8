#!/usr/bin/env node
'use strict';
// Assembles the one tarball to publish:
//
//   node tools/pack.js [--prebuilds DIR] [--out DIR]
//
// It holds dist/ (compiled here from lib/), the sources to build from
// (native/, with binding.gyp moved into it), bin/ (`addcleanup build`),
// testing/ (the `addcleanup/testing` entry for TypeScript's node10
// resolution), prebuilds/, and the published manifest: the repository's
// package.json without its scripts, devDependencies, "private", "gypfile"
// and "allowScripts" (the development install's approval of a
// devDependency's install script). So the package runs nothing at install,
// and no package manager warns about it: npm 11 and 12 flag a dependency's
// preinstall, install, postinstall and prepare scripts and a root
// binding.gyp (as an implicit `node-gyp rebuild`), pnpm 10 its install
// scripts and a root binding.gyp
// (tried with each: test/reliability/install.js checks the result).
//
// --prebuilds DIR: the binaries to ship, one folder per target, each holding
// one file, addcleanup.node:
//
//   DIR/linux-x64/addcleanup.node        glibc (a Linux folder without a tag is glibc)
//   DIR/linux-x64-musl/addcleanup.node   musl (Alpine)
//   DIR/darwin-arm64/addcleanup.node ...
//
// named <platform>-<arch>[-<libc>], with node's process.platform and
// process.arch values and libc musl or glibc (Linux only). Each is checked
// (its header: format and architecture; on Linux, the C library it links) and
// renamed as node-gyp-build picks it: prebuilds/<platform>-<arch>/ (a folder
// name with a third part is never picked) and node.napi.node, with the libc
// tag on Linux: node.napi.glibc.node, node.napi.musl.node (node-gyp-build
// skips a file whose tag is not this system's C library). Without
// --prebuilds, the ones tools/prebuild.js builds on this machine: on the
// x64 Linux build host linux-x64, linux-arm64 and win32-x64 (when their
// compilers are installed), elsewhere this machine's own (prebuild.js
// --native), so that the tarball test runs on every CI runner.
//
// --out DIR: where addcleanup-<version>.tgz is written (default: the current
// folder). The last line printed is npm's report of the tarball, as JSON.
//
// `npm pack` and `npm publish` at the root are refused (the prepack script):
// they would ship the development manifest, whose prepare script builds the
// addon, and binding.gyp at the root.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { commandLine } = require('./cli');
const { buildNative, buildPrebuilds, describeBinary, isBuildHost } = require('./prebuild');

const ROOT = path.join(__dirname, '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

// The values of process.platform and process.arch (node-gyp-build compares
// folder names with them), and the format of a binary for each platform.
const FORMATS = { darwin: 'Mach-O', linux: 'ELF', win32: 'PE', freebsd: 'ELF', openbsd: 'ELF', android: 'ELF', sunos: 'ELF' };
const ARCHES = ['arm', 'arm64', 'ia32', 'loong64', 'mips', 'mipsel', 'ppc', 'ppc64', 'riscv64', 's390', 's390x', 'x64'];
const LIBCS = ['glibc', 'musl'];
const FILE = 'addcleanup.node';

/**
 * The tarball member for a prebuild folder name, or an Error saying why
 * node-gyp-build would never pick it. Linux binaries carry their libc tag.
 */
function prebuildMember(folder) {
  const parts = folder.split('-');
  const [platform, arch, libc] = parts;
  if (parts.length < 2 || parts.length > 3) return new Error(`"${folder}" is not <platform>-<arch>[-<libc>]`);
  if (!(platform in FORMATS)) return new Error(`"${folder}": unknown platform "${platform}" (one of ${Object.keys(FORMATS).join(', ')})`);
  if (!ARCHES.includes(arch)) return new Error(`"${folder}": unknown architecture "${arch}" (one of ${ARCHES.join(', ')})`);
  if (libc !== undefined && !LIBCS.includes(libc)) return new Error(`"${folder}": unknown libc tag "${libc}" (musl or glibc)`);
  if (libc !== undefined && platform !== 'linux') return new Error(`"${folder}": a libc tag is for Linux only`);
  const tag = platform === 'linux' ? `.${libc ?? 'glibc'}` : '';
  return { platform, arch, libc: platform === 'linux' ? libc ?? 'glibc' : undefined, member: `prebuilds/${platform}-${arch}/node.napi${tag}.node` };
}

// The C library an ELF addon links (its DT_NEEDED names, in .dynstr).
function linkedLibc(file) {
  const bytes = fs.readFileSync(file);
  if (bytes.includes('libc.musl-')) return 'musl';
  if (bytes.includes('libc.so.6')) return 'glibc';
  return undefined;
}

/**
 * Checks a --prebuilds folder and returns [{ source, member, platform, arch,
 * libc }], or throws one error listing every problem.
 */
function readPrebuilds(dir) {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new Error(`pack: --prebuilds ${dir} is not a folder`);
  const problems = [];
  const found = [];
  for (const folder of fs.readdirSync(dir).sort()) {
    const where = path.join(dir, folder);
    if (!fs.statSync(where).isDirectory()) {
      problems.push(`${where}: not a folder (expected <platform>-<arch>[-<libc>]/${FILE})`);
      continue;
    }
    const target = prebuildMember(folder);
    if (target instanceof Error) {
      problems.push(`${where}: ${target.message}`);
      continue;
    }
    const files = fs.readdirSync(where);
    if (!files.includes(FILE)) problems.push(`${where}: no ${FILE}`);
    const extra = files.filter((f) => f !== FILE);
    if (extra.length > 0) problems.push(`${where}: unexpected ${extra.join(', ')} (only ${FILE} is shipped)`);
    if (!files.includes(FILE)) continue;
    const source = path.join(where, FILE);
    const { format, arch } = describeBinary(source);
    if (format !== FORMATS[target.platform] || arch !== target.arch) {
      problems.push(`${source}: ${format ?? 'an unknown format'} for ${arch ?? 'an unknown architecture'}, not ${FORMATS[target.platform]} for ${target.arch}`);
    } else if (target.libc !== undefined && linkedLibc(source) !== target.libc) {
      problems.push(`${source}: links ${linkedLibc(source) ?? 'no known C library'}, not ${target.libc}`);
    }
    const twin = found.find((f) => f.member === target.member);
    if (twin) problems.push(`${where}: the same target as ${path.dirname(twin.source)}`);
    found.push({ ...target, source });
  }
  if (found.length === 0 && problems.length === 0) problems.push(`${dir}: no prebuilds (expected <platform>-<arch>[-<libc>]/${FILE})`);
  if (problems.length > 0) throw new Error(`pack: refusing the prebuilds in ${dir}:\n  ${problems.join('\n  ')}`);
  return found;
}

/** The fields of the repository's package.json that are not published (see the top). */
const UNPUBLISHED_FIELDS = ['scripts', 'devDependencies', 'private', 'gypfile', 'allowScripts'];

/** The repository's package.json as published: nothing that runs at install. */
function publishedManifest(manifest) {
  return Object.fromEntries(Object.entries(manifest).filter(([field]) => !UNPUBLISHED_FIELDS.includes(field)));
}

function run(command, args, options = {}) {
  return execFileSync(command, args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
    shell: command.endsWith('.cmd'),
    ...options,
  });
}

// The package folder as it is published, assembled in `stage`.
function stagePackage(stage, prebuilds) {
  const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  for (const entry of [...manifest.files, 'README.md', 'LICENSE']) {
    const name = entry.replace(/\/$/, '');
    if (name === 'dist' || name === 'prebuilds') continue;
    fs.cpSync(path.join(ROOT, name), path.join(stage, name), { recursive: true });
  }
  fs.copyFileSync(path.join(ROOT, 'binding.gyp'), path.join(stage, 'native', 'binding.gyp'));
  // dist/ from the current sources, compiled straight into the stage (the
  // checkout's dist/, which a running test suite may load, is not touched).
  run(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.json'), '--outDir', path.join(stage, 'dist')]);
  for (const { source, member } of prebuilds) {
    fs.mkdirSync(path.dirname(path.join(stage, member)), { recursive: true });
    fs.copyFileSync(source, path.join(stage, member));
  }
  fs.writeFileSync(path.join(stage, 'package.json'), `${JSON.stringify(publishedManifest(manifest), null, 2)}\n`);
}

/**
 * Assembles the tarball into `out` from the prebuilds in `prebuildsDir`, or,
 * without it, from the ones tools/prebuild.js builds here. Returns
 * { tarball, info (npm pack's report), files (sorted), prebuilds }.
 */
function pack({ prebuildsDir, out = process.cwd() } = {}) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'addcleanup-pack-'));
  try {
    let dir = prebuildsDir;
    if (dir === undefined) {
      dir = path.join(work, 'prebuilds');
      // The cross-building host makes every target it has a compiler for;
      // any other (a developer's Mac, a CI runner) its own prebuild only.
      if (isBuildHost()) buildPrebuilds({ out: dir });
      else buildNative(dir);
    }
    const prebuilds = readPrebuilds(path.resolve(dir));
    const stage = path.join(work, 'package');
    fs.mkdirSync(stage);
    stagePackage(stage, prebuilds);
    fs.mkdirSync(out, { recursive: true });
    const report = run(npm, ['pack', stage, '--json', '--ignore-scripts', '--pack-destination', path.resolve(out)], { cwd: work });
    const info = JSON.parse(report)[0];
    const files = info.files.map((f) => f.path).sort();
    for (const { member } of prebuilds) if (!files.includes(member)) throw new Error(`pack: ${member} is missing from the tarball`);
    return { tarball: path.join(path.resolve(out), info.filename), info, files, prebuilds };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

const USAGE = [
  'usage: node tools/pack.js [--prebuilds DIR] [--out DIR]',
  '  --prebuilds DIR  the prebuilds to ship: DIR/<platform>-<arch>[-<libc>]/addcleanup.node',
  '                   (e.g. linux-x64, linux-x64-musl, darwin-arm64, win32-x64); without it,',
  '                   the ones tools/prebuild.js builds on this machine',
  '  --out DIR        where to write addcleanup-<version>.tgz (default: the current folder)',
].join('\n');

function main() {
  if (process.env.npm_lifecycle_event === 'prepack') {
    console.error(
      'addcleanup: `npm pack` and `npm publish` at the root would ship the development manifest\n' +
        '(its prepare script, binding.gyp at the root). The tarball to publish is made by\n' +
        `${USAGE.split('\n')[0].replace('usage: ', '  ')}`,
    );
    process.exit(1);
  }
  const { values } = commandLine({
    name: 'pack',
    usage: USAGE,
    options: { prebuilds: { type: 'string' }, out: { type: 'string' } },
  });
  try {
    const { tarball, info, prebuilds } = pack({ prebuildsDir: values.prebuilds, out: values.out });
    for (const p of prebuilds) console.log(`pack: ${p.member} <- ${p.source}`);
    console.log(`pack: ${tarball}: ${info.entryCount} files, ${info.size} bytes (${info.unpackedSize} unpacked)`);
    console.log(JSON.stringify(info));
  } catch (error) {
    console.error(error.message);
    process.exit(1);
  }
}

module.exports = { pack, prebuildMember, publishedManifest, readPrebuilds, UNPUBLISHED_FIELDS };

if (require.main === module) main();

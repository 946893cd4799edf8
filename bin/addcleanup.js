#!/usr/bin/env node
'use strict';
// addcleanup's command line, shipped in the package (its "bin"):
//
//   npx addcleanup build           compile the native addon from source
//   pnpm exec addcleanup build     the same under pnpm (npx works there too)
//
// The package runs no script at install, so that no package manager asks
// users to trust one: the prebuild of the platform loads, or else the
// JavaScript engine. This command is the explicit step for a platform
// without a prebuild. It compiles native/ with node-gyp in a temporary
// folder, puts the result at build/Release/addcleanup.node inside the
// installed package, the path the loader tries first, and loads it once to
// check it.
//
// The published package keeps its binding.gyp in native/, not at its root:
// a root binding.gyp is what makes npm and pnpm take a package for one that
// must be compiled at install (and warn about it). The build copies it back
// beside native/, where its relative paths point.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');

const ROOT = path.join(__dirname, '..');

const USAGE = [
  'usage: addcleanup build [--debug]',
  '  build    compile the native addon from source into build/Release (build/Debug with --debug)',
  '           needs python3, make and a C++17 compiler (Windows: Visual Studio with "Desktop development with C++")',
].join('\n');

/**
 * node-gyp's entry script: the one npm chose (npm exec/npx set
 * npm_config_node_gyp), else one the project installed, else the one in the
 * npm that ships with this Node, else `node-gyp` on PATH. Returns the command
 * to run it: [file, ...args].
 */
function findNodeGyp(cwd = process.cwd()) {
  const configured = process.env.npm_config_node_gyp;
  if (configured && fs.existsSync(configured)) return [process.execPath, configured];
  try {
    return [process.execPath, require.resolve('node-gyp/bin/node-gyp.js', { paths: [cwd, ROOT] })];
  } catch {
    // not installed beside the project
  }
  const prefix = path.resolve(path.dirname(process.execPath), process.platform === 'win32' ? '.' : '..');
  const bundled = path.join(prefix, process.platform === 'win32' ? '' : 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (fs.existsSync(bundled)) return [process.execPath, bundled];
  const onPath = spawnSync(process.platform === 'win32' ? 'node-gyp.cmd' : 'node-gyp', ['--version'], { shell: process.platform === 'win32' });
  if (onPath.status === 0) return [process.platform === 'win32' ? 'node-gyp.cmd' : 'node-gyp'];
  throw new Error('addcleanup build: node-gyp was not found (run this through npx, or install node-gyp: npm install -g node-gyp)');
}

// Node's headers: npm passes its `nodedir` setting as npm_config_nodedir,
// and node-gyp reads it. Otherwise this Node's install prefix when it ships
// its headers (official builds and most distributions do), so that nothing
// is downloaded; else node-gyp downloads them.
function nodedirArgs() {
  if (process.env.npm_config_nodedir) return [];
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  const headers = path.join(prefix, 'include', 'node');
  if (fs.existsSync(path.join(headers, 'node_api.h')) && fs.existsSync(path.join(headers, 'common.gypi'))) {
    return [`--nodedir=${prefix}`];
  }
  return [];
}

/**
 * Runs `node-gyp rebuild` (plus `args`) in a temporary folder holding
 * `files` (an array of [source, name in the folder]) and returns the .node
 * file it built, with a function that removes the folder. `env` is added to
 * the environment; NODE_PATH is set so that binding.gyp's
 * require('node-addon-api') resolves from `modules`. Throws with node-gyp's
 * output if it fails (`stdio: 'inherit'` shows it as it runs instead).
 */
function compile({ files, nodeGyp, args = [], env = {}, modules, debug = false, stdio = 'pipe' }) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'addcleanup-build-'));
  const remove = () => fs.rmSync(work, { recursive: true, force: true });
  try {
    for (const [source, name] of files) fs.cpSync(source, path.join(work, name), { recursive: true });
    const [command, ...prefix] = nodeGyp;
    const run = spawnSync(command, [...prefix, 'rebuild', ...(debug ? ['--debug'] : []), ...args], {
      cwd: work,
      env: { ...process.env, ...env, NODE_PATH: modules },
      encoding: 'utf8',
      stdio,
      shell: command.endsWith('.cmd'),
    });
    if (run.status !== 0) {
      const output = stdio === 'pipe' ? `:\n${run.stdout}\n${run.stderr}` : ` (exit ${run.status}${run.error ? `, ${run.error.message}` : ''})`;
      throw new Error(`node-gyp rebuild failed${output}`);
    }
    const dir = path.join(work, 'build', debug ? 'Debug' : 'Release');
    const built = fs.readdirSync(dir).find((f) => f.endsWith('.node'));
    if (built === undefined) throw new Error(`node-gyp rebuild made no .node file in ${dir}`);
    return { file: path.join(dir, built), remove };
  } catch (error) {
    remove();
    throw error;
  }
}

// The folder that holds node-addon-api, as this package resolves it (under
// pnpm: beside the package in the virtual store).
function modulesFolder(root) {
  return path.dirname(path.dirname(require.resolve('node-addon-api/package.json', { paths: [root] })));
}

/** `addcleanup build`: compiles the installed package's native/ into its build/. */
function build({ root = ROOT, debug = false } = {}) {
  const gyp = ['native/binding.gyp', 'binding.gyp'].map((f) => path.join(root, f)).find((f) => fs.existsSync(f));
  if (gyp === undefined) throw new Error(`addcleanup build: no binding.gyp in ${root}`);
  const nodeGyp = findNodeGyp();
  console.log(`addcleanup build: ${nodeGyp.at(-1)} rebuild${debug ? ' --debug' : ''}, in a temporary copy of ${path.join(root, 'native')}`);
  const files = [
    [gyp, 'binding.gyp'],
    [path.join(root, 'native'), 'native'],
  ];
  const { file, remove } = compile({ files, nodeGyp, args: nodedirArgs(), modules: modulesFolder(root), debug, stdio: 'inherit' });
  try {
    const out = path.join(root, 'build', debug ? 'Debug' : 'Release', 'addcleanup.node');
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.copyFileSync(file, out);
    require(out); // throws if this Node cannot load what was built
    console.log(`addcleanup build: built and loaded ${out}`);
    return out;
  } finally {
    remove();
  }
}

function main() {
  let parsed;
  try {
    parsed = parseArgs({ options: { debug: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true });
  } catch (error) {
    process.stderr.write(`addcleanup: ${error.message.split('\n')[0]}\n${USAGE}\n`);
    process.exit(2);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (positionals.length !== 1 || positionals[0] !== 'build') {
    process.stderr.write(`addcleanup: ${positionals.length ? `unknown command "${positionals.join(' ')}"` : 'no command'}\n${USAGE}\n`);
    process.exit(2);
  }
  try {
    build({ debug: values.debug === true });
  } catch (error) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
}

module.exports = { build, compile, findNodeGyp, nodedirArgs };

if (require.main === module) main();

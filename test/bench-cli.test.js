'use strict';
// The bench's command line and its --json contract (bench/README.md), and the
// finalizer mode of its Node-API floor. Nothing here looks at a timing: the
// bench itself runs on a tiny N, only the shape of what it prints is checked.
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseOptions } = require('../bench/options');
const { probe } = require('../bench/children');
const { ensureTestAddon } = require('../tools/build-test-addon');

const ROOT = path.join(__dirname, '..');
const RUN = path.join(ROOT, 'bench', 'run.js');

const FIGURES = [
  'registerNs',
  'registerPromotedNs',
  'rssBytes',
  'gcLiveMs',
  'gcKillMs',
  'deliverMs',
  'maxBlockMs',
  'stallMs',
  'stopNs',
  'churnMs',
  'churnDuringPct',
  'steadyExtraPct',
];
const IMPLS = ['addcleanup', 'fr-token', 'fr-token-separate', 'fr-raw', 'napi-ref', 'addcleanup-js'];

describe('bench command line', function () {
  it('--json measures the host Node by default; the table measures Node 20 and 26', function () {
    assert.deepEqual(parseOptions(['--json'], {}).nodes, ['host']);
    assert.deepEqual(parseOptions([], {}).nodes, [20, 26]);
    assert.deepEqual(parseOptions(['--node=26,all,host'], {}).nodes, [26, 20, 'host']);
  });

  it('refuses a Node it cannot run, and --json=path (the file is --out=path)', function () {
    assert.throws(() => parseOptions(['--node=18'], {}), /--node: 18 is not all, host or a Node major >= 20/);
    assert.throws(() => parseOptions(['--node=latest'], {}), /--node: latest/);
    assert.throws(() => parseOptions(['--json=x.json'], {}), /--json takes no value/);
    assert.equal(parseOptions(['--out=x.json'], {}).out, path.resolve('x.json'));
  });

  it('--quick is one round unless --rounds says otherwise, at the N of --n', function () {
    const quick = parseOptions(['--quick', '--n=1e6'], {});
    assert.deepEqual([quick.rounds, quick.ns], [1, [1000000]]);
    assert.equal(parseOptions(['--quick', '--rounds=3'], {}).rounds, 3);
    assert.equal(parseOptions([], {}).rounds, 3);
  });

  it('the default implementations are the six of the --json contract', function () {
    assert.deepEqual(parseOptions([], {}).impls, IMPLS);
  });
});

describe('bench --json', function () {
  this.timeout(120000);
  let out;
  let stdout;

  before(function () {
    out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bench-json-')), 'results.json');
    const args = [RUN, '--json', '--quick', '--n=2000', `--out=${out}`, '--experiments=register,delivery,stop'];
    stdout = execFileSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  });

  after(function () {
    fs.rmSync(path.dirname(out), { recursive: true, force: true });
  });

  it('prints one JSON object on stdout and nothing else: node, n and every figure for every implementation', function () {
    const lines = stdout.split('\n').filter(Boolean);
    assert.equal(lines.length, 1, stdout);
    const result = JSON.parse(lines[0]);
    assert.deepEqual(Object.keys(result), ['node', 'n', 'figures']);
    assert.equal(result.node, process.version);
    assert.equal(result.n, 2000);
    assert.deepEqual(Object.keys(result.figures), FIGURES);
    for (const figure of FIGURES) {
      assert.deepEqual(Object.keys(result.figures[figure]), IMPLS, figure);
      for (const [impl, value] of Object.entries(result.figures[figure])) {
        assert.ok(value === null || Number.isFinite(value), `${figure}.${impl}: ${value}`);
      }
    }
    // Measured (these experiments ran) for everyone they apply to ...
    for (const impl of IMPLS) assert.equal(typeof result.figures.registerNs[impl], 'number', impl);
    for (const impl of IMPLS) assert.equal(typeof result.figures.gcKillMs[impl], 'number', impl);
    // ... n/a where there is no stop(), null where the experiment did not run.
    assert.deepEqual([result.figures.stopNs['fr-raw'], result.figures.stopNs['napi-ref']], [null, null]);
    assert.equal(typeof result.figures.stopNs['fr-token'], 'number');
    assert.ok(Object.values(result.figures.steadyExtraPct).every((v) => v === null));
  });

  it('writes every round to the --out file, per Node', function () {
    const saved = JSON.parse(fs.readFileSync(out, 'utf8'));
    assert.equal(saved.nodes.length, 1);
    assert.equal(saved.nodes[0].machine.node, process.version);
    assert.deepEqual(saved.nodes[0].checkProblems, []);
  });
});

describe('the bench\'s Node-API floor (napi-ref)', function () {
  let addonPath;
  before(async function () {
    this.timeout(120000);
    addonPath = await ensureTestAddon();
  });

  it('runs its finalizers where addcleanup runs its own (inside the GC, or deferred)', function () {
    const floor = probe('napi-ref');
    const ours = probe('addcleanup');
    assert.ok(floor.ok && ours.ok, JSON.stringify({ floor, ours }));
    assert.equal(typeof ours.finalizersInGc, 'boolean');
    assert.equal(floor.finalizersInGc, ours.finalizersInGc);
  });

  it('in-GC mode means the finalizers ran when gc() returns; deferred, only after a loop turn', function () {
    const script = `
      const addon = require(${JSON.stringify(addonPath)});
      (function () { for (let i = 0; i < 100; i++) addon.watch({ i }); })();
      gc();
      const atReturn = addon.watchedCount();
      setImmediate(() => setImmediate(() => {
        console.log(JSON.stringify([addon.finalizersInGc, atReturn, addon.watchedCount()]));
        addon.releaseWatched(); // watch() keeps its references: delete them (LeakSanitizer runs)
      }));`;
    const run = (env) =>
      JSON.parse(execFileSync(process.execPath, ['--expose-gc', '-e', script], { env: { ...process.env, ...env }, encoding: 'utf8' }));
    const stable = run({ ADDCLEANUP_TEST_ADDON_FINALIZERS_IN_GC: undefined, ADDCLEANUP_DEFERRED_FINALIZERS: undefined });
    assert.deepEqual(stable, [false, 0, 100]);
    const [inGc, atReturn, later] = run({ ADDCLEANUP_TEST_ADDON_FINALIZERS_IN_GC: '1', ADDCLEANUP_DEFERRED_FINALIZERS: undefined });
    assert.deepEqual([atReturn, later], [inGc ? 100 : 0, 100]);
    assert.deepEqual(run({ ADDCLEANUP_TEST_ADDON_FINALIZERS_IN_GC: '1', ADDCLEANUP_DEFERRED_FINALIZERS: '1' }), [false, 0, 100]);
  });
});

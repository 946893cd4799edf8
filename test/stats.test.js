'use strict';
// cleanupStats(): this thread's counters through a registration's life.
// Baselines: other test files may leave dead objects behind, so tests first
// flush() them, then work with differences from a snapshot.
const assert = require('node:assert/strict');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const {
  requireGc,
  turn,
  until,
  settle,
  inScope,
  withOnlyListener,
  needs,
  flush,
  registerDropped,
  deadAndQueued,
} = require('./helpers');
const { addCleanup, cleanupStats } = require('..');

const gc = requireGc();

const FIXTURES = path.join(__dirname, 'fixtures');
const STAT_KEYS = ['executed', 'failed', 'pending', 'queued', 'running', 'stopped'];

// A copy of the stats with some fields changed, for deepEqual.
function statsWith(base, changes) {
  return { ...base, ...changes };
}

describe('cleanupStats()', function () {
  it('returns a fresh plain object with exactly the six numeric counters', function () {
    const a = cleanupStats();
    const b = cleanupStats();
    assert.notEqual(a, b, 'each call must return its own object');
    assert.deepEqual(Object.keys(a).sort(), STAT_KEYS);
    for (const key of STAT_KEYS) assert.equal(typeof a[key], 'number', key);
    a.pending = -1; // the caller owns it: writing to it changes nothing
    assert.notEqual(cleanupStats().pending, -1);
  });

  it('moves through a registration\'s life: pending, queued (after gc() + one turn), executed; stop() moves pending to stopped', async function () {
    needs(this, 'a turn between finalizer and delivery');
    const base = await flush();
    const log = [];
    const keep = {};
    const kept = addCleanup(keep, () => log.push('kept'), null);
    registerDropped(3, (i) => log.push(i));
    assert.deepEqual(cleanupStats(), statsWith(base, { pending: base.pending + 4 }));

    // Found dead: out of pending, into queued, not run yet.
    const queued = await deadAndQueued(3, base, 'the three objects');
    assert.deepEqual(queued, statsWith(base, { pending: base.pending + 1, queued: 3 }));
    assert.deepEqual(log, []);

    // Next poll phase: delivered.
    await turn();
    assert.deepEqual(cleanupStats(), statsWith(base, { pending: base.pending + 1, executed: base.executed + 3 }));
    assert.deepEqual(log.sort(), [0, 1, 2]);

    assert.equal(kept.stop(), true);
    const afterStop = statsWith(base, { executed: base.executed + 3, stopped: base.stopped + 1 });
    assert.deepEqual(cleanupStats(), afterStop);
    // A stop() that cancels nothing is not counted.
    assert.equal(kept.stop(), false);
    assert.deepEqual(cleanupStats(), afterStop);
    await settle(2);
    assert.deepEqual(cleanupStats(), afterStop);
    assert.deepEqual(log.sort(), [0, 1, 2]);
    void keep;
  });

  it('counts a cleanup that throws in executed and failed (uncaughtException listener installed)', async function () {
    const base = await flush();
    await withOnlyListener('uncaughtException', async (seen) => {
      let okRan = 0;
      inScope(() => {
        addCleanup(
          {},
          () => {
            throw new Error('tools: cleanup failed');
          },
          null,
        );
        addCleanup({}, () => okRan++, null);
      });
      await until(() => seen.length === 1 && okRan === 1, { what: 'the throwing and the normal cleanup' });
      await settle(1);
      assert.equal(seen.length, 1);
      assert.equal(seen[0].value.message, 'tools: cleanup failed');
      assert.deepEqual(
        cleanupStats(),
        statsWith(base, { executed: base.executed + 2, failed: base.failed + 1 }),
      );
    });
  });

  it('inside a batch of 3, each cleanup sees the batch\'s not-yet-run cleanups as queued (the 2nd sees the 3rd)', async function () {
    needs(this, 'a turn between finalizer and delivery');
    const base = await flush();
    const views = [];
    registerDropped(3, () => {
      const s = cleanupStats();
      views.push({ pending: s.pending, queued: s.queued, executed: s.executed });
    });
    // All three found dead by one gc(), so they are delivered as one batch.
    await deadAndQueued(3, base, 'the batch');
    await turn();
    assert.deepEqual(views, [
      { pending: base.pending, queued: 2, executed: base.executed + 1 },
      { pending: base.pending, queued: 1, executed: base.executed + 2 },
      { pending: base.pending, queued: 0, executed: base.executed + 3 },
    ]);
    assert.deepEqual(cleanupStats(), statsWith(base, { executed: base.executed + 3 }));
  });

  it('is per thread: a worker sees only its own registrations, and the main thread\'s counters do not move', async function () {
    await flush();
    // Main-thread registrations the worker must not see.
    const mine = [{}, {}];
    for (const obj of mine) addCleanup(obj, () => {}, null);
    const base = cleanupStats();

    const worker = new Worker(path.join(FIXTURES, 'tools-stats-worker.js'));
    const report = await new Promise((resolve, reject) => {
      let message;
      worker.on('message', (m) => (message = m));
      worker.on('error', reject);
      worker.on('exit', (code) => (code === 0 ? resolve(message) : reject(new Error(`worker exited with ${code}`))));
    });
    const zero = { pending: 0, queued: 0, running: 0, executed: 0, stopped: 0, failed: 0 };
    assert.deepEqual(report.start, zero);
    assert.deepEqual(report.registered, { ...zero, pending: 45 });
    assert.equal(report.stopResult, true);
    assert.deepEqual(report.stopped, { ...zero, pending: 44, stopped: 1 });
    assert.equal(report.collected, 40);
    assert.deepEqual(report.end, { ...zero, pending: 4, executed: 40, stopped: 1 });
    assert.equal(report.ran, 40);

    assert.deepEqual(cleanupStats(), base, 'the worker\'s activity showed in the main thread\'s counters');
    assert.equal(mine.length, 2);
  });
});

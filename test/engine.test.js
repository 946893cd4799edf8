'use strict';
// The GC-to-loop hand-off (native/runtime.h, native/queue.h): where deaths
// are found, how a mass death is cut into slices, and what the addon links.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { RUNTIME, requireGc, until, settle, runFixture, parseResult, assertCleanExit, needs } = require('./helpers');
const { loadFresh, nativePathOf, registerDropped } = require('./fixtures/hostile-util');
const { engine: binding } = require('../dist/engine/index');

const gc = requireGc();
const SPAN = 2 ** 32;
const BATCH = 1024; // Queue::kBatchSize
const BATCHES_PER_TURN = 16 + 1; // Queue::kMaxBatchesPerSlice, plus the poll phase's one batch
const forcedDeferred = process.env.ADDCLEANUP_DEFERRED_FINALIZERS === '1';

describe('engine: the hand-off from the GC to the event loop', function () {
  before(function () {
    needs(this, 'the native binding');
  });

  it('finalizers run inside the GC on every Node this package supports (it exports node::Start and node_api_post_finalizer), unless ADDCLEANUP_DEFERRED_FINALIZERS=1; deferred on Bun and Deno', function () {
    assert.equal(binding.finalizersInGc, RUNTIME.startsWith('Node ') && !forcedDeferred);
  });

  it('gc() itself queues the deaths it finds where finalizers run in the GC; deferred, they reach the queue in the same turn', async function () {
    const fresh = loadFresh();
    const delivered = [];
    fresh.setup((slots) => delivered.push(...slots));
    registerDropped(fresh, 100);
    gc();
    const [pending, queued] = fresh.counts();
    if (binding.finalizersInGc) {
      assert.deepEqual([pending, queued], [0, 100], 'every death is queued when gc() returns');
    } else {
      assert.deepEqual([pending, queued], [100, 0], 'nothing is queued before the deferred finalizers ran');
    }
    await until(() => delivered.length === 100, { what: 'the 100 deliveries' });
    assert.deepEqual(fresh.counts(), [0, 0]);
  });

  it('a mass death of 10^6 is delivered in slices: every batch <= 1,024 slots, every loop turn <= 17 batches, each slot exactly once', async function () {
    this.timeout(120000);
    const N = 1000000;
    const fresh = loadFresh();
    // A setImmediate ticker numbers the loop turns; each delivery records
    // the turn it ran in. The ticker runs once per turn, in the check phase,
    // like the slices it interleaves with.
    let turn = 0;
    let ticking = true;
    const tick = () => {
      turn++;
      if (ticking) setImmediate(tick);
    };
    const perTurn = new Map();
    const seen = new Uint8Array(N);
    let count = 0;
    let biggestBatch = 0;
    fresh.setup((slots) => {
      perTurn.set(turn, (perTurn.get(turn) ?? 0) + slots.length);
      biggestBatch = Math.max(biggestBatch, slots.length);
      for (const slot of slots) seen[slot]++;
      count += slots.length;
    });
    const ids = registerDropped(fresh, N);
    assert.equal(ids.at(-1) % SPAN, N - 1, 'precondition: a fresh instance numbers slots from 0');
    setImmediate(tick);
    gc();
    try {
      await until(() => count >= N, { rounds: 400, what: `the ${N} deliveries` });
    } finally {
      ticking = false;
    }
    await settle(1);
    assert.equal(count, N);
    assert.ok(seen.every((n) => n === 1), 'a slot was delivered twice or never');
    assert.ok(biggestBatch <= BATCH, `a batch of ${biggestBatch} slots`);
    const busiest = Math.max(...perTurn.values());
    assert.ok(busiest <= BATCHES_PER_TURN * BATCH, `one loop turn delivered ${busiest} slots`);
    assert.ok(perTurn.size >= Math.ceil(N / (BATCHES_PER_TURN * BATCH)), `only ${perTurn.size} turns`);
    assert.deepEqual(fresh.counts(), [0, 0]);
  });

  it('the addon imports no libuv symbol (it loads where Node-API exists without libuv)', function () {
    const file = nativePathOf(binding);
    const image = fs.readFileSync(file);
    // Imported names sit NUL-terminated in the dynamic string table.
    assert.equal(image.includes(Buffer.from('\0uv_')), false, `${file} names a uv_ symbol`);
  });

  it('with ADDCLEANUP_DEFERRED_FINALIZERS=1 (the fallback for runtimes that cannot run finalizers in the GC) every contract of a run still holds', async function () {
    const result = await runFixture('engine-deferred.js', [], { env: { ADDCLEANUP_DEFERRED_FINALIZERS: '1' } });
    assertCleanExit(result);
    assert.deepEqual(parseResult(result), { finalizersInGc: false, ran: 2000, stopped: 1000, late: false, stats: { pending: 0, queued: 0 } });
  });

  it('ADDCLEANUP_DEFERRED_FINALIZERS=1 set through process.env before the package loads is obeyed too (on Windows, not only at process start)', async function () {
    const result = await runFixture('engine-deferred.js', ['--set-in-js'], { env: { ADDCLEANUP_DEFERRED_FINALIZERS: undefined } });
    assertCleanExit(result);
    assert.deepEqual(parseResult(result), { finalizersInGc: false, ran: 2000, stopped: 1000, late: false, stats: { pending: 0, queued: 0 } });
  });
});

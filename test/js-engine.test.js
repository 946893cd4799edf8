'use strict';
// What only the JS engine (lib/engine/js.ts) has to get right, on fresh
// engines made here, whichever engine the package itself runs on: one
// FinalizationRegistry cell per registration and a token per slot, a
// callback that only queues, the same bounded slices as the native queue,
// and no WeakRef.
const assert = require('node:assert/strict');
const { createJsEngine } = require('../dist/engine/js');
const { requireGc, turn, turns, until, settle, inScope } = require('./helpers');

const gc = requireGc();
const SPAN = 2 ** 32;

// A fresh engine, set up with a deliver that records each batch (a copy of
// its slots) and the loop turn it came in.
function freshEngine(onBatch = () => {}) {
  const engine = createJsEngine();
  const batches = [];
  let turnNo = 0;
  engine.setup((slots, waitedMs) => {
    batches.push({ slots: [...slots], turn: turnNo, waitedMs });
    onBatch(slots);
  });
  const ticker = { stopped: false };
  (function tick() {
    if (ticker.stopped) return;
    turnNo++;
    setImmediate(tick);
  })();
  const delivered = () => batches.flatMap((b) => b.slots);
  return { engine, batches, delivered, stop: () => (ticker.stopped = true) };
}

function registerDropped(engine, n) {
  const ids = [];
  inScope(() => {
    for (let i = 0; i < n; i++) ids.push(engine.register({ i }));
  });
  return ids;
}

describe('the JS engine (FinalizationRegistry)', function () {
  this.timeout(60000);

  it('describes itself: no state words, cells for checkCleanups(), reports that return, no finalizers in the GC', function () {
    const engine = createJsEngine();
    assert.deepEqual(
      [engine.stateWords, engine.liveKind, engine.uncaughtReturns, engine.finalizersInGc],
      [false, 'cells', true, false],
    );
  });

  it('a gc() in the same job as the registration collects the object (no WeakRef keeps it for the job)', async function () {
    const f = freshEngine();
    try {
      registerDropped(f.engine, 10);
      gc(); // same job: a WeakRef to the targets would keep them alive here
      await until(() => f.delivered().length === 10, { rounds: 10, what: 'the 10 deliveries' });
      assert.deepEqual(f.engine.counts(), new Float64Array([0, 0]));
    } finally {
      f.stop();
    }
  });

  it('the registry callback only queues: deaths wait in the queue ("queued"), stop() of them returns false, then each is delivered once', async function () {
    const f = freshEngine();
    try {
      const ids = registerDropped(f.engine, 5);
      gc();
      // The callback comes in a task after the GC; the delivery only in a
      // later immediate: poll for the queued state one turn at a time.
      for (let i = 0; i < 20 && f.engine.counts()[1] < 5 && f.delivered().length === 0; i++) await turn();
      assert.deepEqual([...f.engine.counts()], [0, 5], 'all five found dead, none delivered yet');
      assert.deepEqual(f.delivered(), []);
      assert.deepEqual(ids.map((id) => f.engine.stop(id)), [false, false, false, false, false]);
      await until(() => f.delivered().length === 5, { rounds: 10, what: 'the 5 deliveries' });
      await settle(2);
      assert.deepEqual(f.delivered().sort(), ids.map((id) => id % SPAN).sort());
    } finally {
      f.stop();
    }
  });

  it('a deliver that stops the other registrations of its collection cancels none of them', async function () {
    let ids = [];
    const refused = [];
    const f = freshEngine(() => {
      for (const id of ids) refused.push(f.engine.stop(id));
    });
    try {
      ids = registerDropped(f.engine, 300);
      await until(() => f.delivered().length === 300, { what: 'the 300 deliveries' });
      assert.ok(refused.length >= 300 && refused.every((r) => r === false));
    } finally {
      f.stop();
    }
  });

  it('stop() drops the cell at once: the slot is reused at once, and the stopped object dying later delivers nothing for the new registration', async function () {
    const f = freshEngine();
    try {
      const keep = [];
      const old = [];
      inScope(() => {
        for (let i = 0; i < 200; i++) old.push(f.engine.register({ old: i }));
      });
      // Still alive (in the young generation, not yet collected): stopped now.
      assert.ok(old.every((id) => f.engine.stop(id)));
      assert.ok(old.every((id) => f.engine.stop(id) === false), 'a second stop() does nothing');
      // The same slots, under the next generation, watching live objects.
      const fresh = [];
      for (let i = 0; i < 200; i++) {
        keep.push({ fresh: i });
        fresh.push(f.engine.register(keep[i]));
      }
      assert.deepEqual(
        fresh.map((id) => id % SPAN).sort(),
        old.map((id) => id % SPAN).sort(),
        'the stopped slots are reused',
      );
      // The old objects are garbage now: if their cells were still in the
      // registry, their callbacks would queue the new registrations.
      await settle(4);
      assert.deepEqual(f.delivered(), []);
      assert.deepEqual([...f.engine.counts()], [200, 0]);
      assert.ok(old.every((id) => f.engine.stop(id) === false), 'old ids stop nothing in the reused slots');
      keep.length = 0;
      await until(() => f.delivered().length === 200, { what: 'the 200 new deliveries' });
    } finally {
      f.stop();
    }
  });

  it('deaths before setup wait in the queue; setup delivers each once', async function () {
    const engine = createJsEngine();
    const ids = registerDropped(engine, 1500);
    await until(() => engine.counts()[1] === 1500, { what: 'the 1,500 deaths queued before setup' });
    const got = [];
    engine.setup((slots) => got.push(...slots));
    await until(() => got.length === 1500, { what: 'the 1,500 deliveries' });
    await settle(2);
    assert.deepEqual(got.sort((a, b) => a - b), ids.map((id) => id % SPAN).sort((a, b) => a - b));
  });

  it('a mass death of 200,000 is delivered in slices: every batch <= 1,024 slots, every loop turn <= 16 batches, each slot exactly once', async function () {
    const N = 200000;
    const f = freshEngine();
    try {
      const ids = registerDropped(f.engine, N);
      gc();
      await until(() => f.delivered().length === N, { what: `the ${N} deliveries` });
      await turns(2);
      const perTurn = new Map();
      for (const b of f.batches) perTurn.set(b.turn, (perTurn.get(b.turn) ?? 0) + 1);
      assert.ok(f.batches.every((b) => b.slots.length >= 1 && b.slots.length <= 1024));
      assert.ok(Math.max(...perTurn.values()) <= 16, `${Math.max(...perTurn.values())} batches in one turn`);
      assert.ok(perTurn.size >= Math.ceil(N / 1024 / 16), `${perTurn.size} turns`);
      const seen = new Set(f.delivered());
      assert.equal(seen.size, N);
      for (const id of ids) assert.ok(seen.has(id % SPAN));
    } finally {
      f.stop();
    }
  });

  it('register() refuses what a FinalizationRegistry cannot watch with a TypeError, taking no slot', function () {
    const engine = createJsEngine();
    for (const value of [1, 'x', undefined, null, true, 10n]) {
      assert.throws(() => engine.register(value), TypeError);
    }
    assert.deepEqual([...engine.counts()], [0, 0]);
    assert.equal(engine.register({}) % SPAN, 0, 'the first slot is still free');
  });

  it('stop() of anything but a live id is false: stale generations, unknown slots, non-numbers', function () {
    const engine = createJsEngine();
    const keep = { k: 1 };
    const id = engine.register(keep);
    for (const bad of [id + SPAN, id + 1, -1, NaN, Infinity, 2 ** 53, 0.5, '0', null, undefined, {}]) {
      assert.equal(engine.stop(bad), false, String(bad));
    }
    assert.equal(engine.stop(id), true);
    assert.equal(engine.stop(id), false);
  });
});

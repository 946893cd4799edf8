'use strict';
// What keeps objects, cleanups and args alive, and what does not: stop()'s
// results (a queued cleanup still runs), no lingering reference to a handle's
// object or to a cleanup and arg that ran or were stopped, a ptr reachable
// from its own cleanup or arg never collected, young objects released by
// minor GCs.
const assert = require('node:assert/strict');
const {
  requireGc,
  afterFinalizers,
  until,
  settle,
  inScope,
  needs,
  sum,
} = require('./helpers');
const { addCleanup, Cleanup } = require('..');

const gc = requireGc();

// Tracks the collection of objects with a FinalizationRegistry. Not with a
// WeakRef polled by until(): deref() keeps its target alive until the end of
// the current job, and until() calls gc() in the same job as its predicate, so
// a `ref.deref() === undefined` predicate would keep the object alive forever.
const collectedTokens = new Set();
const collectionTracker = new FinalizationRegistry((token) => collectedTokens.add(token));
function track(obj, what) {
  const token = Symbol(what);
  collectionTracker.register(obj, token);
  return token;
}
function isCollected(token) {
  return collectedTokens.has(token);
}

// ---------------------------------------------------------------------------
describe('stop()', function () {
  it('stop() before death returns true and the cleanup never runs; a second stop() returns false', async function () {
    let count = 0;
    const handle = inScope(() => addCleanup({}, () => count++, null));
    assert.equal(handle.stop(), true);
    assert.equal(handle.stop(), false, 'nothing left to cancel');
    // Give the (dead) object every chance to trigger the cancelled cleanup.
    await settle(6);
    assert.equal(count, 0, 'a stopped cleanup ran');
    assert.equal(handle.stop(), false);
  });

  it('stop() after the cleanup ran returns false, also once its slot was reused by a new registration (which still runs)', async function () {
    let first = 0;
    const handle = inScope(() => addCleanup({}, () => first++, null));
    await until(() => first === 1, { what: 'the first cleanup' });
    // New registrations now likely reuse the freed slot; an old handle must not
    // be able to cancel them.
    let second = 0;
    const newHandles = inScope(() => {
      const hs = [];
      for (let i = 0; i < 8; i++) hs.push(addCleanup({}, () => second++, null));
      return hs;
    });
    assert.equal(handle.stop(), false, 'stop() after run must return false');
    await until(() => second === 8, { what: 'the new registrations' });
    await settle(2);
    assert.equal(first, 1);
    assert.equal(second, 8, 'the old handle cancelled a new registration');
    for (const h of newHandles) assert.equal(h.stop(), false);
  });

  it('stop() on queued cleanups from inside the same batch returns false and every one still runs exactly once', async function () {
    const N = 50;
    const counts = new Uint8Array(N);
    const stopResults = [];
    const handles = new Array(N);
    // All N objects are kept alive by `holder` and released at once, so one
    // gc() finds them all dead and their cleanups are queued together (one
    // finalizer pass, one batch). Order inside a batch is not promised, so
    // every cleanup tries to stop all the others: whichever runs first finds
    // the rest queued but not yet run.
    const holder = { objs: [] };
    inScope(() => {
      for (let i = 0; i < N; i++) {
        const obj = {};
        holder.objs.push(obj);
        handles[i] = addCleanup(
          obj,
          (k) => {
            counts[k]++;
            for (let j = 0; j < N; j++) if (j !== k) stopResults.push(handles[j].stop());
          },
          i,
        );
      }
    });
    // Drop and collect with no allocation in between, so that all die in the
    // same collection.
    holder.objs = null;
    gc();
    await until(() => sum(counts) >= N, { what: `all ${N} cleanups` });
    await settle(3);
    for (let i = 0; i < N; i++) assert.equal(counts[i], 1, `cleanup #${i} ran ${counts[i]} times`);
    assert.equal(stopResults.length, N * (N - 1));
    assert.ok(stopResults.every((r) => r === false), 'stop() on a queued (or run) cleanup must return false');
  });

  it('stop() between the finalizer and the delivery (queued, not yet run) returns false and the cleanup still runs', async function () {
    needs(this, 'a turn between finalizer and delivery');
    let count = 0;
    // `probes` are extra registrations on the same object: stopping one tells
    // whether the object has been found dead yet (false) or not (true: that
    // probe is cancelled and the next round uses another one).
    const { target, probes } = inScope(() => {
      const obj = {};
      const t = addCleanup(obj, () => count++, null);
      const ps = [];
      for (let i = 0; i < 30; i++) ps.push(addCleanup(obj, () => {}, null));
      return { target: t, probes: ps };
    });
    let queued = false;
    for (const probe of probes) {
      gc();
      // The object's registrations are queued now (by gc() itself, or in
      // this turn's check phase where finalizers are deferred); the queue
      // only delivers in the next poll phase.
      await afterFinalizers();
      assert.equal(count, 0, 'the cleanup ran before the poll phase after its finalizer');
      if (probe.stop() === false) {
        queued = true;
        break;
      }
    }
    assert.ok(queued, 'the object was never found dead');
    assert.equal(target.stop(), false, 'stop() on a queued cleanup must return false');
    await until(() => count === 1, { what: 'the queued cleanup' });
    await settle(2);
    assert.equal(count, 1, 'a queued cleanup must still run, exactly once');
  });

  it('stop() is idempotent and never throws (pending, stopped, queued and run handles)', async function () {
    let ran = 0;
    const keep = {};
    const pending = addCleanup(keep, () => ran++, null);
    const results = [];
    for (let i = 0; i < 100; i++) results.push(pending.stop());
    assert.deepEqual(results, [true, ...new Array(99).fill(false)]);

    const dying = inScope(() => addCleanup({}, () => ran++, null));
    await until(() => ran === 1, { what: 'the cleanup' });
    for (let i = 0; i < 100; i++) assert.equal(dying.stop(), false);
    assert.equal(ran, 1);
    void keep;
  });
});

// ---------------------------------------------------------------------------
describe('no lingering references', function () {
  it('a Cleanup handle held by the test does not keep ptr alive', async function () {
    let count = 0;
    // The handle stays in a live variable for the whole test.
    const handle = inScope(() => addCleanup({ big: new Array(100).fill(0) }, () => count++, null));
    await until(() => count === 1, { what: 'the cleanup of an object whose handle is still held' });
    assert.ok(handle instanceof Cleanup);
    assert.equal(handle.stop(), false);
  });

  it('after the cleanup ran, its function and arg can be collected', async function () {
    let count = 0;
    const { fnToken, argToken } = inScope(() => {
      const arg = { payload: new Array(100).fill(1) };
      const fn = (a) => {
        count++;
        void a;
      };
      addCleanup({}, fn, arg);
      return { fnToken: track(fn, 'cleanup function'), argToken: track(arg, 'arg') };
    });
    await until(() => count === 1, { what: 'the cleanup' });
    await until(() => isCollected(fnToken), { what: 'collection of the cleanup function after it ran' });
    await until(() => isCollected(argToken), { what: 'collection of the arg after the cleanup ran' });
  });

  it('after stop(), the cleanup function and arg can be collected while ptr is still alive', async function () {
    let count = 0;
    const ptr = { alive: true };
    const ptrToken = track(ptr, 'ptr');
    const { handle, fnToken, argToken } = inScope(() => {
      const arg = { payload: new Array(100).fill(1) };
      const fn = () => count++;
      return { handle: addCleanup(ptr, fn, arg), fnToken: track(fn, 'cleanup function'), argToken: track(arg, 'arg') };
    });
    assert.equal(handle.stop(), true);
    await until(() => isCollected(fnToken), { what: 'collection of a stopped cleanup function' });
    await until(() => isCollected(argToken), { what: 'collection of a stopped cleanup arg' });
    // ptr was reachable throughout.
    assert.equal(ptr.alive, true);
    assert.equal(isCollected(ptrToken), false);
    assert.equal(count, 0);
  });
});

// ---------------------------------------------------------------------------
describe('ptr reachable from its cleanup or arg is never collected', function () {
  // The package holds arg and cleanup strongly until the cleanup runs or is
  // stopped, so such a registration is a leak by design (as in Go); the only
  // way out is stop(), which releases them and lets ptr be collected.
  async function checkStuck(register) {
    let stuck = 0;
    let others = 0;
    const { handle, ptrToken } = inScope(() => {
      const ptr = { leaked: true };
      const h = register(ptr, () => stuck++);
      // Unrelated registrations in the same test must still run normally.
      for (let i = 0; i < 10; i++) addCleanup({}, () => others++, null);
      return { handle: h, ptrToken: track(ptr, 'ptr') };
    });
    await until(() => others === 10, { what: 'the unrelated cleanups' });
    await settle(6);
    assert.equal(stuck, 0, 'the cleanup of a ptr reachable from its own registration ran');
    assert.equal(isCollected(ptrToken), false, 'ptr reachable from its registration was collected');

    // More unrelated work while the stuck registration exists.
    inScope(() => addCleanup({}, () => others++, null));
    await until(() => others === 11, { what: 'a later unrelated cleanup' });

    // stop() is the fix: it drops cleanup and arg, so ptr becomes collectable.
    assert.equal(handle.stop(), true);
    await until(() => isCollected(ptrToken), { what: 'collection of ptr after stop()' });
    await settle(2);
    assert.equal(stuck, 0);
    assert.equal(others, 11);
  }

  it('ptr reachable from arg ({owner: ptr}): never collected, cleanup never runs, others run; stop() frees it', async function () {
    await checkStuck((ptr, count) => addCleanup(ptr, () => count(), { owner: ptr }));
  });

  it('ptr reachable from the cleanup closure: never collected, cleanup never runs, others run; stop() frees it', async function () {
    // The closure uses ptr (passes it on): every engine keeps it captured.
    // (`void ptr` would do for V8, but JavaScriptCore compiles it away.)
    await checkStuck((ptr, count) => addCleanup(ptr, () => count(ptr), null));
  });
});

// ---------------------------------------------------------------------------
describe('young objects are released by minor GCs', function () {
  it('1000 young objects: gc({type: "minor"}) alone runs all their cleanups', async function () {
    needs(this, 'release after minor GCs');
    const N = 1000;
    const counts = new Uint8Array(N);
    // A full GC first: it empties the young generation, so the objects below
    // start young and are not promoted by a scavenge triggered while they are
    // still being allocated. From here on only minor GCs are requested.
    gc();
    inScope(() => {
      for (let i = 0; i < N; i++) addCleanup({ i }, (k) => counts[k]++, i);
    });
    await until(() => sum(counts) === N, { minor: true, what: `${N} cleanups with only minor GCs` });
    await settle(2, { minor: true });
    for (let i = 0; i < N; i++) assert.equal(counts[i], 1, `cleanup #${i} ran ${counts[i]} times`);
  });
});

// ---------------------------------------------------------------------------

'use strict';
// A translation of Go's src/runtime/mcleanup_test.go (Go 1.24/1.25) to this
// package. Where Go blocks on a channel (`<-ch`), these tests poll a counter
// with until() (bounded gc() + event-loop turns); where Go only checks that a
// cleanup is never called, they use settle() after proving with a witness that
// the object really died, so that a "nothing ran" result means something.
//
// Go allocates in a separate goroutine (`go func() { ... }()`) so that no
// stack slot of the test keeps the object alive; inScope() plays that role.
const assert = require('node:assert/strict');
const { addCleanup } = require('..');
const { until, settle, inScope } = require('./helpers');

// The value Go's tests pass as arg and expect back in the cleanup.
const WANT = 97531;

// Go allocates `struct { v int; p unsafe.Pointer }` to avoid the tiny
// allocator; a plain object with a pointer-ish field is the closest analogue.
function newT() {
  return { v: WANT, p: null };
}

describe('Go runtime/mcleanup_test.go, translated', function () {
  it('TestCleanup: the cleanup runs once, later, with arg as its only argument', async function () {
    const calls = [];
    inScope(() => {
      const v = newT();
      // A strict-mode function expression (this file is 'use strict'), so
      // `this` must be undefined when the engine calls it.
      addCleanup(
        v,
        function (x) {
          calls.push({ self: this, nargs: arguments.length, x });
        },
        WANT,
      );
      // Never synchronously inside addCleanup.
      assert.equal(calls.length, 0, 'cleanup ran inside addCleanup');
    });
    // Go: runtime.GC(). The object is dead now, but the cleanup must not run
    // inside the collector: only from a later turn of the event loop.
    globalThis.gc();
    assert.equal(calls.length, 0, 'cleanup ran synchronously inside gc()');
    // Go: <-ch
    await until(() => calls.length >= 1, { what: 'TestCleanup cleanup' });
    // Exactly once: give it more chances to (wrongly) run again.
    await settle(3);
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0], { self: undefined, nargs: 1, x: WANT });
  });

  it('TestCleanupMultiple: the same cleanup and arg attached three times run three times', async function () {
    const got = [];
    const cleanup = (x) => got.push(x);
    inScope(() => {
      const v = newT();
      addCleanup(v, cleanup, WANT);
      addCleanup(v, cleanup, WANT);
      addCleanup(v, cleanup, WANT);
    });
    globalThis.gc();
    // Go: <-ch three times.
    await until(() => got.length >= 3, { what: 'three cleanups' });
    await settle(3);
    assert.deepEqual(got, [WANT, WANT, WANT]);
  });

  it('TestCleanupZeroSizedStruct: empty object {} and empty array [] as ptr', async function () {
    // Go's test only checks that registering on a zero-sized object works;
    // here both registrations must also be honoured, each exactly once.
    const got = { object: [], array: [] };
    inScope(() => {
      const z = {};
      const e = [];
      addCleanup(z, (s) => got.object.push(s), 'foo');
      addCleanup(e, (s) => got.array.push(s), 'foo');
    });
    await until(() => got.object.length >= 1 && got.array.length >= 1, {
      what: 'cleanups of {} and []',
    });
    await settle(3);
    assert.deepEqual(got, { object: ['foo'], array: ['foo'] });
  });

  it('TestCleanupAfterFinalizer: a FinalizationRegistry on the same object does not stop the cleanup', async function () {
    // Go's SetFinalizer resurrects the object, so its cleanup only runs in a
    // second cycle. JavaScript finalizers cannot resurrect; what carries over
    // is that both mechanisms fire for one object, each exactly once, in no
    // promised order.
    const finalized = [];
    const cleaned = [];
    // The registry must itself stay reachable or its callbacks never fire.
    const registry = new FinalizationRegistry((held) => finalized.push(held));
    inScope(() => {
      const v = newT();
      addCleanup(v, (x) => cleaned.push(x), WANT);
      registry.register(v, 1);
    });
    await until(() => finalized.length >= 1 && cleaned.length >= 1, {
      what: 'finalizer and cleanup',
    });
    await settle(3);
    assert.deepEqual(finalized, [1]);
    assert.deepEqual(cleaned, [WANT]);
  });

  it('TestCleanupInteriorPointer: cleanups on child objects run when the parent that holds them dies', async function () {
    // Go attaches cleanups to &ts.a, &ts.b, &ts.c, interior pointers into one
    // allocation. The JavaScript analogue: three child objects reachable only
    // through their parent.
    const got = [];
    const cleanup = (x) => got.push(x);
    // The holder is the only path to the parent; inScope keeps the parent and
    // the children out of this frame's locals.
    const holder = inScope(() => {
      const ts = { p: null, i: 0, a: { v: WANT }, b: { v: WANT }, c: { v: WANT } };
      addCleanup(ts.a, cleanup, WANT);
      addCleanup(ts.b, cleanup, WANT);
      addCleanup(ts.c, cleanup, WANT);
      return { ts };
    });
    // While the parent lives, its children live and nothing may run.
    await settle(3);
    assert.equal(got.length, 0, 'a child cleanup ran while its parent was alive');
    assert.equal(holder.ts.a.v, WANT); // the parent is really still in use here

    // Go: ts = nil.
    holder.ts = null;
    await until(() => got.length >= 3, { what: 'three child cleanups' });
    await settle(3);
    assert.deepEqual(got, [WANT, WANT, WANT]);
  });

  it('TestCleanupStop: a stopped cleanup never runs', async function () {
    let stoppedCalls = 0;
    const witness = [];
    const stopped = inScope(() => {
      const v = newT();
      const c = addCleanup(v, () => stoppedCalls++, WANT);
      // A second, unstopped registration on the same object proves below
      // that the object did die; Go's test has no such witness and could
      // pass without the object ever being collected.
      addCleanup(v, (x) => witness.push(x), 'witness');
      assert.equal(c.stop(), true, 'stop() of a pending cleanup must return true');
      return c;
    });
    await until(() => witness.length >= 1, { what: 'witness cleanup (object death)' });
    await settle(3);
    assert.deepEqual(witness, ['witness']);
    assert.equal(stoppedCalls, 0, 'stopped cleanup ran');
    assert.equal(stopped.stop(), false);
  });

  it('TestCleanupStopMultiple: stop() three times is harmless and the cleanup never runs', async function () {
    let stoppedCalls = 0;
    const witness = [];
    const results = inScope(() => {
      const v = newT();
      const c = addCleanup(v, () => stoppedCalls++, WANT);
      addCleanup(v, (x) => witness.push(x), 'witness');
      return [c.stop(), c.stop(), c.stop()];
    });
    assert.deepEqual(results, [true, false, false]);
    await until(() => witness.length >= 1, { what: 'witness cleanup (object death)' });
    await settle(3);
    assert.deepEqual(witness, ['witness']);
    assert.equal(stoppedCalls, 0, 'stopped cleanup ran');
  });

  it('TestCleanupStopinterleavedMultiple: stopping some registrations of one object leaves the others', async function () {
    const got = [];
    const cleanup = (x) => got.push(x);
    inScope(() => {
      const v = newT();
      addCleanup(v, cleanup, 1);
      assert.equal(addCleanup(v, cleanup, 2).stop(), true);
      addCleanup(v, cleanup, 1);
      assert.equal(addCleanup(v, cleanup, 2).stop(), true);
      addCleanup(v, cleanup, 1);
    });
    globalThis.gc();
    // Go: <-ch three times; each must have arg 1 (the stopped ones carry 2).
    await until(() => got.length >= 3, { what: 'three unstopped cleanups' });
    await settle(3);
    assert.deepEqual(got, [1, 1, 1]);
  });

  it('TestCleanupStopAfterCleanupRuns: stop() after the cleanup ran returns false and changes nothing', async function () {
    let calls = 0;
    // Go keeps only cl.Stop; here the Cleanup handle, which does not keep
    // the object alive.
    const cl = inScope(() => {
      const v = newT();
      return addCleanup(v, () => calls++, WANT);
    });
    globalThis.gc();
    await until(() => calls >= 1, { what: 'cleanup' });
    assert.equal(cl.stop(), false, 'stop() after the cleanup ran must return false');
    assert.equal(cl.stop(), false);
    await settle(3);
    assert.equal(calls, 1);
  });

  it('TestCleanupPointerEqualsArg: arg === ptr throws ERR_INVALID_ARG_VALUE and registers nothing', async function () {
    // Go panics with "ptr is equal to arg, cleanup will never run".
    let badCalls = 0;
    const witness = [];
    // Both functions are made out here, not inside the inScope() callback:
    // a closure created in a scope where v is captured would hold v through
    // its context, and a held cleanup that reaches ptr keeps ptr alive
    //.
    const bad = () => badCalls++;
    const record = (x) => witness.push(x);
    inScope(() => {
      const v = newT();
      // try/catch rather than assert.throws(() => addCleanup(v, ...)): that
      // arrow would move v into this scope's context, which any closure made
      // here would then keep alive.
      let error;
      try {
        addCleanup(v, bad, v);
      } catch (e) {
        error = e;
      }
      assert.ok(error instanceof TypeError, 'addCleanup(v, f, v) must throw a TypeError');
      assert.equal(error.code, 'ERR_INVALID_ARG_VALUE');
      assert.match(error.message, /never run/);
      // Registered after the failed call: if that call had kept v (as its
      // arg) anywhere, v could never die and this witness would never run.
      addCleanup(v, record, 'witness');
    });
    await until(() => witness.length >= 1, { what: 'witness cleanup (object death)' });
    await settle(3);
    assert.deepEqual(witness, ['witness']);
    assert.equal(badCalls, 0, 'the cleanup of the refused registration ran');
  });

  it('TestCleanupLost: 20,000 registrations, none lost and none run twice', async function () {
    // Go registers 10,000 cleanups on each of GOMAXPROCS goroutines and then
    // waits for the cleanup queue to drain; here four "producers" of 5,000
    // each, every cleanup identified by its arg so that a lost or duplicated
    // one is named, not only counted.
    const PRODUCERS = 4;
    const PER_PRODUCER = 5000;
    const N = PRODUCERS * PER_PRODUCER;
    const hits = new Uint8Array(N);
    let total = 0;
    const cleanup = (i) => {
      hits[i]++;
      total++;
    };
    for (let p = 0; p < PRODUCERS; p++) {
      inScope(() => {
        for (let k = 0; k < PER_PRODUCER; k++) {
          addCleanup(newT(), cleanup, p * PER_PRODUCER + k);
        }
      });
    }
    globalThis.gc();
    await until(() => total >= N, { rounds: 100, what: `${N} cleanups` });
    await settle(3);
    const missing = [];
    const repeated = [];
    for (let i = 0; i < N; i++) {
      if (hits[i] === 0) missing.push(i);
      else if (hits[i] > 1) repeated.push(i);
    }
    assert.deepEqual(missing, [], 'cleanups never run');
    assert.deepEqual(repeated, [], 'cleanups run more than once');
    assert.equal(total, N);
  });
});

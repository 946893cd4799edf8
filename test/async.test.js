'use strict';
// Async cleanups: a cleanup that returns a promise or any other
// thenable. The queue does not wait for it; cleanupStats() counts it as
// running until it settles; drainCleanups() and collect() wait for it; a
// rejection is counted as a failure and reported as an unhandled rejection.
// What can only be seen from outside (the process ending, exit codes) is
// pinned with child processes (test/fixtures/async-*.js).
//
// Every promise here is settled by the test itself (a deferred), or after a
// counted number of loop turns: nothing sleeps.
const assert = require('node:assert/strict');
const {
  RUNTIME,
  requireGc,
  turn,
  turns,
  until,
  inScope,
  runFixture,
  assertCleanExit,
  assertNoCrashOutput,
  withOnlyListener,
  flush,
  registerDropped,
  runClean,
  deferred,
  startPending,
} = require('./helpers');
const { addCleanup, drainCleanups, cleanupStats } = require('..');
const testing = require('addcleanup/testing');

requireGc();

// Resolves after `n` loop turns: an async cleanup whose work takes a while.
async function afterTurns(n) {
  for (let i = 0; i < n; i++) await turn();
}

describe('async cleanups: a cleanup that returns a promise', function () {
  it('counts as running from its call until its promise settles; executed counts it once, when called', async function () {
    const base = await flush();
    const d = deferred();
    let calls = 0;
    registerDropped(1, () => {
      calls++;
      return d.promise;
    });
    await until(() => calls === 1, { what: 'the async cleanup' });
    let stats = cleanupStats();
    assert.equal(stats.running, 1);
    assert.equal(stats.executed, base.executed + 1);
    assert.equal(stats.queued, 0);
    // Still running after more turns: nothing settles it but the promise.
    await turns(4);
    assert.equal(cleanupStats().running, 1);
    d.resolve('done');
    await turns(1);
    stats = cleanupStats();
    assert.equal(stats.running, 0);
    assert.equal(stats.executed, base.executed + 1, 'executed must not count the settlement');
    assert.equal(stats.failed, base.failed);
    assert.equal(calls, 1);
  });

  it('does not hold the queue: 50 async cleanups of one batch are all called before any of their promises settles', async function () {
    await flush();
    const pending = [];
    const called = [];
    registerDropped(50, (i) => {
      called.push(i);
      const d = deferred();
      pending.push(d);
      return d.promise;
    });
    await until(() => called.length === 50, { what: 'the 50 async cleanups' });
    assert.equal(cleanupStats().running, 50);
    for (const d of pending) d.resolve();
    await turns(1);
    assert.equal(cleanupStats().running, 0);
    assert.deepEqual(
      called.sort((a, b) => a - b),
      Array.from({ length: 50 }, (_, i) => i),
    );
  });

  it('treats any thenable as async: running until it calls its resolve function', async function () {
    await flush();
    let settle;
    let thenCalls = 0;
    const thenable = {
      then(resolve) {
        thenCalls++;
        settle = resolve;
      },
    };
    let calls = 0;
    registerDropped(1, () => {
      calls++;
      return thenable;
    });
    await until(() => calls === 1, { what: 'the cleanup' });
    await turns(1);
    assert.equal(thenCalls, 1, "the thenable's then() must be called once");
    assert.equal(cleanupStats().running, 1);
    settle(42);
    await turns(1);
    assert.equal(cleanupStats().running, 0);
  });

  it('leaves every other result alone: undefined, null, numbers, strings, objects without then, functions, a then that is not a function', async function () {
    const base = await flush();
    const results = [undefined, null, 0, 1, 'text', true, 10n, Symbol('s'), {}, [], () => {}, { then: 1 }, { then: null }];
    let calls = 0;
    registerDropped(results.length, (i) => {
      calls++;
      return results[i];
    });
    await until(() => calls === results.length, { what: 'the cleanups' });
    const stats = cleanupStats();
    assert.equal(stats.running, 0);
    assert.equal(stats.failed, base.failed);
    assert.equal(stats.executed, base.executed + results.length);
  });

  it('counts a promise that rejects in failed, and reports its very reason once to unhandledRejection (not uncaughtException)', async function () {
    const base = await flush();
    await withOnlyListener('unhandledRejection', async (seen) => {
      const reason = new Error('async: close failed');
      const uncaught = [];
      const onUncaught = (error) => uncaught.push(error);
      // Installed beside mocha's own (which would fail the test on a call).
      process.prependListener('uncaughtException', onUncaught);
      try {
        let calls = 0;
        registerDropped(1, async () => {
          calls++;
          await turn();
          throw reason;
        });
        await until(() => seen.length === 1, { what: 'the unhandled rejection' });
        await turns(2);
        assert.equal(calls, 1);
        assert.equal(seen.length, 1, 'the rejection must be reported exactly once');
        assert.equal(seen[0].value, reason, 'the listener must get the very reason');
        assert.ok(seen[0].detail instanceof Promise);
        assert.deepEqual(uncaught, []);
        const stats = cleanupStats();
        assert.equal(stats.failed, base.failed + 1);
        assert.equal(stats.running, 0);
        assert.equal(stats.executed, base.executed + 1);
      } finally {
        process.removeListener('uncaughtException', onUncaught);
      }
    });
  });

  it('treats a thenable whose then getter throws as a promise rejected with that error', async function () {
    const base = await flush();
    await withOnlyListener('unhandledRejection', async (seen) => {
      const error = new Error('async: then getter');
      registerDropped(1, () => ({
        get then() {
          throw error;
        },
      }));
      await until(() => seen.length === 1, { what: 'the unhandled rejection' });
      assert.equal(seen[0].value, error);
      assert.equal(cleanupStats().failed, base.failed + 1);
      assert.equal(cleanupStats().running, 0);
    });
  });

  it('a promise that the cleanup also handles itself is still watched: its rejection counts and is reported', async function () {
    const base = await flush();
    await withOnlyListener('unhandledRejection', async (seen) => {
      const reason = new Error('async: handled elsewhere too');
      let handledByCleanup = 0;
      registerDropped(1, () => {
        const p = Promise.reject(reason);
        p.catch(() => handledByCleanup++);
        return p;
      });
      await until(() => seen.length === 1, { what: 'the report' });
      assert.equal(seen[0].value, reason);
      assert.equal(handledByCleanup, 1);
      assert.equal(cleanupStats().failed, base.failed + 1);
    });
  });

  it('runs the promise callbacks in the cleanups\' async context, not in the code that triggered the collection', async function () {
    await flush();
    const { AsyncLocalStorage } = require('node:async_hooks');
    const als = new AsyncLocalStorage();
    const seen = [];
    await als.run('the test', async () => {
      registerDropped(1, async () => {
        seen.push(als.getStore());
        await turn();
        seen.push(als.getStore());
      });
      await until(() => seen.length === 2, { what: 'the async cleanup' });
    });
    assert.deepEqual(seen, [undefined, undefined]);
  });
});

describe('drainCleanups() with async cleanups', function () {
  it('resolves true only once every async cleanup has settled', async function () {
    await flush();
    const d = await startPending();
    let drained;
    const draining = drainCleanups().then((value) => (drained = value));
    await turns(6);
    assert.equal(drained, undefined, 'drainCleanups() resolved while an async cleanup was running');
    d.resolve();
    await draining;
    assert.equal(drained, true);
    assert.equal(cleanupStats().running, 0);
  });

  it('resolves true after a rejection settles it too', async function () {
    await flush();
    await withOnlyListener('unhandledRejection', async (seen) => {
      const d = await startPending();
      const draining = drainCleanups();
      d.reject(new Error('async: drain after rejection'));
      assert.equal(await draining, true);
      await until(() => seen.length === 1, { what: 'the report' });
    });
  });

  it('resolves false when its timeout passes first, and true once the cleanup settles', async function () {
    await flush();
    const d = await startPending();
    assert.equal(await drainCleanups({ timeoutMs: 20 }), false);
    assert.equal(cleanupStats().running, 1);
    d.resolve();
    assert.equal(await drainCleanups({ timeoutMs: 10000 }), true);
  });
});

describe('collect() with async cleanups', function () {
  it('waits for the async cleanups it started: what they release after an await is released when it returns', async function () {
    await flush();
    let released = 0;
    registerDropped(5, async () => {
      await afterTurns(5);
      released++;
    });
    assert.equal(await testing.collect(), 5);
    assert.equal(released, 5, 'collect() returned before the async cleanups settled');
    assert.equal(cleanupStats().running, 0);
  });

  it('follows chains through async cleanups: one that drops the last reference to another watched object after an await', async function () {
    await flush();
    const order = [];
    inScope(() => {
      let inner = { inner: true };
      addCleanup(inner, () => order.push('inner'), null);
      const holder = { inner };
      inner = null;
      addCleanup(
        {},
        async (h) => {
          await afterTurns(3);
          h.inner = null; // the last reference to the inner object
          order.push('outer');
        },
        holder,
      );
    });
    assert.equal(await testing.collect(), 2);
    assert.deepEqual(order, ['outer', 'inner']);
  });

  it('does not wait for an async cleanup started before the call', async function () {
    await flush();
    const d = await startPending();
    // Were collect() to wait for it, it would return only at its timeout
    // (50 s), and the bounded poll below would fail first.
    let returned = false;
    const collecting = testing.collect({ timeoutMs: 50000 }).then((n) => {
      returned = true;
      return n;
    });
    await until(() => returned, { rounds: 200, what: 'collect() returning' });
    assert.equal(await collecting, 0);
    assert.equal(cleanupStats().running, 1);
    d.resolve();
    assert.equal(await drainCleanups(), true);
  });
});

describe('async cleanups in child processes', function () {
  // What a child that ends with an unhandled rejection shows, in the terms
  // the runtime decides: exit code and signal, whether the program went on,
  // the 'exit' event's code (none on a runtime that emits none), and whether
  // the reason was printed.
  async function rejectionOutcome(reasonKind, through, env = {}) {
    const result = await runFixture('async-reject-unhandled.js', [reasonKind, through], { timeoutMs: 30000, env });
    assertNoCrashOutput(result);
    const counts = /^COUNTS ran=(\d+) failed=(\d+)$/m.exec(result.stdout);
    return {
      outcome: {
        code: result.code,
        signal: result.signal,
        survived: /^SURVIVED$/m.test(result.stdout),
        exitEvent: /^exit (\d+)$/m.exec(result.stdout)?.[1] ?? null,
        reasonPrinted: /async fixture: (close failed|a rejected string)/.test(result.stderr),
      },
      counts: counts && { ran: Number(counts[1]), failed: Number(counts[2]) },
      output: `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`,
    };
  }

  // The async cleanup's rejection and the program's own, side by side.
  async function assertSameAsOwnRejection(reasonKind, env) {
    const viaCleanup = await rejectionOutcome(reasonKind, 'cleanup', env);
    const own = await rejectionOutcome(reasonKind, 'plain', env);
    assert.deepEqual(viaCleanup.outcome, own.outcome, `through a cleanup:\n${viaCleanup.output}\nthe program's own:\n${own.output}`);
    assert.equal(viaCleanup.outcome.reasonPrinted, true, viaCleanup.output);
    // Where the runtime emits 'exit', the rejection counted as a failure.
    if (viaCleanup.counts) assert.deepEqual(viaCleanup.counts, { ran: 3, failed: 1 });
    return viaCleanup.outcome;
  }

  it('a rejection with no handler ends the process exactly as the program\'s own unhandled rejection does (on Node: exit code 1, the reason on stderr)', async function () {
    const outcome = await assertSameAsOwnRejection('error');
    if (RUNTIME.startsWith('Node')) {
      assert.deepEqual(outcome, { code: 1, signal: null, survived: false, exitEvent: '1', reasonPrinted: true });
    }
  });

  it('a rejection with a non-Error reason and no handler: the same as the program\'s own (on Node: ERR_UNHANDLED_REJECTION, exit code 1)', async function () {
    const outcome = await assertSameAsOwnRejection('string');
    if (RUNTIME.startsWith('Node')) {
      assert.deepEqual(outcome, { code: 1, signal: null, survived: false, exitEvent: '1', reasonPrinted: true });
      const { output } = await rejectionOutcome('string', 'cleanup');
      assert.match(output, /ERR_UNHANDLED_REJECTION/);
    }
  });

  it('with NODE_OPTIONS=--unhandled-rejections=warn: the same as the program\'s own (on Node: a warning, and the process goes on)', async function () {
    const outcome = await assertSameAsOwnRejection('error', { NODE_OPTIONS: '--unhandled-rejections=warn' });
    if (RUNTIME.startsWith('Node')) {
      assert.deepEqual(outcome, { code: 0, signal: null, survived: true, exitEvent: '0', reasonPrinted: true });
    }
  });

  it('with a handler: the same reason once per rejection, no uncaughtException, the process goes on and exits 0', async function () {
    const { report: r } = await runClean('async-reject-handled.js');
    assert.equal(r.ran, 10);
    assert.deepEqual(r.rejected, [2, 5, 8]);
    assert.deepEqual(r.seen, [2, 5, 8]);
    assert.equal(r.sameReasons, true);
    assert.equal(r.uncaught, 0);
    assert.equal(r.failed, 3);
    assert.equal(r.running, 0);
    assert.equal(r.drained, true);
  });

  it('a pending async cleanup does not keep the process alive: a cleanup whose promise never settles, and a drainCleanups() waiting on it, let the process exit with code 0', async function () {
    const result = await runFixture('async-keepalive.js', [], { timeoutMs: 30000 });
    assertCleanExit(result);
    assert.equal(result.stderr, '');
    assert.match(result.stdout, /^exit 0 called=1 running=1 drained=pending$/m);
  });
});

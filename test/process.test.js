'use strict';
// Points 9 (exceptions) and 12 (keep-alive, exit, teardown) of the contract,
// pinned with child processes: uncaught exceptions, exit codes, signals and
// what happens at exit can only be observed from outside the process. Each
// child is a fixture in test/fixtures/process-*.js; it prints what it observed
// (one `RESULT <json>` line, or plain lines when it is meant to die) and this
// file asserts on that, on the exit code and signal, and on stderr.
const assert = require('node:assert/strict');
// helpers.js refuses to load without --expose-gc; the children get it from
// runNode either way.
const { runFixture, assertCleanExit, assertNoCrashOutput, needs, runClean } = require('./helpers');

// Below mocha's 60 s, so that a child that hangs (for instance, kept alive by
// registrations of live objects) fails with its output rather than a bare
// mocha timeout. It is the only time bound: no timing is asserted.
const CHILD_TIMEOUT_MS = 30000;

describe('process: exceptions thrown by cleanups', function () {
  // One child serves the two tests that read its report.
  let handled;
  const runHandled = () => (handled ??= runClean('process-throw-handled.js').then(({ report }) => report));

  it('with an uncaughtException listener, the listener gets the same error once and the rest of the batch runs', async function () {
    const r = await runHandled();
    assert.equal(r.done, true, 'the three cleanups never all ran');
    assert.equal(r.ran, 3);
    // Precondition of the scenario: all three were delivered in one batch
    // (a tick queued by the first ran only after all three), so the throw
    // happened in the middle of a batch.
    assert.equal(r.ranWhenBatchReturned, 3, 'the three cleanups were not delivered in one batch');
    // Exactly one report, of the very object that was thrown, through
    // Node's standard path (origin 'uncaughtException').
    assert.deepEqual(r.caught, [
      { same: true, origin: 'uncaughtException', message: 'addcleanup fixture: cleanup failed' },
    ]);
    // The cleanup after the throwing one still ran.
    const throwAt = r.log.findIndex((entry) => entry.startsWith('throw '));
    assert.ok(throwAt >= 0, `no throw logged: ${r.log}`);
    assert.ok(
      r.log.slice(throwAt + 1).some((entry) => entry.startsWith('cleanup ')),
      `no cleanup ran after the throwing one: ${r.log}`,
    );
    assert.equal(r.log.filter((entry) => entry === 'handler').length, 1);
  });

  it('uncaughtExceptionMonitor sees the same error too (Node\'s standard path)', async function () {
    const r = await runHandled();
    assert.deepEqual(r.monitored, [{ same: true, origin: 'uncaughtException' }]);
  });

  it('10 of 100 cleanups in one batch throw: the listener sees exactly those 10 errors, all 100 run', async function () {
    const { report: r } = await runClean('process-throw-many.js');
    assert.equal(r.done, true, 'the 100 cleanups never all ran');
    assert.equal(r.ran, 100);
    const expected = [3, 13, 23, 33, 43, 53, 63, 73, 83, 93];
    assert.deepEqual(r.thrown, expected);
    // Each thrown error reached the listener exactly once, as the same object.
    assert.deepEqual(
      r.seen,
      expected.map((arg) => [arg, 1]),
    );
    assert.equal(r.strangers, 0, 'the listener got errors that no cleanup threw');
  });

  it('a thrown non-Error value (string, undefined, null, number, bigint, boolean, symbol, object) reaches the listeners as is', async function () {
    const { report: r } = await runClean('process-throw-values.js');
    assert.equal(r.done, true, 'the cleanups never all ran');
    assert.equal(r.ran, 9);
    assert.equal(r.received, 9);
    assert.deepEqual(r.caughtPerValue, [1, 1, 1, 1, 1, 1, 1, 1, 1]);
    assert.deepEqual(r.monitoredPerValue, [1, 1, 1, 1, 1, 1, 1, 1, 1]);
    assert.deepEqual(r.origins, ['uncaughtException']);
  });

  describe('without an uncaughtException listener the process dies like on any uncaught exception', function () {
    // Exit code 1 from Node's uncaught-exception path: not a signal, not an
    // abort (134), and 'exit' emitted with code 1.
    function assertDiedOfUncaught(result) {
      assertCleanExit(result, 1);
      assertNoCrashOutput(result);
      assert.doesNotMatch(result.stdout, /SURVIVED/, 'the throwing cleanup did not end the process');
      assert.match(result.stdout, /^exit 1 ran=1$/m, `'exit' not emitted with code 1:\n${result.stdout}`);
    }

    it('an Error: exit code 1, stderr shows "Error: <message>" and the stack of the throw', async function () {
      needs(this, 'uncaught exception ends the task');
      needs(this, 'exit event after an uncaught exception');
      const result = await runFixture('process-throw-unhandled.js', ['error'], { timeoutMs: CHILD_TIMEOUT_MS });
      assertDiedOfUncaught(result);
      assert.match(result.stderr, /^Error: addcleanup fixture: unhandled cleanup failure$/m);
      // The stack names the cleanup, where the error was thrown.
      assert.match(result.stderr, /^\s+at .*process-throw-unhandled\.js:\d+:\d+/m);
    });

    it('a thrown string: exit code 1, stderr shows the string', async function () {
      needs(this, 'uncaught exception ends the task');
      needs(this, 'exit event after an uncaught exception');
      const result = await runFixture('process-throw-unhandled.js', ['string'], { timeoutMs: CHILD_TIMEOUT_MS });
      assertDiedOfUncaught(result);
      assert.match(result.stderr, /^addcleanup fixture: a thrown string$/m);
    });

    it('an uncaughtExceptionMonitor sees the same error, and the process still dies with code 1', async function () {
      needs(this, 'uncaught exception ends the task');
      needs(this, 'exit event after an uncaught exception');
      const result = await runFixture('process-throw-unhandled.js', ['error', '--monitor'], {
        timeoutMs: CHILD_TIMEOUT_MS,
      });
      assertDiedOfUncaught(result);
      assert.match(result.stdout, /^monitor same=true origin=uncaughtException$/m);
      assert.match(result.stderr, /^Error: addcleanup fixture: unhandled cleanup failure$/m);
    });
  });
});

describe('process: keep-alive, exit and teardown', function () {
  it('10,000 registrations on live objects do not keep the process alive', async function () {
    // If they did, the child would never exit and runFixture would time out.
    const { report: r } = await runClean('process-keepalive.js');
    assert.deepEqual(r, { code: 0, liveRan: 0, droppedRan: 0 });
  });

  it('once queued cleanups have run, live registrations still do not keep the process alive', async function () {
    const { report: r } = await runClean('process-keepalive.js', ['after-drain']);
    assert.deepEqual(r, { code: 0, liveRan: 0, droppedRan: 1000 });
  });

  it('cleanups queued when the loop would go idle run before a natural exit (gc() as the last statement)', async function () {
    const { report: r } = await runClean('process-natural-drain.js');
    assert.equal(r.code, 0);
    assert.equal(r.ran, r.count, `only ${r.ran} of ${r.count} cleanups ran before the exit`);
  });

  it('process.exit() with 100,000 pending registrations exits with code 0, no signal, quiet', async function () {
    const { report: r } = await runClean('process-exit-pending.js');
    assert.deepEqual(r, { exitCode: 0, ran: 0 });
  });

  it('process.exit(7) with 100,000 pending registrations exits with code 7', async function () {
    const { report: r } = await runClean('process-exit-pending.js', ['7'], 7);
    assert.deepEqual(r, { exitCode: 7, ran: 0 });
  });

  it('process.exit() right after gc() (deaths found, no cleanup run) is clean', async function () {
    const { report: r } = await runClean('process-exit-queued.js', ['sync']);
    assert.equal(r.code, 0);
    assert.equal(r.ran, 0);
    // Precondition: where finalizers run inside the GC, gc() itself queued
    // all 5,000; where they are deferred, none had reached the addon yet.
    assert.equal(r.queued, r.finalizersInGc ? 5000 : 0);
  });

  it('process.exit() with 5,000 cleanups queued but not run is clean', async function () {
    needs(this, 'a turn between finalizer and delivery');
    const { report: r } = await runClean('process-exit-queued.js', ['queued']);
    assert.equal(r.code, 0);
    assert.equal(r.ran, 0);
    // Precondition: all 5,000 were in the addon's queue at exit.
    assert.equal(r.pending, 0);
    assert.equal(r.queued, 5000);
  });

  it('process.exit(0) from the 5,000th of 10,000 cleanups in flight exits cleanly', async function () {
    const { report: r } = await runClean('process-exit-in-cleanup.js');
    assert.equal(r.code, 0);
    assert.equal(r.ran, 5000, 'process.exit() from a cleanup did not stop delivery at once');
    assert.equal(r.ranAfterExit, 0);
    assert.ok(r.ran < r.count);
  });

  it('a cleanup throws, the uncaughtException listener swallows it, the process exits naturally with code 0', async function () {
    const { report: r } = await runClean('process-throw-then-exit.js');
    assert.equal(r.code, 0);
    assert.equal(r.ran, r.count, 'not every cleanup ran before the exit');
    assert.deepEqual(r.caught, [true]);
  });

  it('process.exitCode is honoured at a natural exit with pending and queued registrations', async function () {
    const { report: r } = await runClean('process-exitcode.js', [], 3);
    assert.deepEqual(r, { code: 3, liveRan: 0, droppedRan: 1000 });
  });

  it('teardown with 200,000 pending registrations and 3,000 objects dying in the exit handler is clean', async function () {
    const { report: r } = await runClean('process-teardown.js');
    // The 3,000 early ones ran before 'exit'; the ones that died in the
    // 'exit' handler cannot run any more (no loop turn is left), and nothing
    // must run during teardown.
    assert.deepEqual(r, { code: 0, liveRan: 0, earlyRan: 3000, lateRan: 0 });
  });

  it('an object that dies in a beforeExit handler still gets its cleanup before the exit', async function () {
    needs(this, 'a death found at exit');
    const { report: r } = await runClean('process-before-exit.js');
    assert.equal(r.code, 0);
    assert.equal(r.ran, 1, `the cleanup did not run before the exit: ${JSON.stringify(r.log)}`);
    // The queued cleanup kept the loop alive after the first 'beforeExit';
    // when it had run, the loop went idle again and 'beforeExit' fired again.
    assert.deepEqual(r.log, ['beforeExit', 'cleanup x', 'beforeExit']);
  });
});

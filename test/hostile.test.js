'use strict';
// Issue 4, item 6: hostile calls on the raw native binding. The binding is
// reachable from JavaScript (require('addcleanup/dist/engine/index').engine, or
// the .node file itself), so no call may crash or abort the process: each
// one returns a sane value or throws a JavaScript Error. Here every function
// it exports is called with every kind of wrong value and in every way,
// forged and stale ids are passed to stop(), `setup` is given odd `deliver`
// functions, a fresh instance is used before its setup, and the binding is
// called while its environment goes away (process 'exit' handlers, worker
// process.exit(), worker.terminate() in the middle of a call).
//
// Every scenario runs in a child process (test/fixtures/hostile-*.js) so
// that a crash fails one test instead of killing mocha. The children print
// what each call did; the exact outcome of each call is asserted here, from
// what native/addon.cc promises:
//   setup(deliver)   TypeError ERR_INVALID_ARG_TYPE unless a function; Error
//                    ERR_ADDCLEANUP_ALREADY_SET_UP once set up
//   register(ptr)    an id (safe integer >= 0) for an object or function;
//                    TypeError ERR_INVALID_ARG_TYPE otherwise
//   stop(id)         a boolean for any number (false unless it names a
//                    pending registration); TypeError ERR_INVALID_ARG_TYPE
//                    otherwise
//   reap(slots)      undefined for any Uint32Array (slots whose state word
//                    does not say "stopped" are ignored); TypeError
//                    ERR_INVALID_ARG_TYPE otherwise
//   counts()         [pending, queued], whatever it is given
//   triggerUncaughtException(value)  reports exactly `value` like an
//                    uncaught exception; returns when a listener handled it
// `this` is ignored; extra arguments are ignored; `new` returns an object.
const assert = require('node:assert/strict');
const { runFixture, assertCleanExit, assertNoCrashOutput, needs, runClean } = require('./helpers');
const { CALLS: TERMINATE_CALLS, PUBLIC: TERMINATE_PUBLIC } = require('./fixtures/hostile-worker');

// Below mocha's 60 s, so that a hung child fails with its output.
const CHILD_TIMEOUT_MS = 30000;

// A child meant to die of an uncaught exception: Node's exit code, never a
// signal or a crash.
async function runDying(name, args, expectedCode) {
  const result = await runFixture(name, args, { timeoutMs: CHILD_TIMEOUT_MS });
  assertCleanExit(result, expectedCode);
  assertNoCrashOutput(result);
  return result;
}

// ---------------------------------------------------------------------------

describe('hostile: forged and stale ids, and register before setup', function () {
  before(function () {
    needs(this, 'the native binding');
  });

  let run;
  const ids = async () => (await (run ??= runClean('hostile-ids.js'))).report;

  it('stop(-0) is stop(0); an id with another generation (±2^32, max generation, 2^21 * 2^32, ±0.5, negated, +2^53) stops nothing', async function () {
    const r = await ids();
    assert.equal(r.firstId, 0, 'precondition: the first registration of the process has id 0');
    assert.equal(r.stopMinusZero, true);
    assert.equal(r.stopFirstAgain, false);
    assert.notEqual(r.secondId, r.firstId, 'a reused slot must get a new id');
    assert.equal(r.stopOldGeneration, false, 'the id of a stopped registration stopped its successor');
    assert.deepEqual(r.stopBadGenerations, new Array(9).fill(false));
    assert.deepEqual(r.countsWhileLive, [1, 0]);
    assert.equal(r.stopSecond, true);
    assert.equal(r.stopSecondAgain, false);
  });

  it('ids of registrations that already ran stop nothing, even once their slots are reused', async function () {
    const r = await ids();
    assert.equal(r.runDelivered, true);
    assert.deepEqual(r.stopRun, [false, false, false, false, false]);
    assert.equal(r.reusedSlots, true, 'precondition: the new registrations reuse the slots');
    assert.deepEqual(r.stopRunAfterReuse, [false, false, false, false, false]);
    assert.deepEqual(r.countsAfterReuse, [5, 0], 'an old id cancelled a new registration');
    assert.deepEqual(r.stopReused, [true, true, true, true, true]);
    assert.deepEqual(r.countsEnd, [0, 0]);
  });

  it('fresh instance: 3,000 deaths before setup wait in its queue (their ids no longer stop), and setup delivers each exactly once, in batches of at most 1,024', async function () {
    const r = await ids();
    assert.equal(r.freshQueuedAll, true);
    assert.deepEqual(r.freshCountsBeforeSetup, [2, 3000]);
    assert.equal(r.freshStopQueued, 0, 'a queued registration was stopped');
    assert.deepEqual(r.freshCountsAfterStops, [2, 3000]);
    assert.deepEqual(r.freshSetup, { returned: 'undefined' });
    assert.equal(r.freshSetupAgain.threw?.code, 'ERR_ADDCLEANUP_ALREADY_SET_UP');
    assert.equal(r.freshDelivered, true);
    assert.equal(r.freshBadCalls, 0, 'deliver was called without a Uint32Array');
    assert.equal(r.freshDeliveredCount, 3000);
    assert.equal(r.freshDeliveredDistinct, 3000);
    assert.equal(r.freshDeliveredAreTheQueued, true);
    assert.ok(r.freshMaxBatch <= 1024, `a batch of ${r.freshMaxBatch}`);
    // deliver is called with `this` undefined: the async scope is entered in
    // JavaScript (lib/core.ts), not by the native queue.
    assert.deepEqual(r.freshReceivers, ['undefined']);
    assert.deepEqual(r.freshCountsAfterDelivery, [2, 0]);
    assert.equal(r.freshStopDelivered, 0);
    assert.equal(r.freshLiveDelivered, 0, 'a live registration was delivered');
    assert.deepEqual(r.freshStopLive, [true, true]);
    assert.deepEqual(r.freshCountsEnd, [0, 0]);
  });
});

// ---------------------------------------------------------------------------

describe('hostile: the state words of stop() (fresh instances with page providers)', function () {
  before(function () {
    needs(this, 'the native binding');
  });

  let run;
  const pages = async () => (await (run ??= runClean('hostile-pages.js'))).report;

  it('setup(deliver, newPage): a non-function newPage is a TypeError ERR_INVALID_ARG_TYPE; a provider returning anything but an Int32Array of 4096 elements over a SharedArrayBuffer is refused with ERR_INVALID_RETURN_VALUE (a throwing one with its own error), at setup or at the first register; nothing is left half set up', async function () {
    const { badProviders } = await pages();
    const names = Object.keys(badProviders);
    assert.equal(names.length, 11);
    for (const name of names) {
      const p = badProviders[name];
      const refused = name === 'throws' ? 'Error hostile provider' : name === 'not a function' ? 'TypeError ERR_INVALID_ARG_TYPE' : 'TypeError ERR_INVALID_RETURN_VALUE';
      assert.equal(p.setup, refused, `${name}: setup`);
      assert.equal(p.retry, 'returned', `${name}: a plain setup after the refused one`);
      assert.equal(p.stop, true, `${name}: the registration made before setup`);
      if (name === 'not a function') {
        assert.equal(p.emptySetup, 'ERR_INVALID_ARG_TYPE');
        assert.equal(p.register, 'returned');
        assert.deepEqual(p.emptyCounts, [1, 0]);
      } else {
        // No registration yet: setup asks for no page, the first register does.
        assert.equal(p.emptySetup, 'returned', `${name}: setup of an empty instance`);
        assert.equal(p.register, refused, `${name}: register`);
        assert.deepEqual(p.emptyCounts, [0, 0], `${name}: a refused register left a registration`);
      }
    }
  });

  it('a provider that registers objects while it is asked for a page: every registration succeeds and is counted', async function () {
    const { reentrant } = await pages();
    assert.equal(reentrant.calls, 3);
    assert.deepEqual(reentrant.nested, new Array(10).fill('id'));
    assert.deepEqual(reentrant.outer, ['id', 'id', 'id']);
    assert.deepEqual(reentrant.counts, [13, 0]);
  });

  it('the protocol: generation * 8 + state; pending (1) after register, stopped (4) by JavaScript and freed by reap under the next generation, stopped-then-died not delivered, delivering (3) during deliver, free (0) after it', async function () {
    const { protocol: p } = await pages();
    assert.equal(p.pagesAfterRegister, 1);
    assert.deepEqual(p.pendingWords, [true, true, true]);
    assert.deepEqual(p.countsBeforeReap, [3, 0]);
    assert.equal(p.nativeStopOfJsStopped, false, 'stop(id) cancelled a registration JavaScript had already stopped');
    assert.deepEqual(p.countsAfterReap, [2, 0]);
    assert.equal(p.freedWord, true);
    assert.deepEqual(p.diedWhileStopped, { afterDeath: true, counts: [1, 0], word: true });
    assert.equal(p.deliveredStopped, false, 'a registration stopped through its word was delivered');
    assert.equal(p.reapedDead, true);
    assert.equal(p.deliveredNormal, true);
    assert.deepEqual(p.seenInDelivery, [3]);
    assert.equal(p.freedAfterDelivery, true);
    assert.deepEqual(p.countsEnd, [0, 0]);
    assert.equal(p.reusedWithNextGeneration, true);
    assert.equal(p.againStops, true);
  });

  it('random values in every word of 5,000 registrations (two pages), reaps of every slot, deaths and native stops: no crash, each registration ends exactly once (reaped, delivered or stopped), the instance still works', async function () {
    const { garbage: g } = await pages();
    assert.equal(g.pages, 2);
    assert.deepEqual(g.countsBefore, [5000, 0]);
    // Pending plus queued: where finalizers run inside the GC, a collection
    // during the reap's own allocations may already have queued the dead half.
    const alive = g.countsAfterFirstReap[0] + g.countsAfterFirstReap[1];
    assert.ok(alive < 5000 && alive > 0, `precondition: the garbage stopped some (${g.countsAfterFirstReap})`);
    assert.equal(g.delivered + g.stops, alive, 'registrations lost or counted twice');
    assert.ok(g.delivered > 0 && g.stops > 0);
    assert.equal(g.deliveredAtMostOnce, true);
    assert.deepEqual(g.countsEnd, [0, 0]);
    assert.deepEqual(g.afterwards, { stop: true, counts: [0, 0] });
  });
});

// ---------------------------------------------------------------------------

describe('hostile: odd deliver functions given to setup (fresh instances)', function () {
  before(function () {
    needs(this, 'the native binding');
  });

  const deliver = async (mode) => (await runClean('hostile-deliver.js', [mode])).report;

  it('a deliver that throws: each batch is consumed once, later deaths still arrive, the exception is swallowed (not reported as uncaught), clean exit', async function () {
    const r = await deliver('throws');
    assert.equal(r.firstDone, true);
    assert.equal(r.secondDone, true);
    assert.deepEqual(r.counts, [1, 1, 1, 1, 1]);
    assert.equal(r.delivered, 5);
    assert.deepEqual(r.countsEnd, [0, 0]);
    assert.equal(r.uncaught, 0);
  });

  it('a deliver that throws on the first of three batches: all 3,000 slots are still delivered exactly once (at the latest after the next death)', async function () {
    const r = await deliver('throwsBacklog');
    assert.equal(r.firstCall, true);
    assert.equal(r.done, true);
    assert.equal(r.delivered, 3001);
    assert.equal(r.eachOnce, true);
    assert.equal(r.extraInSecondPhase, 1);
    assert.deepEqual(r.countsEnd, [0, 0]);
    assert.equal(r.uncaught, 0);
  });

  it('a deliver that is a function Proxy: its apply trap gets (undefined, [Uint32Array, ...]) once per batch, each slot once', async function () {
    const r = await deliver('proxy');
    assert.equal(r.done, true);
    assert.deepEqual(r.shapes, ['undefined/true']);
    assert.ok(r.argcs.every((n) => n >= 1), `deliver called with ${r.argcs} arguments`);
    assert.deepEqual(r.counts, [1, 1, 1]);
    assert.deepEqual(r.countsEnd, [0, 0]);
    assert.equal(r.uncaught, 0);
  });

  it('a deliver that is a function Proxy whose every trap throws: batches are consumed, clean exit', async function () {
    const r = await deliver('proxyThrowingTraps');
    assert.deepEqual(r, { done: true, doneAgain: true, countsEnd: [0, 0], uncaught: 0 });
  });

  it('a deliver that is a Proxy revoked after setup: batches are consumed, clean exit', async function () {
    const r = await deliver('revoked');
    assert.deepEqual(r, { done: true, doneAgain: true, countsEnd: [0, 0], uncaught: 0 });
  });

  it('native functions as deliver (another instance\'s stop, its own setup, counts and triggerUncaughtException, gc): no crash; triggerUncaughtException reports the Uint32Array of slots once', async function () {
    const r = await deliver('nativeFunctions');
    assert.equal(r.done, true);
    for (const [name, counts] of Object.entries(r.countsEnd)) assert.deepEqual(counts, [0, 0], name);
    assert.deepEqual(r.triggerReported, [1, 1]);
    assert.equal(r.otherReports, 0);
    assert.equal(r.uncaught, 1);
    assert.deepEqual(r.mainCounts, [0, 0], 'the package\'s instance was disturbed');
  });

  it('a deliver that detaches (transfers away) the ArrayBuffer it was given: later batches are unaffected', async function () {
    const r = await deliver('detach');
    assert.equal(r.done, true);
    assert.deepEqual(r.counts, [1, 1, 1, 1, 1, 1]);
    assert.equal(r.delivered, 6);
    assert.deepEqual(r.keptLengths, [0]);
    assert.deepEqual(r.countsEnd, [0, 0]);
  });

  it('a deliver that re-enters the binding (register, stop, counts, setup, gc): a chain of 5 deaths is delivered one by one', async function () {
    const r = await deliver('reentrant');
    assert.equal(r.done, true);
    assert.equal(r.calls, 6);
    assert.deepEqual(r.slotsPerCall, [1]);
    assert.deepEqual(r.setupAgain, ['ERR_ADDCLEANUP_ALREADY_SET_UP']);
    assert.equal(r.anyStaleStopped, false);
    assert.deepEqual(r.countsEnd, [0, 0]);
    assert.equal(r.uncaught, 0);
  });
});

// ---------------------------------------------------------------------------

describe('hostile: triggerUncaughtException without a listener (Node\'s own rules, never a crash)', function () {
  before(function () {
    needs(this, 'the native binding');
  });

  for (const value of [
    'undefined',
    'symbol',
    '2n^64',
    'revoked Proxy',
    'Proxy whose traps all throw',
    'object whose coercion throws',
    'error with throwing getters',
    'error marked',
  ]) {
    it(`${value}: the process dies of it with exit code 1, no signal, nothing after the call runs`, async function () {
      needs(this, 'uncaught exception ends the task');
      const result = await runDying('hostile-trigger.js', [value], 1);
      assert.doesNotMatch(result.stdout, /END OF SCRIPT/, 'the call returned');
      if (value === 'error marked') assert.match(result.stderr, /addcleanup hostile marker/);
    });
  }

  it('a listener that throws: exit code 7, as for any uncaught exception', async function () {
    needs(this, 'exit code 7 for a throwing listener');
    const result = await runDying('hostile-trigger.js', ['throwing-listener'], 7);
    assert.match(result.stderr, /the listener throws/);
    assert.doesNotMatch(result.stdout, /END OF SCRIPT/);
  });

  it('from an \'exit\' handler: printed, exit code 1, the handler does not go on', async function () {
    const result = await runDying('hostile-trigger.js', ['in-exit-handler'], 1);
    assert.match(result.stdout, /EXIT HANDLER/);
    assert.doesNotMatch(result.stdout, /AFTER IN EXIT HANDLER/);
    assert.match(result.stderr, /addcleanup hostile: from exit/);
  });
});

// ---------------------------------------------------------------------------

describe('hostile: the binding while its environment goes away', function () {
  before(function () {
    needs(this, 'the native binding');
  });

  // What exercise() in hostile-exit.js must observe, per instance.
  const exercised = (label) => ({
    [`${label} register`]: 'number',
    [`${label} register(1)`]: 'ERR_INVALID_ARG_TYPE',
    [`${label} stop(id)`]: true,
    [`${label} stop(id) again`]: false,
    [`${label} stop('x')`]: 'ERR_INVALID_ARG_TYPE',
    [`${label} stop(NaN)`]: false,
    [`${label} setup(1)`]: 'ERR_INVALID_ARG_TYPE',
    [`${label} counts`]: true,
    [`${label} trigger`]: { returned: 'undefined' },
    [`${label} trigger reported`]: true,
  });
  const exitHandlerReport = (code, extra = {}) => ({
    code,
    ...extra,
    ...exercised('main'),
    'main setup(fn)': 'ERR_ADDCLEANUP_ALREADY_SET_UP',
    'fresh setup(fn)': { returned: 'undefined' },
    ...exercised('fresh'),
    'public stop': true,
  });

  it('process \'exit\' handler (natural exit): every function of the package\'s instance and of a fresh one loaded there behaves, objects die into teardown, exit code 0', async function () {
    const { report } = await runClean('hostile-exit.js', ['exit-handler'], 0);
    assert.deepEqual(report, exitHandlerReport(0));
  });

  it('process.exit(5) from a cleanup with 1,999 more queued, then the same calls from the \'exit\' handler: exit code 5, no queued cleanup can be stopped', async function () {
    needs(this, 'one backlog per collection');
    const { report } = await runClean('hostile-exit.js', ['exit-from-cleanup'], 5);
    assert.deepEqual(report, exitHandlerReport(5, { ran: 1, stopped: 0 }));
  });

  it('process.exit(3) from inside the \'exit\' handler after the same calls: exit code 3', async function () {
    const { report } = await runClean('hostile-exit.js', ['exit-nested'], 3);
    assert.deepEqual(report, exitHandlerReport(0));
  });

  it('instances never set up, with 1,000 pending and up to 2,000 queued registrations each, and more deaths at exit: clean natural exit', async function () {
    const { report } = await runClean('hostile-exit.js', ['fresh-never-setup'], 0);
    assert.equal(report.code, 0);
    assert.equal(report.queued, true);
    for (const [pending, queued] of report.counts) {
      assert.equal(pending, 1000);
      assert.ok(queued >= 1000 && queued <= 2000, `queued ${queued}`);
    }
    assert.deepEqual(report.main, [0, 0]);
  });

  it('worker terminated while idle, with pending registrations and queued ones on a never-set-up instance (5 times): exit code 1 each, clean', async function () {
    const { report } = await runClean('hostile-worker.js', ['idle'], 0);
    assert.deepEqual(report, { mode: 'idle', runs: 5, exitCodes: [1], errors: [] });
  });

  it('worker process.exit(0) from a cleanup, then binding calls from its \'exit\' handler (5 times): exit code 0 each, every call behaves', async function () {
    const { report, result } = await runClean('hostile-worker.js', ['exit'], 0);
    assert.deepEqual(report, { mode: 'exit', runs: 5, exitCodes: [0], errors: [] });
    const exits = result.stdout
      .split('\n')
      .filter((line) => line.startsWith('WORKER-EXIT '))
      .map((line) => JSON.parse(line.slice('WORKER-EXIT '.length)));
    assert.equal(exits.length, 5);
    for (const out of exits) {
      assert.deepEqual(out, {
        'main stop': true,
        'main bad stop': 'ERR_INVALID_ARG_TYPE',
        'main bad register': 'ERR_INVALID_ARG_TYPE',
        'main counts': true,
        'fresh stop': true,
        'fresh bad stop': 'ERR_INVALID_ARG_TYPE',
        'fresh bad register': 'ERR_INVALID_ARG_TYPE',
        'fresh counts': true,
        freshSetup: { returned: 'undefined' },
      });
    }
  });

  // worker.terminate() makes Node refuse JavaScript in the worker (every
  // Node-API call that needs it fails) before V8 actually stops it; a call
  // that is running or starts in that window must give up quietly.
  for (const call of [...TERMINATE_CALLS, TERMINATE_PUBLIC]) {
    it(`worker.terminate() in the middle of a native call, followed at once by ${call}: no abort, worker exit code 1`, async function () {
      const { report } = await runClean('hostile-worker.js', ['terminate-during', call], 0);
      // conclusive: the termination did land before the call (else the
      // scenario did not happen at all, even after a few attempts).
      assert.deepEqual(report, { mode: 'terminate-during', call, conclusive: true, exitCode: 1, errors: [] });
    });
  }
});

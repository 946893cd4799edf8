'use strict';
// Tracing: every cleanup run is published on the
// `addcleanup:cleanup` TracingChannel of node:diagnostics_channel while it
// has subscribers, following Node's conventions: start and end around the
// call, error when it throws or its promise rejects, asyncStart and asyncEnd
// when its promise settles; one context object per run, carrying cleanup,
// arg, waitedMs, and result or error.
const assert = require('node:assert/strict');
const path = require('node:path');
const { AsyncLocalStorage } = require('node:async_hooks');
const { once } = require('node:events');
const diagnosticsChannel = require('node:diagnostics_channel');
const { Worker } = require('node:worker_threads');
const {
  requireGc,
  turn,
  turns,
  until,
  inScope,
  afterFinalizers,
  needs,
  withOnlyListener,
  runFixture,
  assertCleanExit,
  parseResult,
  flush,
  registerDropped,
  busy,
} = require('./helpers');
const { addCleanup, drainCleanups, cleanupStats } = require('..');
const testing = require('addcleanup/testing');

const gc = requireGc();
const channel = diagnosticsChannel.tracingChannel('addcleanup:cleanup');
const EVENTS = ['start', 'end', 'asyncStart', 'asyncEnd', 'error'];

// Subscribes to all five events for the duration of fn, recording
// [event, context] pairs; always unsubscribes.
async function traced(fn) {
  const log = [];
  const handlers = Object.fromEntries(EVENTS.map((event) => [event, (context) => log.push([event, context])]));
  channel.subscribe(handlers);
  try {
    return await fn(log);
  } finally {
    channel.unsubscribe(handlers);
  }
}

// The events of one context, in order.
function eventsOf(log, context) {
  return log.filter(([, c]) => c === context).map(([event]) => event);
}

describe('tracing: the addcleanup:cleanup channel of node:diagnostics_channel', function () {
  it('a synchronous cleanup: start then end, with one context carrying cleanup, arg, waitedMs and result', async function () {
    await flush();
    await traced(async (log) => {
      const cleanup = (arg) => `closed ${arg.fd}`;
      const arg = { fd: 7 };
      inScope(() => addCleanup({}, cleanup, arg));
      await until(() => log.length === 2, { what: 'the two events' });
      const [[first, context], [second, sameContext]] = log;
      assert.deepEqual([first, second], ['start', 'end']);
      assert.equal(sameContext, context, 'every event of one run must carry the same context');
      assert.equal(context.cleanup, cleanup);
      assert.equal(context.arg, arg);
      assert.equal(typeof context.waitedMs, 'number');
      assert.ok(context.waitedMs >= 0 && Number.isFinite(context.waitedMs), `waitedMs ${context.waitedMs}`);
      assert.equal(context.result, 'closed 7');
      assert.equal('error' in context, false);
    });
  });

  it('start is published before the cleanup is called and end after it returns', async function () {
    await flush();
    await traced(async (log) => {
      const seenInCleanup = [];
      registerDropped(1, () => seenInCleanup.push(log.map(([event]) => event)));
      await until(() => log.length === 2, { what: 'the two events' });
      assert.deepEqual(seenInCleanup, [['start']]);
    });
  });

  it('a cleanup that throws: start, error (context.error is the thrown value), end; the exception still reaches uncaughtException', async function () {
    await flush();
    await withOnlyListener('uncaughtException', async (uncaught) => {
      await traced(async (log) => {
        const thrown = new Error('tracing: cleanup failed');
        registerDropped(1, () => {
          throw thrown;
        });
        await until(() => log.length === 3, { what: 'the three events' });
        const context = log[0][1];
        assert.deepEqual(eventsOf(log, context), ['start', 'error', 'end']);
        assert.equal(context.error, thrown);
        assert.equal('result' in context, false);
        assert.deepEqual(
          uncaught.map(({ value }) => value),
          [thrown],
        );
      });
    });
  });

  it('an async cleanup that fulfils: start, end at its return, then asyncStart and asyncEnd with context.result the fulfilled value', async function () {
    await flush();
    await traced(async (log) => {
      let resolve;
      registerDropped(1, () => new Promise((res) => (resolve = res)));
      await until(() => log.length === 2, { what: 'start and end' });
      const context = log[0][1];
      assert.deepEqual(eventsOf(log, context), ['start', 'end']);
      assert.equal('result' in context, false, 'the promise is not the result');
      await turns(3);
      assert.equal(log.length, 2, 'asyncStart came before the promise settled');
      resolve('flushed');
      await turns(1);
      assert.deepEqual(eventsOf(log, context), ['start', 'end', 'asyncStart', 'asyncEnd']);
      assert.equal(context.result, 'flushed');
      assert.equal(cleanupStats().running, 0);
    });
  });

  it('an async cleanup that rejects: start, end, then error, asyncStart, asyncEnd with context.error the reason', async function () {
    await flush();
    await withOnlyListener('unhandledRejection', async (unhandled) => {
      await traced(async (log) => {
        const reason = new Error('tracing: async close failed');
        registerDropped(1, async () => {
          await turn();
          throw reason;
        });
        await until(() => log.length === 5 && unhandled.length === 1, { what: 'the five events' });
        const context = log[0][1];
        assert.deepEqual(eventsOf(log, context), ['start', 'end', 'error', 'asyncStart', 'asyncEnd']);
        assert.equal(context.error, reason);
        assert.deepEqual(
          unhandled.map(({ value }) => value),
          [reason],
        );
      });
    });
  });

  it('publishes only while subscribed: one run per cleanup, none before subscribing or after unsubscribing', async function () {
    await flush();
    let ran = 0;
    const starts = [];
    const onStart = (context) => starts.push(context.arg);
    registerDropped(3, () => ran++, (i) => `before ${i}`);
    await until(() => ran === 3, { what: 'the first cleanups' });
    channel.start.subscribe(onStart);
    try {
      registerDropped(4, () => ran++, (i) => `during ${i}`);
      await until(() => ran === 7, { what: 'the traced cleanups' });
    } finally {
      channel.start.unsubscribe(onStart);
    }
    registerDropped(2, () => ran++, (i) => `after ${i}`);
    await until(() => ran === 9, { what: 'the last cleanups' });
    assert.deepEqual(starts.sort(), ['during 0', 'during 1', 'during 2', 'during 3']);
  });

  it('a subscriber to one event only (asyncEnd) is enough to trace', async function () {
    await flush();
    const ends = [];
    const onAsyncEnd = (context) => ends.push(context.result);
    channel.asyncEnd.subscribe(onAsyncEnd);
    try {
      registerDropped(2, async (i) => i * 10);
      await until(() => ends.length === 2, { what: 'the asyncEnd events' });
    } finally {
      channel.asyncEnd.unsubscribe(onAsyncEnd);
    }
    assert.deepEqual(ends.sort(), [0, 10]);
  });

  it('waitedMs is the time between the registration being found dead and its cleanup starting: a loop held back 60 ms shows at least that', async function () {
    needs(this, 'a turn between finalizer and delivery');
    await flush();
    await traced(async (log) => {
      registerDropped(3, () => {});
      gc();
      await afterFinalizers();
      // Queued now, delivered in the next poll phase: hold the loop back.
      const queued = cleanupStats().queued;
      assert.equal(queued, 3, 'the three objects were not all found dead by one gc()');
      busy(60);
      await until(() => log.filter(([event]) => event === 'start').length === 3, { what: 'the three runs' });
      for (const [event, context] of log) {
        if (event === 'start') assert.ok(context.waitedMs >= 55, `waitedMs ${context.waitedMs} < 55`);
      }
    });
  });

  it('waitedMs counts the time spent behind earlier cleanups: the cleanups after a 60 ms one in its batch waited at least that much more', async function () {
    await flush();
    await traced(async (log) => {
      let first = true;
      registerDropped(3, () => {
        if (first) busy(60);
        first = false;
      });
      await until(() => log.filter(([event]) => event === 'start').length === 3, { what: 'the three runs' });
      const waited = log.filter(([event]) => event === 'start').map(([, context]) => context.waitedMs);
      assert.ok(waited[1] >= waited[0] + 55, `waitedMs ${waited}: the second cleanup did not wait behind the first`);
      assert.ok(waited[2] >= waited[0] + 55, `waitedMs ${waited}: the third cleanup did not wait behind the first`);
    });
  });

  it('a store bound to start is entered around the call and kept by the async continuation (APM span propagation)', async function () {
    await flush();
    const als = new AsyncLocalStorage();
    channel.start.bindStore(als, (context) => ({ span: context.arg }));
    const seen = [];
    const onAsyncEnd = () => seen.push(['asyncEnd', als.getStore()?.span]);
    channel.asyncEnd.subscribe(onAsyncEnd);
    try {
      registerDropped(
        1,
        async (arg) => {
          seen.push(['call', als.getStore()?.span]);
          await turn();
          seen.push(['after await', als.getStore()?.span]);
        },
        () => 'span-1',
      );
      await until(() => seen.length === 3, { what: 'the async cleanup' });
    } finally {
      channel.asyncEnd.unsubscribe(onAsyncEnd);
      channel.start.unbindStore(als);
    }
    assert.deepEqual(seen, [
      ['call', 'span-1'],
      ['after await', 'span-1'],
      ['asyncEnd', 'span-1'],
    ]);
  });

  it('a subscriber that throws does not stop the cleanup, nor the others of its batch', async function () {
    await flush();
    const onStart = () => {
      throw new Error('tracing: subscriber failed');
    };
    const failedBefore = cleanupStats().failed;
    let ran = 0;
    const uncaught = await withOnlyListener('uncaughtException', async (seen) => {
      channel.start.subscribe(onStart);
      try {
        registerDropped(5, () => ran++);
        await until(() => ran === 5, { what: 'the cleanups' });
        await turns(2);
      } finally {
        channel.start.unsubscribe(onStart);
      }
      return seen.map(({ value }) => value);
    });
    assert.equal(ran, 5);
    // diagnostics_channel reports a subscriber's exception itself, once per
    // publish; it is not the cleanup's failure.
    assert.equal(uncaught.length, 5);
    assert.ok(uncaught.every((error) => error.message === 'tracing: subscriber failed'));
    assert.equal(cleanupStats().failed, failedBefore);
  });

  it('debug mode traces too (child process with ADDCLEANUP_DEBUG=1)', async function () {
    const result = await runFixture('tracing-child.js', [], { env: { ADDCLEANUP_DEBUG: '1' }, timeoutMs: 30000 });
    assertCleanExit(result);
    assert.deepEqual(parseResult(result), { events: ['start', 'end', 'asyncStart', 'asyncEnd'], result: 'done' });
  });

  it('each worker thread has its own channel events and async cleanups: neither thread sees the other\'s', async function () {
    await flush();
    await traced(async (log) => {
      const worker = new Worker(path.join(__dirname, 'fixtures', 'tracing-worker.js'));
      const exited = new Promise((resolve, reject) => {
        worker.once('error', reject);
        worker.once('exit', resolve);
      });
      // The worker's messages are awaited as events (once() rejects on the
      // worker's 'error'), not polled with collection rounds: how long the
      // worker takes (slow under the sanitizers' build) has nothing to do
      // with this thread's GCs. Mocha's timeout bounds the wait.
      const [subscribed] = await once(worker, 'message');
      assert.equal(subscribed, 'subscribed');
      // This thread's cleanups, while the worker is subscribed.
      registerDropped(5, () => {}, (i) => `main ${i}`);
      assert.equal(await testing.collect(), 5);
      worker.postMessage('go');
      const [report] = await once(worker, 'message');
      assert.equal(await exited, 0);
      // The worker traced its own 5 async cleanups, saw them running and
      // drained them; none of this thread's events reached it.
      assert.deepEqual(report, {
        starts: ['worker 0', 'worker 1', 'worker 2', 'worker 3', 'worker 4'],
        asyncEnds: 5,
        runningBefore: 5,
        drained: true,
        runningAfter: 0,
      });
      const args = log.filter(([event]) => event === 'start').map(([, context]) => context.arg);
      assert.deepEqual(args.sort(), ['main 0', 'main 1', 'main 2', 'main 3', 'main 4']);
      assert.equal(cleanupStats().running, 0);
    });
  });
});

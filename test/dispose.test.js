'use strict';
// A Cleanup handle is Disposable and AsyncDisposable: [Symbol.dispose]() runs
// a pending registration's cleanup now, once, as the caller's own call;
// anything else (stopped, queued, run, disposed) does nothing.
const assert = require('node:assert/strict');
const diagnosticsChannel = require('node:diagnostics_channel');
const {
  requireGc,
  until,
  settle,
  turns,
  inScope,
  needs,
  withOnlyListener,
  flush,
  deferred,
  microtasks,
  deadAndQueued,
} = require('./helpers');
const { addCleanup, cleanupStats, drainCleanups } = require('..');

const gc = requireGc();
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;

// The counters' change since `base`.
function delta(base) {
  const now = cleanupStats();
  return Object.fromEntries(Object.keys(base).map((key) => [key, now[key] - base[key]]));
}

describe('Cleanup[Symbol.dispose]()', function () {
  it('a pending handle runs its cleanup now, once, with this undefined and arg its only argument; returns undefined', async function () {
    const base = await flush();
    const calls = [];
    const ptr = {};
    const handle = addCleanup(
      ptr,
      function (...args) {
        calls.push({ self: this, args });
      },
      'fd 7',
    );
    assert.equal(handle[Symbol.dispose](), undefined);
    assert.deepEqual(calls, [{ self: undefined, args: ['fd 7'] }]);
    assert.deepEqual(delta(base), { pending: 0, queued: 0, running: 0, executed: 1, stopped: 0, failed: 0 });
    assert.equal(handle.stop(), false, 'stop() after disposal');
    handle[Symbol.dispose]();
    assert.equal(calls.length, 1, 'a second disposal runs nothing');
    void ptr;
  });

  it('the collector can no longer run a disposed registration once its object dies', async function () {
    await flush();
    let ran = 0;
    inScope(() => addCleanup({}, () => ran++, 0)[Symbol.dispose]());
    assert.equal(ran, 1);
    await settle(4);
    assert.equal(ran, 1);
  });

  it('after stop() and after the collector ran it, disposal runs nothing', async function () {
    const base = await flush();
    let ran = 0;
    const count = () => ran++;
    const stopped = addCleanup({}, count, 'stopped');
    assert.equal(stopped.stop(), true);
    stopped[Symbol.dispose]();
    assert.equal(ran, 0);
    let collected;
    inScope(() => {
      collected = addCleanup({}, count, 'collected');
    });
    await until(() => ran === 1, { what: 'the collector run' });
    collected[Symbol.dispose]();
    await settle(2);
    assert.equal(ran, 1);
    assert.equal(delta(base).stopped, 1);
  });

  it('while the collector has it queued, disposal runs nothing and the queued run still happens, once', async function () {
    needs(this, 'a turn between finalizer and delivery');
    await flush();
    let ran = 0;
    let queued;
    inScope(() => {
      queued = addCleanup({}, () => ran++, 'queued');
    });
    await deadAndQueued(1, cleanupStats(), 'the queued object');
    queued[Symbol.dispose]();
    assert.equal(ran, 0, 'disposal did not run a queued cleanup');
    await until(() => ran === 1, { what: "the collector's queued run" });
    await settle(2);
    assert.equal(ran, 1);
  });

  it('a cleanup that throws throws to the caller, not to uncaughtException, and counts as executed and failed', async function () {
    const base = await flush();
    const boom = new Error('release failed');
    await withOnlyListener('uncaughtException', async (seen) => {
      const handle = addCleanup(
        {},
        () => {
          throw boom;
        },
        0,
      );
      assert.throws(() => handle[Symbol.dispose](), (error) => error === boom);
      handle[Symbol.dispose](); // nothing left to run: no second throw
      await turns(3);
      assert.deepEqual(seen, []);
    });
    assert.deepEqual(delta(base), { pending: 0, queued: 0, running: 0, executed: 1, stopped: 0, failed: 1 });
  });

  it('an async cleanup disposed synchronously counts as running until it settles; drainCleanups() waits for it; its rejection is reported as an unhandled rejection, once', async function () {
    const base = await flush();
    const gate = deferred();
    let settledAfter = false;
    const handle = addCleanup(
      {},
      async () => {
        await gate.promise;
        settledAfter = true;
      },
      0,
    );
    handle[Symbol.dispose]();
    assert.equal(cleanupStats().running - base.running, 1);
    const drained = drainCleanups({ timeoutMs: 60000 });
    await turns(3);
    assert.equal(settledAfter, false);
    gate.resolve();
    assert.equal(await drained, true);
    assert.equal(settledAfter, true);
    assert.deepEqual(delta(base), { pending: 0, queued: 0, running: 0, executed: 1, stopped: 0, failed: 0 });

    const reason = new Error('async release failed');
    await withOnlyListener('unhandledRejection', async (seen) => {
      addCleanup({}, () => Promise.reject(reason), 0)[Symbol.dispose]();
      await drainCleanups();
      await turns(3);
      assert.equal(seen.length, 1);
      assert.equal(seen[0].value, reason);
    });
    assert.equal(delta(base).failed, 1);
  });

  it('the package holds neither cleanup nor arg after disposal (a WeakRef to the arg is cleared while the handle and object live)', async function () {
    await flush();
    const ptr = {};
    let handle;
    let argRef;
    inScope(() => {
      const arg = { fd: 3 };
      argRef = new WeakRef(arg);
      handle = addCleanup(ptr, () => {}, arg);
    });
    handle[Symbol.dispose]();
    await until(() => argRef.deref() === undefined, { what: 'the arg collected' });
    void [ptr, handle];
  });

  it('the tracing channel sees an explicit run: start and end, explicit: true, waitedMs 0; collector runs say explicit: false', async function () {
    await flush();
    const channel = diagnosticsChannel.tracingChannel('addcleanup:cleanup');
    const log = [];
    const handlers = Object.fromEntries(
      ['start', 'end', 'asyncStart', 'asyncEnd', 'error'].map((event) => [event, (context) => log.push([event, context])]),
    );
    channel.subscribe(handlers);
    try {
      const cleanup = (arg) => `closed ${arg}`;
      addCleanup({}, cleanup, 'x')[Symbol.dispose]();
      assert.deepEqual(
        log.map(([event]) => event),
        ['start', 'end'],
      );
      const [, context] = log[0];
      assert.equal(log[1][1], context);
      assert.deepEqual(
        { cleanup: context.cleanup, arg: context.arg, waitedMs: context.waitedMs, explicit: context.explicit, result: context.result },
        { cleanup, arg: 'x', waitedMs: 0, explicit: true, result: 'closed x' },
      );
      log.length = 0;
      inScope(() => addCleanup({}, cleanup, 'y'));
      await until(() => log.length === 2, { what: 'the collector run traced' });
      assert.equal(log[0][1].explicit, false);
    } finally {
      channel.unsubscribe(handlers);
    }
  });
});

describe('Cleanup[Symbol.asyncDispose]()', function () {
  it('waits for an async cleanup and settles with it', async function () {
    const base = await flush();
    const gate = deferred();
    let done = false;
    const handle = addCleanup(
      {},
      async (n) => {
        await gate.promise;
        done = n;
      },
      5,
    );
    let resolved = false;
    const disposal = handle[Symbol.asyncDispose]().then((value) => {
      resolved = true;
      return value;
    });
    await microtasks();
    assert.equal(resolved, false);
    assert.equal(cleanupStats().running - base.running, 1);
    gate.resolve();
    assert.equal(await disposal, undefined);
    assert.equal(done, 5);
    assert.equal(cleanupStats().running, base.running);
    // Nothing to run: resolves at once.
    assert.equal(await handle[Symbol.asyncDispose](), undefined);
  });

  it('a rejection reaches the caller, and no unhandledRejection is raised; a synchronous throw rejects the promise', async function () {
    const base = await flush();
    const reason = new Error('async close failed');
    const thrown = new Error('sync close failed');
    await withOnlyListener('unhandledRejection', async (seen) => {
      await assert.rejects(addCleanup({}, async () => Promise.reject(reason), 0)[Symbol.asyncDispose](), (e) => e === reason);
      await assert.rejects(
        addCleanup(
          {},
          () => {
            throw thrown;
          },
          0,
        )[Symbol.asyncDispose](),
        (e) => e === thrown,
      );
      await turns(3);
      assert.deepEqual(seen, []);
    });
    assert.deepEqual(delta(base), { pending: 0, queued: 0, running: 0, executed: 2, stopped: 0, failed: 2 });
  });

  it('a synchronous cleanup: runs during the call, the promise resolves with undefined', async function () {
    await flush();
    let ran = 0;
    const promise = addCleanup({}, () => ++ran, 0)[Symbol.asyncDispose]();
    assert.equal(ran, 1);
    assert.equal(await promise, undefined);
  });

  it('with nothing to run or a synchronous cleanup, the promise is a native one even after Promise.resolve and globalThis.Promise were replaced', async function () {
    await flush();
    const NativePromise = Promise;
    const resolve = Promise.resolve;
    const stopped = addCleanup({}, () => {}, 0);
    stopped.stop();
    const pending = addCleanup({}, () => {}, 0);
    const fake = { then: () => {} };
    const promises = [];
    try {
      Promise.resolve = () => fake;
      globalThis.Promise = function FakePromise() {};
      promises.push(stopped[Symbol.asyncDispose](), stopped[Symbol.asyncDispose](), pending[Symbol.asyncDispose]());
    } finally {
      globalThis.Promise = NativePromise;
      Promise.resolve = resolve;
    }
    for (const promise of promises) {
      assert.equal(Object.getPrototypeOf(promise), NativePromise.prototype);
      assert.equal(await promise, undefined);
    }
  });
});

describe('Cleanup with the language: using, await using, DisposableStack', function () {
  it('using: the cleanup runs when the block ends, once', async function () {
    needs(this, 'using declarations');
    const run = new Function(
      'addCleanup',
      'log',
      `{
        using handle = addCleanup({}, (name) => log.push(name), 'first');
        log.push('in block');
      }
      log.push('after');`,
    );
    const log = [];
    run(addCleanup, log);
    assert.deepEqual(log, ['in block', 'first', 'after']);
  });

  it('await using: the block waits for an async cleanup', async function () {
    needs(this, 'using declarations');
    const run = new AsyncFunction(
      'addCleanup',
      'log',
      `{
        await using handle = addCleanup({}, async (name) => { await null; log.push(name); }, 'async');
        log.push('in block');
      }
      log.push('after');`,
    );
    const log = [];
    await run(addCleanup, log);
    assert.deepEqual(log, ['in block', 'async', 'after']);
  });

  it('DisposableStack.use(handle): disposed in reverse order with the stack', function () {
    needs(this, 'DisposableStack');
    const log = [];
    const stack = new globalThis.DisposableStack();
    stack.use(addCleanup({}, (n) => log.push(n), 1));
    stack.use(addCleanup({}, (n) => log.push(n), 2));
    stack.dispose();
    assert.deepEqual(log, [2, 1]);
  });
});

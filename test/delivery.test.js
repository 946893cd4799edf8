'use strict';
// What a cleanup is called with, when, and how often: once, later, with this
// undefined and exactly its arg; several cleanups per object, each once; any
// object or function as ptr, which is never modified. Every test counts calls
// exactly: a check that something must NOT happen uses settle() (bounded gc()
// and loop turns), one that something must happen uses until() (bounded
// polling that throws).
const assert = require('node:assert/strict');
const v8 = require('node:v8');
const vm = require('node:vm');
const workerThreads = require('node:worker_threads');
const {
  requireGc,
  turns,
  until,
  settle,
  inScope,
  needs,
  microtasks,
  sum,
} = require('./helpers');
const { addCleanup, Cleanup } = require('..');

const gc = requireGc();

// ---------------------------------------------------------------------------
describe('cleanup(arg) is called once, later, with this === undefined and one argument', function () {
  it('runs exactly once, with this === undefined, arguments.length === 1, on the main thread', async function () {
    const calls = [];
    // inScope: the object must not stay reachable from this test's frame.
    inScope(() => {
      addCleanup(
        {},
        function () {
          // Read at run time, not captured at registration: this records the
          // thread the cleanup actually runs on.
          const wt = require('node:worker_threads');
          calls.push({ self: this, argc: arguments.length, threadId: wt.threadId, isMainThread: wt.isMainThread });
        },
        'the-arg',
      );
    });
    await until(() => calls.length > 0, { what: 'the cleanup' });
    // Must-not-happen part: more collections and turns never call it again.
    await settle(4);
    assert.equal(calls.length, 1, 'cleanup must run exactly once');
    const [call] = calls;
    assert.equal(call.self, undefined, 'this must be undefined for a strict function');
    assert.equal(call.argc, 1, 'cleanup must get exactly one argument');
    assert.equal(call.threadId, 0, 'cleanup must run on the main thread (the registering thread)');
    assert.equal(call.isMainThread, true);
    assert.equal(workerThreads.threadId, 0, 'sanity: this test runs on the main thread');
  });

  it('the argument is exactly the value passed (identity for objects, primitives incl. undefined, -0, NaN, symbol, bigint)', async function () {
    const sym = Symbol('arg');
    const obj = { identity: true };
    const fn = function argFunction() {};
    const values = [obj, fn, undefined, null, 0, -0, NaN, '', 'text', false, true, sym, 10n, 2 ** 53];
    const got = new Array(values.length);
    const argc = new Array(values.length);
    inScope(() => {
      for (let i = 0; i < values.length; i++) {
        addCleanup(
          {},
          function (value) {
            got[i] = value;
            argc[i] = arguments.length;
          },
          values[i],
        );
      }
    });
    await until(() => Object.keys(argc).length === values.length, { what: 'all cleanups' });
    for (let i = 0; i < values.length; i++) {
      assert.ok(Object.is(got[i], values[i]), `argument #${i}: expected ${String(values[i])}, got ${String(got[i])}`);
      // Even for an undefined arg the cleanup is called with one argument.
      assert.equal(argc[i], 1, `argument #${i}: arguments.length`);
    }
  });

  it('never runs synchronously inside addCleanup or inside gc(), nor in the same turn; runs in a later turn', async function () {
    let count = 0;
    let insideGc = false;
    let ranInsideGc = null;

    // Register, drop and collect in one synchronous stretch: if the cleanup
    // ran inside addCleanup or inside gc(), `count` would change before this
    // function returns.
    function registerDropAndCollect() {
      inScope(() => {
        addCleanup(
          {},
          () => {
            count++;
            ranInsideGc = insideGc;
          },
          null,
        );
      });
      assert.equal(count, 0, 'cleanup ran synchronously inside addCleanup');
      gcNotRunningIt();
    }

    // A gc() during which the cleanup, if it ran, would see insideGc set.
    function gcNotRunningIt() {
      insideGc = true;
      try {
        gc();
      } finally {
        insideGc = false;
      }
      assert.equal(count, 0, 'cleanup ran synchronously inside gc()');
    }
    registerDropAndCollect();

    // The rest of this turn (its microtasks) must not run it either.
    await microtasks();
    assert.equal(count, 0, 'cleanup ran in the same turn as the gc() that found the object dead');

    // Later turns (with more synchronous gc() calls, each checked) deliver it.
    for (let round = 0; round < 50 && count === 0; round++) {
      await turns(2);
      if (count !== 0) break;
      gcNotRunningIt();
    }
    assert.equal(count, 1, 'cleanup never ran');
    assert.equal(ranInsideGc, false, 'cleanup ran while gc() was on the stack');
    await settle(3);
    assert.equal(count, 1, 'cleanup ran more than once');
  });
});

// ---------------------------------------------------------------------------
describe('several cleanups on one object each run once', function () {
  it('five different cleanups plus the same function and arg twice all run, each exactly once', async function () {
    const counts = [0, 0, 0, 0, 0];
    const dupCalls = [];
    const dupArg = { shared: true };
    const handles = inScope(() => {
      const obj = {};
      const hs = [];
      // Five distinct closures (a fresh function object per iteration).
      for (let i = 0; i < 5; i++) hs.push(addCleanup(obj, (k) => counts[k]++, i));
      // The very same function and the very same arg, registered twice:
      // two registrations, so two calls.
      const dup = (a) => dupCalls.push(a);
      hs.push(addCleanup(obj, dup, dupArg), addCleanup(obj, dup, dupArg));
      return hs;
    });
    assert.equal(new Set(handles).size, handles.length, 'each registration gets its own handle');
    for (const h of handles) assert.ok(h instanceof Cleanup);

    await until(() => sum(counts) === 5 && dupCalls.length === 2, { what: 'all seven cleanups' });
    await settle(3);
    assert.deepEqual(counts, [1, 1, 1, 1, 1]);
    assert.equal(dupCalls.length, 2, 'the duplicated registration must run twice (once per registration)');
    assert.equal(dupCalls[0], dupArg);
    assert.equal(dupCalls[1], dupArg);
    // Everything ran: nothing left to stop.
    for (const h of handles) assert.equal(h.stop(), false);
  });

  it('stopping one of several cleanups on an object leaves the others running', async function () {
    const counts = [0, 0, 0, 0];
    // Defined out here: a closure created inside the scope below would share
    // its context, which holds obj, and keep obj alive.
    const bump = (k) => counts[k]++;
    const handles = inScope(() => {
      const obj = {};
      return counts.map((_, i) => addCleanup(obj, bump, i));
    });
    assert.equal(handles[2].stop(), true);
    await until(() => sum(counts) === 3, { what: 'the three unstopped cleanups' });
    await settle(3);
    assert.deepEqual(counts, [1, 1, 0, 1]);
  });
});

// ---------------------------------------------------------------------------
// Every kind of ptr the contract lists. The factory runs inside inScope, so the
// object is only reachable from there.
const ptrKinds = {
  'plain object': () => ({ a: 1, [Symbol('s')]: 2 }),
  'null-prototype object': () => Object.assign(Object.create(null), { a: 1 }),
  'frozen object': () => Object.freeze({ a: 1 }),
  'sealed object': () => Object.seal({ a: 1 }),
  'non-extensible object (Object.preventExtensions)': () => Object.preventExtensions({ a: 1 }),
  'Proxy of an object': () => new Proxy({ a: 1 }, {}),
  'Proxy of a function': () => new Proxy(function proxied() {}, {}),
  'class instance with private fields': () =>
    new (class WithPrivate {
      #secret = 42;
      get secret() {
        return this.#secret;
      }
    })(),
  array: () => [1, 2, 3],
  'frozen array': () => Object.freeze([1, 2, 3]),
  Map: () => new Map([['k', 'v']]),
  Set: () => new Set([1, 2]),
  ArrayBuffer: () => new ArrayBuffer(64),
  Buffer: () => Buffer.from('addcleanup'),
  Uint8Array: () => new Uint8Array(16),
  'Promise (pending)': () => new Promise(() => {}),
  WeakRef: () => new WeakRef({}),
  'function': () => function plain() {},
  'arrow function': () => () => {},
  'class': () => class Klass {},
  'object from another vm context': () => vm.runInNewContext('({ fromOtherContext: true })'),
  'function from another vm context': () => vm.runInNewContext('(function otherRealm() {})'),
  Date: () => new Date(0),
  RegExp: () => /addcleanup/g,
  Error: () => new Error('ptr'),
  // Objects created by native code (node's C++ side) with internal fields, as
  // an object from another native addon would be: v8.Serializer is a
  // BaseObject-backed instance that node itself tracks weakly, and a closed
  // MessagePort is a native handle-backed object. Both are public and need no
  // extra build; a test-only napi_wrap addon may be added separately.
  'native object: v8.Serializer': () => new v8.Serializer(),
  'native object: MessagePort (closed)': () => {
    const { port1 } = new workerThreads.MessageChannel();
    port1.close(); // closing one side closes both; a closed port can be collected
    return port1;
  },
};

// Everything about ptr that addCleanup could visibly change.
function shapeOf(o) {
  return {
    keys: Reflect.ownKeys(o),
    frozen: Object.isFrozen(o),
    sealed: Object.isSealed(o),
    extensible: Object.isExtensible(o),
    proto: Reflect.getPrototypeOf(o),
  };
}

function assertSameShape(before, after, what) {
  assert.deepEqual(after.keys, before.keys, `${what}: own keys changed`);
  assert.equal(after.frozen, before.frozen, `${what}: Object.isFrozen changed`);
  assert.equal(after.sealed, before.sealed, `${what}: Object.isSealed changed`);
  assert.equal(after.extensible, before.extensible, `${what}: Object.isExtensible changed`);
  assert.equal(after.proto, before.proto, `${what}: prototype changed`);
}

describe('any object or function can be ptr, and ptr is never modified', function () {
  for (const [kind, make] of Object.entries(ptrKinds)) {
    it(`${kind}: unchanged by addCleanup, cleanup runs once after it dies`, async function () {
      if (kind === 'native object: v8.Serializer') needs(this, 'v8.Serializer');
      let count = 0;
      let received;
      inScope(() => {
        const ptr = make();
        const before = shapeOf(ptr);
        addCleanup(
          ptr,
          (a) => {
            count++;
            received = a;
          },
          kind,
        );
        assertSameShape(before, shapeOf(ptr), kind);
        if (kind === 'class instance with private fields') assert.equal(ptr.secret, 42);
      });
      await until(() => count > 0, { what: `cleanup for ${kind}` });
      await settle(2);
      assert.equal(count, 1, `${kind}: cleanup must run exactly once`);
      assert.equal(received, kind);
    });
  }

  it('addCleanup on a Proxy triggers none of its traps (it is not inspected or modified)', async function () {
    const trapped = [];
    const traps = [
      'apply', 'construct', 'defineProperty', 'deleteProperty', 'get', 'getOwnPropertyDescriptor',
      'getPrototypeOf', 'has', 'isExtensible', 'ownKeys', 'preventExtensions', 'set', 'setPrototypeOf',
    ];
    const handler = {};
    for (const name of traps) {
      handler[name] = (...args) => {
        trapped.push(name);
        return Reflect[name](...args);
      };
    }
    let count = 0;
    inScope(() => {
      const objectProxy = new Proxy({ a: 1 }, handler);
      const functionProxy = new Proxy(function f() {}, handler);
      addCleanup(objectProxy, () => count++, null);
      addCleanup(functionProxy, () => count++, null);
    });
    assert.deepEqual(trapped, [], 'addCleanup must not touch the Proxy');
    await until(() => count === 2, { what: 'both Proxy cleanups' });
    await settle(2);
    assert.equal(count, 2);
    assert.deepEqual(trapped, [], 'collecting the Proxy must not touch it either');
  });
});

// ---------------------------------------------------------------------------

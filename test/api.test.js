'use strict';
// The public API surface and input validation: what the package
// exports, how bad input is refused, and that a refused call registers
// nothing at all.
const assert = require('node:assert/strict');
const path = require('node:path');
const api = require('..');
const { addCleanup, AddCleanup, Cleanup } = api;
const { until, settle, inScope, thrown } = require('./helpers');

// Internal bookkeeping, used only to prove that a refused call registered
// nothing: a registration whose cleanup was never stored would otherwise be
// invisible (when its object dies, the queue finds no cleanup and skips it).
// counts()[0] is the number of registrations watching a live object. It only
// drops in a finalizer, which Node defers to a later loop turn, so it cannot
// change during the synchronous code between two reads below.
const { engine: binding } = require('../dist/engine/index');
const pendingRegistrations = () => binding.counts()[0];

const DIST = path.join(__dirname, '..', 'dist') + path.sep;

// Everything the package exports: Go's API plus drainCleanups/cleanupStats.
const PUBLIC_EXPORTS = ['AddCleanup', 'Cleanup', 'addCleanup', 'checkCleanups', 'cleanupStats', 'drainCleanups', 'engine'];

// Every kind of value that is not an object or a function, with how the
// error message must describe it (Node's ERR_INVALID_ARG_TYPE wording).
const BAD_PTRS = [
  ['undefined', undefined, 'Received undefined'],
  ['null', null, 'Received null'],
  ['0', 0, 'Received type number (0)'],
  ['1.5', 1.5, 'Received type number (1.5)'],
  ['NaN', NaN, 'Received type number (NaN)'],
  ["''", '', "Received type string ('')"],
  ["'str'", 'str', "Received type string ('str')"],
  ['true', true, 'Received type boolean (true)'],
  ['false', false, 'Received type boolean (false)'],
  ['10n', 10n, 'Received type bigint (10n)'],
  ['Symbol()', Symbol(), 'Received type symbol (Symbol())'],
];

class Resource {}

// Every kind of value that is not callable. (Classes are functions, so a
// class passes the type check: see the "accepted" test below.)
const BAD_CLEANUPS = [
  ['undefined', undefined, 'Received undefined'],
  ['null', null, 'Received null'],
  ['a number', 1, 'Received type number (1)'],
  ['a string', 'str', "Received type string ('str')"],
  ['true', true, 'Received type boolean (true)'],
  ['a bigint', 10n, 'Received type bigint (10n)'],
  ['a symbol', Symbol('s'), 'Received type symbol (Symbol(s))'],
  ['a plain object', {}, 'Received an instance of Object'],
  ['an array', [], 'Received an instance of Array'],
  ['a class instance', new Resource(), 'Received an instance of Resource'],
  ['a null-prototype object', Object.create(null), 'Received [Object: null prototype] {}'],
  // A Proxy is described without touching it: no trap may run while an
  // argument error is being built.
  ['a Proxy of an object', new Proxy({}, {}), 'Received a Proxy'],
  ['a revoked Proxy', revokedProxy(), 'Received a Proxy'],
  ['a Proxy whose every trap throws', throwingProxy(), 'Received a Proxy'],
  ['an object whose constructor getter throws', throwingConstructorGetter(), 'Received [Object]'],
];

function revokedProxy() {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return proxy;
}

function throwingProxy() {
  const trap = () => {
    throw new Error('a trap ran while describing a bad argument');
  };
  return new Proxy({}, { get: trap, getPrototypeOf: trap, getOwnPropertyDescriptor: trap, ownKeys: trap, has: trap });
}

function throwingConstructorGetter() {
  return {
    get constructor() {
      throw new Error('a getter ran while describing a bad argument');
    },
  };
}

// The first stack frame of an error (the line after the message).
function firstFrame(error) {
  const lines = String(error.stack).split('\n');
  const frame = lines.find((line) => /^\s+at /.test(line));
  assert.ok(frame, `no stack frame in:\n${error.stack}`);
  return frame;
}

// The error must blame the caller's line, not addcleanup's own internals.
// The callers below wrap the call in `void`: a call in tail position of a
// strict-mode arrow is a proper tail call on JavaScriptCore (Bun), whose frame
// the engine drops.
function assertStackAtCaller(error) {
  const frame = firstFrame(error);
  assert.ok(frame.includes(__filename), `first frame is not in the test file: ${frame}`);
  assert.ok(!frame.includes(DIST), `first frame is inside dist/: ${frame}`);
}

function assertArgTypeError(error, argName, received) {
  assert.ok(error instanceof TypeError, `expected a TypeError, got ${error}`);
  assert.equal(error.name, 'TypeError');
  assert.equal(error.code, 'ERR_INVALID_ARG_TYPE');
  assert.ok(error.message.includes(`"${argName}"`), `message does not name "${argName}": ${error.message}`);
  assert.ok(error.message.includes('Received'), `message does not say what was received: ${error.message}`);
  if (received !== undefined) {
    assert.ok(error.message.includes(received), `message lacks "${received}": ${error.message}`);
  }
}

// Records every uncaught exception during a test: a refused registration that
// still stored a non-function cleanup would throw when its object died.
function watchUncaught() {
  const seen = [];
  const listener = (error) => seen.push(error);
  process.on('uncaughtException', listener);
  return {
    seen,
    stop: () => process.removeListener('uncaughtException', listener),
  };
}

// Makes ptr and lets `refuse(ptr)` make refused addCleanup calls on it, then
// registers one valid cleanup on the same ptr and drops it. The refusals must
// have registered nothing (the count is unchanged) and kept nothing (ptr dies
// and only the valid cleanup runs). `refuse` gets ptr as an argument, so no
// closure of the caller's captures it.
async function assertRefusalsLeaveNothing(refuse) {
  const got = [];
  // Made out here: a closure created inside the inScope() callback could
  // share a context with ptr and keep it alive.
  const record = (x) => got.push(x);
  let before;
  let after;
  inScope(() => {
    const ptr = { v: 1 };
    before = pendingRegistrations();
    refuse(ptr);
    after = pendingRegistrations();
    addCleanup(ptr, record, 'valid');
  });
  assert.equal(after, before, 'a refused call left a registration behind');
  await until(() => got.length >= 1, { what: 'the valid cleanup (ptr died)' });
  await settle(3);
  assert.deepEqual(got, ['valid']);
}

describe('public API surface', function () {
  it('exports exactly the documented API: addCleanup, AddCleanup, Cleanup and the tools beyond Go', function () {
    assert.deepEqual(Object.keys(api).sort(), PUBLIC_EXPORTS);
    assert.equal(typeof addCleanup, 'function');
    assert.equal(addCleanup.name, 'addCleanup');
  });

  it('AddCleanup (Go spelling) is the very same function object as addCleanup', function () {
    assert.equal(AddCleanup, addCleanup);
  });

  it('Cleanup is a class: callable only with new', function () {
    assert.equal(typeof Cleanup, 'function');
    assert.match(Function.prototype.toString.call(Cleanup), /^class\b/);
    // A class constructor refuses to be called as a plain function.
    assert.throws(() => Cleanup(), TypeError);
    assert.equal(typeof Cleanup.prototype.stop, 'function');
  });

  it('new Cleanup() throws TypeError ERR_ILLEGAL_CONSTRUCTOR, even with guessed arguments', function () {
    for (const args of [[], [Symbol('Cleanup'), 0], [undefined, 1]]) {
      const error = thrown(() => new Cleanup(...args));
      assert.ok(error instanceof TypeError);
      assert.equal(error.name, 'TypeError');
      assert.equal(error.code, 'ERR_ILLEGAL_CONSTRUCTOR');
      assertStackAtCaller(error);
    }
  });

  it('addCleanup returns a Cleanup instance with no own properties', function () {
    const ptr = {};
    const handle = addCleanup(ptr, () => {}, 1);
    try {
      assert.ok(handle instanceof Cleanup);
      assert.equal(Object.getPrototypeOf(handle), Cleanup.prototype);
      assert.equal(handle.stop, Cleanup.prototype.stop);
      // The id lives in a private field: nothing to read or tamper with.
      assert.deepEqual(Reflect.ownKeys(handle), []);
    } finally {
      // ptr is still alive here, so this always cancels it.
      assert.equal(handle.stop(), true);
    }
  });
});

describe('input validation', function () {
  describe('ptr that is not an object or function', function () {
    for (const [label, bad, received] of BAD_PTRS) {
      it(`ptr = ${label} throws TypeError ERR_INVALID_ARG_TYPE naming "ptr"`, function () {
        const error = thrown(() => void addCleanup(bad, () => {}, 1));
        assertArgTypeError(error, 'ptr', received);
        assertStackAtCaller(error);
      });
    }

    it('a refused ptr registers nothing, its cleanup never runs, and the next registration works', async function () {
      let refusedCalls = 0;
      const refused = () => refusedCalls++;
      const before = pendingRegistrations();
      for (const [, bad] of BAD_PTRS) {
        // arg is something harmless, so only ptr is wrong.
        assert.throws(() => addCleanup(bad, refused, 'refused'), { code: 'ERR_INVALID_ARG_TYPE' });
      }
      assert.equal(pendingRegistrations(), before, 'a refused call left a registration behind');

      // A registration made right after behaves normally.
      const got = [];
      inScope(() => {
        addCleanup({}, (x) => got.push(x), 'next');
      });
      await until(() => got.length >= 1, { what: 'cleanup of the next registration' });
      await settle(3);
      assert.deepEqual(got, ['next']);
      assert.equal(refusedCalls, 0, 'the cleanup of a refused call ran');
    });
  });

  describe('cleanup that is not a function', function () {
    for (const [label, bad, received] of BAD_CLEANUPS) {
      it(`cleanup = ${label} throws TypeError ERR_INVALID_ARG_TYPE naming "cleanup"`, function () {
        const ptr = {};
        const error = thrown(() => void addCleanup(ptr, bad, 1));
        assertArgTypeError(error, 'cleanup', received);
        assertStackAtCaller(error);
      });
    }

    it('the exact message for a number, as documented', function () {
      const error = thrown(() => void addCleanup({}, 1, 1));
      assert.equal(
        error.message,
        'The "cleanup" argument must be of type function. Received type number (1)',
      );
    });

    it('a refused cleanup registers nothing on a valid ptr: when ptr dies only the later, valid registration runs', async function () {
      const uncaught = watchUncaught();
      try {
        await assertRefusalsLeaveNothing((ptr) => {
          for (const [, bad] of BAD_CLEANUPS) {
            try {
              addCleanup(ptr, bad, 'refused');
              assert.fail('addCleanup accepted a non-function cleanup');
            } catch (error) {
              assert.equal(error.code, 'ERR_INVALID_ARG_TYPE');
            }
          }
        });
        // Had a refused registration been kept, calling its non-function
        // "cleanup" would have thrown when ptr died.
        assert.deepEqual(uncaught.seen, []);
      } finally {
        uncaught.stop();
      }
    });

    it('anything callable is accepted, a class included (classes are functions)', function () {
      const ptr = {};
      const callables = [
        ['a class', class Closer {}],
        ['a bound function', function f() {}.bind(null)],
        ['an async function', async () => {}],
        ['a generator function', function* g() {}],
        ['a Proxy of a function', new Proxy(() => {}, {})],
        ['a built-in', Math.abs],
      ];
      for (const [label, fn] of callables) {
        const handle = addCleanup(ptr, fn, 1);
        assert.ok(handle instanceof Cleanup, `${label} was not accepted`);
        // Cancel at once, while ptr is alive: calling a class would throw.
        assert.equal(handle.stop(), true, `${label}: stop()`);
      }
    });
  });

  describe('arg === ptr', function () {
    for (const [label, make] of [
      ['an object', () => ({ a: 1 })],
      ['a function', () => function target() {}],
    ]) {
      it(`ptr = ${label}, arg = ptr throws TypeError ERR_INVALID_ARG_VALUE saying it would never run`, function () {
        const ptr = make();
        const error = thrown(() => void addCleanup(ptr, () => {}, ptr));
        assert.ok(error instanceof TypeError);
        assert.equal(error.name, 'TypeError');
        assert.equal(error.code, 'ERR_INVALID_ARG_VALUE');
        assert.match(error.message, /never run/);
        assert.match(error.message, /\barg\b/);
        assertStackAtCaller(error);
      });
    }

    it('a refused arg === ptr registers nothing and keeps nothing: ptr still dies and the refused cleanup never runs', async function () {
      let refusedCalls = 0;
      const refused = () => refusedCalls++;
      // If the refused call had stored ptr as an arg anywhere, ptr would stay
      // reachable and the valid registration would never run.
      await assertRefusalsLeaveNothing((ptr) => {
        try {
          addCleanup(ptr, refused, ptr);
          assert.fail('addCleanup accepted arg === ptr');
        } catch (error) {
          assert.equal(error.code, 'ERR_INVALID_ARG_VALUE');
        }
      });
      assert.equal(refusedCalls, 0, 'the cleanup of a refused call ran');
    });
  });
});

describe('Cleanup.prototype.stop()', function () {
  it('never throws and returns booleans: true, then false, false on one handle', function () {
    const ptr = {};
    const handle = addCleanup(ptr, () => {}, 1);
    const results = [handle.stop(), handle.stop(), handle.stop()];
    assert.deepEqual(results, [true, false, false]);
    for (const r of results) assert.equal(typeof r, 'boolean');
    assert.ok(ptr); // ptr stayed alive across the calls
  });

  it('returns false (and does not throw) once the cleanup has run', async function () {
    let calls = 0;
    const handle = inScope(() => addCleanup({}, () => calls++, 1));
    await until(() => calls >= 1, { what: 'cleanup' });
    assert.equal(handle.stop(), false);
    assert.equal(handle.stop(), false);
    await settle(2);
    assert.equal(calls, 1);
  });
});

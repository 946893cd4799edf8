'use strict';
// findUnreachableCleanups (lib/check/): what it must not report, and why
// (the cuts of lib/check/classify.ts): cleanups and args unrelated to ptr,
// weak references, paths through the package's own tables (exclude), and a
// ptr that the program's persistent state keeps alive anyway. The cases and
// the rules are described in test/check-cases.js.
const assert = require('node:assert/strict');
const vm = require('node:vm');
const { inScope, needs } = require('./helpers');
const {
  check,
  noop,
  argOwner,
  cleanupCaptures,
  cleanupSharesScope,
  fine,
  finePrimitiveArgs,
  fineWeakRef,
  fineWeakMapKey,
  fineWeakSet,
  fineGlobal,
} = require('./check-cases');

describe('findUnreachableCleanups: fine registrations are not reported', function () {
  before(function () {
    needs(this, 'v8 heap snapshot');
  });

  it('does not report cleanups and args unrelated to ptr, nor primitive args (numbers, strings, symbols, bigints, undefined, null)', async function () {
    const registrations = inScope(() => [
      fine(),
      finePrimitiveArgs(3),
      finePrimitiveArgs(2.5),
      finePrimitiveArgs('/tmp/file'),
      finePrimitiveArgs(Symbol('handle')),
      finePrimitiveArgs(10n),
      finePrimitiveArgs(undefined),
      finePrimitiveArgs(null),
      cleanupCaptures(), // the one bad registration, to show the call works
    ]);
    assert.deepEqual(await check(registrations), [{ index: 8, reason: 'cleanup' }]);
  });

  it('does not report a ptr held by a global variable when cleanup and arg are unrelated (it is alive anyway)', async function () {
    const name = '__addcleanupCheckGlobalPtr';
    try {
      const registrations = inScope(() => [fineGlobal(name), fine()]);
      assert.equal(globalThis[name], registrations[0].ptr);
      assert.deepEqual(await check(registrations), []);
    } finally {
      delete globalThis[name];
    }
  });

  it('does not report weak references: arg = WeakRef(ptr), a WeakMap with ptr as key, a WeakSet of ptr', async function () {
    const registrations = inScope(() => [fineWeakRef(), fineWeakMapKey(), fineWeakSet(), argOwner()]);
    assert.deepEqual(await check(registrations), [{ index: 3, reason: 'arg' }]);
  });

  it('follows a WeakMap value only through its key: reported when arg holds the key too, not when only the map', async function () {
    const key = { key: true }; // held by this frame only, not by arg
    const registrations = inScope(() => {
      const viaKey = (() => {
        const ptr = { kind: 'ptr' };
        const k = {};
        return { ptr, cleanup: noop, arg: { map: new WeakMap([[k, ptr]]), k } };
      })();
      const mapOnly = (() => {
        const ptr = { kind: 'ptr' };
        return { ptr, cleanup: noop, arg: new WeakMap([[key, ptr]]) };
      })();
      return [viaKey, mapOnly];
    });
    assert.deepEqual(await check(registrations), [{ index: 0, reason: 'arg' }]);
    assert.equal(registrations[1].arg.get(key), registrations[1].ptr, 'sanity: the map holds ptr under key');
  });

  it('reports only the bad one of two registrations on the same ptr', async function () {
    const registrations = inScope(() => {
      const ptr = { kind: 'ptr' };
      return [
        { ptr, cleanup: noop, arg: { fd: 4 } },
        { ptr, cleanup: noop, arg: { owner: ptr } },
      ];
    });
    assert.deepEqual(await check(registrations), [{ index: 1, reason: 'arg' }]);
  });
});

describe('findUnreachableCleanups: exclude', function () {
  before(function () {
    needs(this, 'v8 heap snapshot');
  });

  it('does not enter excluded objects: a path from arg to ptr through one is not reported (and is without exclude)', async function () {
    const { registrations, table } = inScope(() => {
      const ptr = { kind: 'ptr' };
      const table = { entry: ptr }; // plays one of the package's own tables
      return { registrations: [fine(), { ptr, cleanup: noop, arg: { table } }], table };
    });
    assert.deepEqual(await check(registrations, [table]), []);
    // Control: the path is real.
    assert.deepEqual(await check(registrations), [{ index: 1, reason: 'arg' }]);
  });

  it('excluded tables that hold every cleanup and arg (as the package does) connect nothing; without exclude they would', async function () {
    const registrations = inScope(() => [fine(), fine(), argOwner()]);
    // Registration 1's arg refers to registration 0's ptr: not a leak, since
    // it is not registration 1's own ptr...
    registrations[1].arg.other = registrations[0].ptr;
    const cleanupTable = registrations.map((r) => r.cleanup);
    const argTable = registrations.map((r) => r.arg);
    // ...but registration 0's arg holds the tables, and through them (the
    // args table, then registration 1's arg) its own ptr.
    registrations[0].arg.tables = [cleanupTable, argTable];
    assert.deepEqual(await check(registrations, [cleanupTable, argTable]), [{ index: 2, reason: 'arg' }]);
    assert.deepEqual(await check(registrations), [
      { index: 0, reason: 'arg' },
      { index: 2, reason: 'arg' },
    ]);
  });
});

// A module-level registry: part of this module's persistent state.
const registry = new Set();
function forget() {
  registry.clear();
}

describe('findUnreachableCleanups: persistent state is not blamed on the cleanup', function () {
  before(function () {
    needs(this, 'v8 heap snapshot');
  });

  afterEach(function () {
    registry.clear();
  });

  it('does not report a ptr that a module-level registry holds when the cleanup only reaches the registry through the module scope; reports arg = the registry itself', async function () {
    const registrations = inScope(() => {
      const kept = { kind: 'ptr' };
      const passed = { kind: 'ptr' };
      registry.add(kept).add(passed);
      return [
        { ptr: kept, cleanup: forget, arg: undefined },
        { ptr: passed, cleanup: noop, arg: registry },
      ];
    });
    assert.deepEqual(await check(registrations), [{ index: 1, reason: 'arg' }]);
  });

  it('reports a cleanup that shares its scope with a closure that is dropped, not with one the program keeps (ptr alive anyway)', async function () {
    const listeners = [];
    globalThis.__addcleanupCheckListeners = listeners;
    try {
      const registrations = inScope(() => {
        const dropped = cleanupSharesScope();
        const kept = cleanupSharesScope();
        listeners.push(kept.other); // a global keeps the other closure, hence the scope and ptr
        return [
          { ptr: dropped.ptr, cleanup: dropped.cleanup, arg: 1 },
          { ptr: kept.ptr, cleanup: kept.cleanup, arg: 1 },
        ];
      });
      assert.deepEqual(await check(registrations), [{ index: 0, reason: 'cleanup' }]);
    } finally {
      delete globalThis.__addcleanupCheckListeners;
    }
  });

  it('searches a vm realm kept alive only by a cleanup, not one the program keeps', async function () {
    const name = '__addcleanupCheckRealm';
    try {
      const registrations = inScope(() => {
        const make = (keep) => {
          const context = vm.createContext({});
          const ptr = { kind: 'ptr' };
          context.held = ptr; // a global variable of that realm
          const cleanup = vm.runInContext('(function cleanup() {})', context);
          if (keep) globalThis[name] = context;
          return { ptr, cleanup, arg: 0 };
        };
        return [make(false), make(true)];
      });
      assert.deepEqual(await check(registrations), [{ index: 0, reason: 'cleanup' }]);
    } finally {
      delete globalThis[name];
    }
  });
});

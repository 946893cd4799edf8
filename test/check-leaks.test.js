'use strict';
// findUnreachableCleanups (lib/check/): the registrations it must report,
// those whose own arg or cleanup (through its closure, V8's shared closure
// contexts included) keeps ptr alive, and with which reason. The cases and
// the rules are described in test/check-cases.js.
const assert = require('node:assert/strict');
const { settle, until, inScope, needs } = require('./helpers');
const {
  check,
  argOwner,
  argNestedArrays,
  argMapValue,
  argMapKey,
  argSet,
  argPrivateField,
  cleanupCaptures,
  cleanupBound,
  cleanupSharesScope,
  cleanupIsPtr,
  bothPaths,
  fine,
} = require('./check-cases');

describe('findUnreachableCleanups: registrations whose arg keeps ptr alive', function () {
  before(function () {
    needs(this, 'v8 heap snapshot');
  });

  it("reports 'arg' for arg = { owner: ptr }, [1, [2, ptr]], a Map (value or key), a Set, a private field; not the fine neighbour", async function () {
    const registrations = inScope(() => [
      argOwner(),
      fine(),
      argNestedArrays(),
      argMapValue(),
      argMapKey(),
      argSet(),
      argPrivateField(),
    ]);
    assert.equal(registrations[6].arg.held, registrations[6].ptr, 'sanity: the private field holds ptr');
    assert.deepEqual(await check(registrations), [
      { index: 0, reason: 'arg' },
      { index: 2, reason: 'arg' },
      { index: 3, reason: 'arg' },
      { index: 4, reason: 'arg' },
      { index: 5, reason: 'arg' },
      { index: 6, reason: 'arg' },
    ]);
  });

  it("reports 'arg', not 'cleanup', when both reach ptr", async function () {
    const registrations = inScope(() => [fine(), bothPaths()]);
    assert.deepEqual(await check(registrations), [{ index: 1, reason: 'arg' }]);
  });
});

describe('findUnreachableCleanups: registrations whose cleanup keeps ptr alive', function () {
  before(function () {
    needs(this, 'v8 heap snapshot');
  });

  it("reports 'cleanup' for a closure capturing ptr, a function bound to ptr, and ptr as its own cleanup", async function () {
    const registrations = inScope(() => [fine(), cleanupCaptures(), cleanupBound(), cleanupIsPtr(), fine()]);
    assert.deepEqual(await check(registrations), [
      { index: 1, reason: 'cleanup' },
      { index: 2, reason: 'cleanup' },
      { index: 3, reason: 'cleanup' },
    ]);
  });

  it("reports 'cleanup' for a cleanup that never mentions ptr but shares its scope with a closure that does (V8 shared context)", async function () {
    const registrations = inScope(() => {
      const { ptr, cleanup, arg } = cleanupSharesScope();
      return [fine(), { ptr, cleanup, arg }];
    });
    assert.match(String(registrations[1].cleanup), /^\(\) => \{\}$/, 'sanity: the cleanup does not mention ptr');
    assert.deepEqual(await check(registrations), [{ index: 1, reason: 'cleanup' }]);
  });

  it('the shared-context report is true: ptr is never collected while such a cleanup is held, and is once it is dropped', async function () {
    // WeakRef experiment. The holder plays the package's table: it keeps the
    // cleanup strongly, and nothing else keeps ptr (the other closure is
    // dropped with the scope).
    const holder = inScope(() => {
      const { ptr, cleanup } = cleanupSharesScope();
      return { ref: new WeakRef(ptr), cleanup };
    });
    // Several full collections and loop turns (deref() keeps its target for
    // the current job only, so it is called after them, in a job of its own).
    await settle(6);
    assert.notEqual(holder.ref.deref(), undefined, 'ptr was collected although the cleanup shares its scope');
    // Control: the same object is collected once the cleanup is dropped, so
    // the cleanup is what kept it alive.
    holder.cleanup = null;
    await until(() => holder.ref.deref() === undefined, { what: 'collection of ptr after dropping the cleanup' });
  });
});

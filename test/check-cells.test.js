'use strict';
// findUnreachableCleanups (lib/check/) given `cells` instead of `ptrs`: the
// registrations of the JavaScript engine, registry.register(ptr, token,
// token) with one token per registration and no reference kept to ptr. Each
// ptr is found as the target of its token's live cell (lib/check/cells.ts).
// The cases and the rules are those of test/check-cases.js; the whole check
// suite can also run through cells (see test/check-cells.js).
const assert = require('node:assert/strict');
const { inScope, needs } = require('./helpers');
const { turn } = require('./fixtures/child-util');
const cases = require('./check-cases');
const { analyse, checkCells } = require('./check-cells');

const { noop, use } = cases;

// [make, expected reason or null]: the main cases of test/check-cases.js.
const TABLE = [
  [cases.argOwner, 'arg'],
  [cases.fine, null],
  [cases.argNestedArrays, 'arg'],
  [cases.argMapValue, 'arg'],
  [cases.argMapKey, 'arg'],
  [cases.argSet, 'arg'],
  [cases.argPrivateField, 'arg'],
  [cases.cleanupCaptures, 'cleanup'],
  [cases.cleanupBound, 'cleanup'],
  [() => ({ ...cases.cleanupSharesScope(), other: undefined }), 'cleanup'],
  [cases.cleanupIsPtr, 'cleanup'],
  [cases.bothPaths, 'arg'],
  [cases.fineWeakRef, null],
  [cases.fineWeakMapKey, null],
  [cases.fineWeakSet, null],
  [() => cases.finePrimitiveArgs('/tmp/file'), null],
  [() => cases.finePrimitiveArgs(undefined), null],
];

// This file's own registry, made as the engine makes its own (module level),
// which records the tokens whose cleanup task has run.
const collected = new Set();
const registry = new FinalizationRegistry((token) => collected.add(token));

function register(ptr, token) {
  registry.register(ptr, token, token);
  return token;
}

function inputOf(registrations, cells) {
  return {
    cells,
    cleanups: registrations.map((r) => r.cleanup),
    args: registrations.map((r) => r.arg),
    exclude: [],
  };
}

describe('findUnreachableCleanups through FinalizationRegistry cells', function () {
  before(function () {
    needs(this, 'v8 heap snapshot');
  });

  it("reports 'arg' and 'cleanup' for the registrations whose ptr its arg or cleanup keeps alive, located by their cells, and not the fine ones", async function () {
    const registrations = inScope(() => TABLE.map(([make]) => make()));
    const expected = [];
    TABLE.forEach(([, reason], index) => {
      if (reason !== null) expected.push({ index, reason });
    });
    assert.deepEqual(await checkCells(registrations), expected);
  });

  it('reports nothing for a token whose cell was unregistered (a stopped registration), though its cleanup keeps ptr alive', async function () {
    const registrations = inScope(() => [cases.cleanupCaptures(), cases.argOwner(), cases.cleanupCaptures()]);
    const cells = registrations.map((r, slot) => register(r.ptr, { slot }));
    assert.equal(registry.unregister(cells[1]), true);
    assert.equal(registry.unregister(cells[2]), true);
    try {
      assert.deepEqual(await analyse(inputOf(registrations, cells)), [{ index: 0, reason: 'cleanup' }]);
    } finally {
      registry.unregister(cells[0]);
    }
  });

  it("reports nothing for a token whose ptr was collected, and finds the live cell of a token reused while the dead cell's cleanup is pending", async function () {
    const reused = { slot: 0 };
    const dead = { slot: 1 };
    const refs = inScope(() => {
      const first = { kind: 'collected' };
      const second = { kind: 'collected' };
      register(first, reused);
      register(second, dead);
      return [new WeakRef(first), new WeakRef(second)];
    });
    await turn(); // a WeakRef keeps its target alive until the end of the job that made it
    collected.clear();
    gc();
    assert.deepEqual(
      refs.map((ref) => ref.deref()),
      [undefined, undefined],
      'sanity: both ptrs were collected',
    );
    // The slot is reused at once: its token now has a cleared cell (its
    // cleanup task not run yet) and a live one.
    const registrations = inScope(() => [cases.cleanupCaptures(), cases.fine()]);
    register(registrations[0].ptr, reused);
    try {
      const result = analyse(inputOf(registrations, [reused, dead]));
      // The snapshot was taken in the call: before the cleanup task could run.
      assert.equal(
        collected.size,
        0,
        'sanity: the dead cells were still pending when the snapshot was taken',
      );
      assert.deepEqual(await result, [{ index: 0, reason: 'cleanup' }]);
    } finally {
      registry.unregister(reused);
    }
  });

  it('does not report a cleanup or arg that holds its own token or registry: cells hold their ptr weakly', async function () {
    const { registrations, cells } = inScope(() => {
      // A registry that only the cleanup keeps: not persistent state, so searched.
      const local = new FinalizationRegistry(noop);
      const viaRegistry = { kind: 'ptr' };
      const viaToken = { kind: 'ptr' };
      const tokens = [{ slot: 0 }, { slot: 1 }, { slot: 2 }];
      local.register(viaRegistry, tokens[0], tokens[0]);
      local.register(viaToken, tokens[1], tokens[1]);
      const leaky = cases.argOwner();
      local.register(leaky.ptr, tokens[2], tokens[2]);
      return {
        registrations: [
          { ptr: viaRegistry, cleanup: () => use(local), arg: local },
          { ptr: viaToken, cleanup: noop, arg: { token: tokens[1], registry: local } },
          leaky,
        ],
        cells: tokens,
      };
    });
    assert.deepEqual(await analyse(inputOf(registrations, cells)), [{ index: 2, reason: 'arg' }]);
  });
});

describe('findUnreachableCleanups: input with cells', function () {
  before(function () {
    needs(this, 'v8 heap snapshot');
  });

  it('rejects an input with both ptrs and cells, or neither, with a TypeError', async function () {
    const base = { cleanups: [noop], args: [1], exclude: [] };
    await assert.rejects(analyse({ ...base, ptrs: [{}], cells: [{}] }), TypeError);
    await assert.rejects(analyse(base), TypeError);
  });

  it('rejects cells, cleanups and args of different lengths with a RangeError', async function () {
    await assert.rejects(analyse({ cells: [{}, {}], cleanups: [noop], args: [1], exclude: [] }), RangeError);
  });

  it('resolves to [] for tokens that no registry knows', async function () {
    const registrations = inScope(() => [cases.cleanupCaptures()]);
    assert.deepEqual(await analyse(inputOf(registrations, [{ slot: 0 }])), []);
  });
});

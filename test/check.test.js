'use strict';
// findUnreachableCleanups (lib/check.ts): the exact analysis behind
// checkCleanups(). Given the live registrations (ptr,
// cleanup, arg), it reports those whose ptr is reachable from their own arg
// (reason 'arg') or cleanup (reason 'cleanup') along strong references, so
// that they can never run; registrations that are fine must not be reported.
//
// "Reachable" is taken as lib/check.ts defines it: through objects that only
// the stack, the watched objects and the registrations keep alive. Objects
// that the program's persistent state (globals, module scopes, Node's timers
// and handles...) keeps alive by itself are not entered: a ptr alive through
// them is alive anyway, not because of its cleanup (pinned below too).
//
// Every call takes a heap snapshot of this process, so each test makes few
// calls. Each call also registers some fine neighbours where that is useful,
// and every test compares the WHOLE result with deepEqual: the expected
// indices and reasons, nothing else.
//
// The objects of each registration are made by a function of their own
// (below, at module level): a closure made in a function scope keeps every
// context-allocated variable of that scope alive (V8 shares one context per
// scope), so two cases made in one scope would leak into each other.
//
// The module under test is dist/check.js (compiled from lib/check.ts).
// ADDCLEANUP_CHECK_MODULE may name another compiled copy (development).
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const vm = require('node:vm');
const { settle, until, inScope, needs } = require('./helpers');

const MODULE = process.env.ADDCLEANUP_CHECK_MODULE
  ? path.resolve(process.env.ADDCLEANUP_CHECK_MODULE)
  : path.join(__dirname, '..', 'dist', 'check');
const { findUnreachableCleanups } = require(MODULE);

// Runs the analysis on registrations given as { ptr, cleanup, arg } objects.
function check(registrations, exclude = []) {
  return findUnreachableCleanups({
    ptrs: registrations.map((r) => r.ptr),
    cleanups: registrations.map((r) => r.cleanup),
    args: registrations.map((r) => r.arg),
    exclude,
  });
}

// Module-level functions: their scope is this module's, which mocha keeps
// alive (through the test callbacks), so they reach nothing of a case.
const noop = () => {};
function release(resource) {
  return resource;
}
function use(value) {
  return value;
}
class Private {
  #held;
  constructor(value) {
    this.#held = value;
  }
  get held() {
    return this.#held;
  }
}

// --- registrations that keep their ptr reachable through arg ---------------
function argOwner() {
  const ptr = { kind: 'ptr' };
  return { ptr, cleanup: noop, arg: { owner: ptr } };
}
function argNestedArrays() {
  const ptr = { kind: 'ptr' };
  return { ptr, cleanup: noop, arg: [1, [2, ptr]] };
}
function argMapValue() {
  const ptr = { kind: 'ptr' };
  return { ptr, cleanup: noop, arg: new Map([[{ key: true }, ptr]]) };
}
function argMapKey() {
  const ptr = { kind: 'ptr' };
  return { ptr, cleanup: noop, arg: new Map([[ptr, 'value']]) };
}
function argSet() {
  const ptr = { kind: 'ptr' };
  return { ptr, cleanup: noop, arg: new Set([ptr]) };
}
function argPrivateField() {
  const ptr = { kind: 'ptr' };
  return { ptr, cleanup: noop, arg: new Private(ptr) };
}

// --- registrations that keep their ptr reachable through cleanup -----------
function cleanupCaptures() {
  const ptr = { kind: 'ptr' };
  return { ptr, cleanup: () => use(ptr), arg: 'fd' };
}
function cleanupBound() {
  const ptr = { kind: 'ptr' };
  return { ptr, cleanup: release.bind(null, ptr), arg: 7 };
}
// V8 allocates `ptr` in this scope's context because `other` captures it; the
// cleanup, made in the same scope, gets the same context although it never
// mentions ptr. Returns `other` only for tests that need to hold it.
function cleanupSharesScope() {
  const ptr = { kind: 'ptr' };
  const other = () => ptr;
  const cleanup = () => {};
  return { ptr, cleanup, arg: undefined, other };
}
// A watched function used as its own cleanup.
function cleanupIsPtr() {
  const ptr = function watched() {};
  return { ptr, cleanup: ptr, arg: null };
}
// Both paths: 'arg' wins.
function bothPaths() {
  const ptr = { kind: 'ptr' };
  return { ptr, cleanup: () => use(ptr), arg: { owner: ptr } };
}

// --- fine registrations -----------------------------------------------------
function fine() {
  const ptr = { kind: 'ptr' };
  return { ptr, cleanup: () => {}, arg: { fd: 3 } };
}
function finePrimitiveArgs(arg) {
  const ptr = { kind: 'ptr' };
  return { ptr, cleanup: release, arg };
}
function fineWeakRef() {
  const ptr = { kind: 'ptr' };
  return { ptr, cleanup: noop, arg: new WeakRef(ptr) };
}
function fineWeakMapKey() {
  const ptr = { kind: 'ptr' };
  return { ptr, cleanup: noop, arg: new WeakMap([[ptr, { value: true }]]) };
}
function fineWeakSet() {
  const ptr = { kind: 'ptr' };
  return { ptr, cleanup: noop, arg: new WeakSet([ptr]) };
}
function fineGlobal(name) {
  const ptr = { kind: 'ptr' };
  globalThis[name] = ptr;
  return { ptr, cleanup: () => {}, arg: { unrelated: true } };
}

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

// ---------------------------------------------------------------------------
// Agreement with a naive search, on random object graphs (cycles, shared
// holders, holders kept by a global). Deterministic: seeded generator.

function mulberry32(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Builds plain objects, arrays and Maps with random references between them
// (recorded in `out`, the truth), registrations on some of them, and a global
// holder of a few of them. Returns the registrations and the expected result,
// computed by one plain search per registration under the documented rule:
// objects that the global holder reaches without going through a watched
// object, a cleanup or an arg are persistent, and are not entered.
function randomWorld(seed, globalName, { objects = 500, registrations = 150, degree = 2, held = 15 } = {}) {
  const random = mulberry32(seed);
  const index = (n) => Math.floor(random() * n);
  const nodes = [];
  const out = [];
  for (let k = 0; k < objects; k++) {
    nodes.push(k % 3 === 0 ? { id: k } : k % 3 === 1 ? [] : new Map());
    out.push([]);
  }
  const link = (from, to) => {
    const node = nodes[from];
    if (Array.isArray(node)) node.push(nodes[to]);
    else if (node instanceof Map) node.set(`key${out[from].length}`, nodes[to]);
    else node[`ref${out[from].length}`] = nodes[to];
    out[from].push(to);
  };
  for (let k = 0; k < objects; k++) for (let d = 0; d < degree; d++) link(k, index(objects));

  // Registrations: ptr = object i (distinct); arg = a random object or a
  // primitive; cleanup = noop or a function bound to a random object.
  const regs = [];
  const sources = new Set(); // object indices that are args
  const boundTargets = [];
  for (let i = 0; i < registrations; i++) {
    const ptr = i;
    const arg = random() < 0.8 ? index(objects) : -1;
    const bound = random() < 0.3 ? index(objects) : -1;
    if (arg >= 0) sources.add(arg);
    boundTargets.push(bound);
    regs.push({
      ptr: nodes[ptr],
      cleanup: bound >= 0 ? release.bind(null, nodes[bound]) : noop,
      arg: arg >= 0 ? nodes[arg] : i,
      ptrIndex: ptr,
      argIndex: arg,
    });
  }
  const ptrs = new Set(regs.map((r) => r.ptrIndex));
  const heldIndices = [];
  for (let h = 0; h < held; h++) heldIndices.push(index(objects));
  globalThis[globalName] = heldIndices.map((k) => nodes[k]);

  // Persistent: reached from the global holder, not through ptrs or args.
  const persistent = new Set(heldIndices);
  const queue = [...heldIndices];
  while (queue.length > 0) {
    const u = queue.pop();
    if (ptrs.has(u) || sources.has(u)) continue;
    for (const v of out[u]) {
      if (!persistent.has(v)) {
        persistent.add(v);
        queue.push(v);
      }
    }
  }
  const cut = (v) => persistent.has(v) && !ptrs.has(v) && !sources.has(v);
  const reaches = (start, target) => {
    if (start === target) return true;
    const seen = new Set([start]);
    const stack = [start];
    while (stack.length > 0) {
      const u = stack.pop();
      for (const v of out[u]) {
        if (v === target) return true;
        if (seen.has(v) || cut(v)) continue;
        seen.add(v);
        stack.push(v);
      }
    }
    return false;
  };
  // The bound function is a source too, and refers to its bound object.
  const reachesFromBound = (bound, target) => bound === target || (!cut(bound) && reaches(bound, target));
  const expected = [];
  regs.forEach((r, i) => {
    if (r.argIndex >= 0 && reaches(r.argIndex, r.ptrIndex)) expected.push({ index: i, reason: 'arg' });
    else if (boundTargets[i] >= 0 && reachesFromBound(boundTargets[i], r.ptrIndex)) {
      expected.push({ index: i, reason: 'cleanup' });
    }
  });
  return { registrations: regs.map(({ ptr, cleanup, arg }) => ({ ptr, cleanup, arg })), expected };
}

describe('findUnreachableCleanups: exactness', function () {
  before(function () {
    needs(this, 'v8 heap snapshot');
  });

  for (const seed of [1, 2]) {
    it(`agrees with a naive search per registration on a random object graph (seed ${seed})`, async function () {
      const name = `__addcleanupCheckRandom${seed}`;
      try {
        const { registrations, expected } = inScope(() => randomWorld(seed, name));
        // The graph must make the check meaningful: some reported, some not.
        assert.ok(expected.length > 10 && expected.length < registrations.length - 10, `degenerate world: ${expected.length}`);
        assert.deepEqual(await check(registrations), expected);
      } finally {
        delete globalThis[name];
      }
    });
  }
});

describe('findUnreachableCleanups: input', function () {
  before(function () {
    needs(this, 'v8 heap snapshot');
  });

  it('resolves to [] for no registrations', async function () {
    assert.deepEqual(await findUnreachableCleanups({ ptrs: [], cleanups: [], args: [], exclude: [] }), []);
  });

  it('leaves no temporary file behind', async function () {
    // Only this process's folders: other processes (a parallel run) may be
    // checking at the same moment.
    const prefix = `addcleanup-check-${process.pid}-`;
    const ours = () => new Set(fs.readdirSync(os.tmpdir()).filter((name) => name.startsWith(prefix)));
    const before = ours();
    const registrations = inScope(() => [argOwner()]);
    assert.deepEqual(await check(registrations), [{ index: 0, reason: 'arg' }]);
    const left = [...ours()].filter((name) => !before.has(name));
    assert.deepEqual(left, [], 'the snapshot directory must be removed');
  });

  it('rejects arrays of different lengths with a RangeError', async function () {
    await assert.rejects(findUnreachableCleanups({ ptrs: [{}], cleanups: [], args: [1], exclude: [] }), RangeError);
  });
});

describe('findUnreachableCleanups: scale', function () {
  before(function () {
    needs(this, 'v8 heap snapshot');
  });

  it('5,000 registrations, half of them bad (closures, bound functions, args), are reported exactly', async function () {
    const count = 5000;
    const kinds = [cleanupCaptures, argOwner, cleanupBound, argSet, fine, fine, fine, fine];
    const expectedReason = ['cleanup', 'arg', 'cleanup', 'arg'];
    const registrations = inScope(() => {
      const list = [];
      for (let i = 0; i < count; i++) list.push(kinds[i % kinds.length]());
      return list;
    });
    const started = process.hrtime.bigint();
    const result = await check(registrations);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const expected = [];
    for (let i = 0; i < count; i++) {
      if (i % kinds.length < 4) expected.push({ index: i, reason: expectedReason[i % kinds.length] });
    }
    assert.equal(expected.length, count / 2);
    assert.deepEqual(result, expected);
    // Informational only (never asserted): the runtime of this call.
    this.test.title += ` [${Math.round(ms)} ms]`;
  });
});

'use strict';
// findUnreachableCleanups (lib/check/): its answers are those of one plain
// search per registration (random object graphs), stay exact at 5,000
// registrations, and its input is checked. The cases and the rules are
// described in test/check-cases.js.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const { inScope, needs } = require('./helpers');
const { seededRandom } = require('./seeded-random');
const {
  findUnreachableCleanups,
  check,
  noop,
  release,
  argOwner,
  argSet,
  cleanupBound,
  cleanupCaptures,
  fine,
} = require('./check-cases');

// ---------------------------------------------------------------------------
// Agreement with a naive search, on random object graphs (cycles, shared
// holders, holders kept by a global). Deterministic: seeded generator.

// Builds plain objects, arrays and Maps with random references between them
// (recorded in `out`, the truth), registrations on some of them, and a global
// holder of a few of them. Returns the registrations and the expected result,
// computed by one plain search per registration under the documented rule:
// objects that the global holder reaches without going through a watched
// object, a cleanup or an arg are persistent, and are not entered.
function randomWorld(seed, globalName, { objects = 500, registrations = 150, degree = 2, held = 15 } = {}) {
  const random = seededRandom(seed);
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
    // The snapshot is streamed, never written; the analyser once wrote it to
    // a folder named like this, removed afterwards. Only this process's
    // folders: other processes (a parallel run) may be checking at the same
    // moment.
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

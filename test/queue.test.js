'use strict';
// The native queue's delivery order (native/queue.cc). Deferred finalizers
// come in hash-set order; a slice sorts a random-looking backlog of 4,096 or
// more slots by slot number (a radix sort), so that the tables are walked
// sequentially. The engine's own order (finalizers inside the GC) is left as
// it is. Each backlog is sorted once: deaths queued after a slice started form
// a new run. Nothing may be lost or delivered twice by the sort.
// Uses a fresh instance of the addon (process.dlopen) whose deliver function
// records the slots it is given.
const assert = require('node:assert/strict');
const { requireGc, until, settle, needs } = require('./helpers');
const { loadFresh, registerDropped: dropIds } = require('./fixtures/hostile-util');

const gc = requireGc();
const SPAN = 2 ** 32;

function freshInstance() {
  const binding = loadFresh();
  const batches = [];
  binding.setup((slots) => batches.push(Array.from(slots)));
  return { binding, batches };
}

// The slots of `n` registrations whose objects nothing keeps.
const registerDropped = (binding, n) => dropIds(binding, n).map((id) => id % SPAN);

const isAscending = (xs) => xs.every((x, i) => i === 0 || xs[i - 1] < x);
const ascending = (xs) => [...xs].sort((a, b) => a - b);

// The slots of `n` registrations whose objects nothing keeps, handed out in
// random order: `n` registrations stopped in a shuffled order put their slots
// on the free list shuffled, and the next `n` registrations take them back in
// that order. The engine's weak handles are freed in that same order, so
// another instance registers `n` objects first and takes them: the dropped
// registrations' handles are then new ones, in creation order, and their
// slots shuffled. Whichever way the runtime hands the finalizers over (the
// engine's handle order, or a hash set's, or creation order), the deaths
// arrive in random slot order. The other instance's objects are returned, to
// be kept alive until the deliveries were checked.
function registerDroppedShuffled(binding, n) {
  const keep = [];
  const first = [];
  for (let i = 0; i < n; i++) {
    keep.push({});
    first.push(binding.register(keep[i]));
  }
  let seed = 7;
  for (let i = first.length - 1; i > 0; i--) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const j = seed % (i + 1);
    [first[i], first[j]] = [first[j], first[i]];
  }
  for (const id of first) assert.equal(binding.stop(id), true);
  keep.length = 0;
  const other = loadFresh();
  const otherKeep = [];
  for (let i = 0; i < n; i++) {
    otherKeep.push({});
    other.register(otherKeep[i]);
  }
  const slots = registerDropped(binding, n);
  assert.ok(!isAscending(slots), 'precondition: the slots were handed out in random order');
  return { slots, otherKeep };
}

// One gc() kills what was dropped; waits until n slots were delivered (and a
// little longer, so that a duplicate would show) and returns them in order.
async function collectDelivered(batches, n) {
  gc();
  await until(() => batches.flat().length >= n, { what: `${n} deliveries` });
  await settle(2);
  return batches.flat();
}

describe('native queue: delivery order and completeness', function () {
  before(function () {
    needs(this, 'the native binding');
  });

  it('20,000 deaths in one gc() whose slots were handed out in random order: delivered once each, in ascending slot order across all batches (a random-looking backlog is sorted)', async function () {
    const { binding, batches } = freshInstance();
    const { slots, otherKeep } = registerDroppedShuffled(binding, 20000);
    const delivered = await collectDelivered(batches, 20000);
    assert.equal(delivered.length, 20000);
    assert.deepEqual(ascending(delivered), ascending(slots));
    assert.ok(isAscending(delivered), 'the backlog was not delivered in slot order');
    assert.ok(batches.every((b) => b.length <= 1024));
    assert.equal(otherKeep.length, 20000); // the other instance's objects lived until here
  });

  it('20,000 deaths of fresh slots in one gc(): delivered once each, in batches of at most 1,024', async function () {
    const { binding, batches } = freshInstance();
    const slots = registerDropped(binding, 20000);
    const delivered = await collectDelivered(batches, 20000);
    assert.equal(delivered.length, 20000);
    assert.deepEqual(ascending(delivered), ascending(slots));
    assert.ok(batches.every((b) => b.length <= 1024));
  });

  it('below 4,096 deaths the queue is not sorted, and everything still arrives once', async function () {
    const { binding, batches } = freshInstance();
    const { slots, otherKeep } = registerDroppedShuffled(binding, 3000);
    const delivered = await collectDelivered(batches, 3000);
    assert.equal(delivered.length, 3000);
    assert.deepEqual(ascending(delivered), ascending(slots));
    assert.ok(!isAscending(delivered), 'a backlog of 3,000 was sorted');
    assert.equal(otherKeep.length, 3000);
  });

  it('slots beyond 2^11 and 2^22 (all three radix digits) sort correctly: 70,000 deaths after 4,200,000 registrations made and stopped', async function () {
    needs(this, 'one backlog per collection');
    needs(this, 'fast reference deletion');
    this.timeout(120000);
    const { binding, batches } = freshInstance();
    // Slots past 2^22 (three 11-bit digits): 4.2 million registrations.
    const keep = [];
    const ids = [];
    for (let i = 0; i < 4200000; i++) {
      keep.push({});
      ids.push(binding.register(keep[i]));
    }
    // Stop all but 70,000 spread over the whole range; those die.
    const dying = new Set();
    for (let i = 0; i < 70000; i++) dying.add(Math.floor((i * 4200000) / 70000) + (i % 60));
    for (let i = 0; i < ids.length; i++) if (!dying.has(i)) binding.stop(ids[i]);
    const expected = ascending([...dying].map((i) => ids[i] % SPAN));
    assert.ok(expected.at(-1) >= 2 ** 22, 'precondition: slots past 2^22');
    for (const i of dying) keep[i] = null;
    keep.length = 0;
    assert.deepEqual(await collectDelivered(batches, 70000), expected);
  });
});

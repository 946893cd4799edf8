'use strict';
// Model-based random testing, the short run inside `npm test`: 2·10^5 random
// operations checked against a reference model (test/model/, whose index.js
// documents the model). The full run of 10^6 operations and the soak mode
// are `npm run test:model` and `npm run soak` (test/reliability/model.js, CI).
//
// Each random sequence mixes: addCleanup on new objects of many kinds and on
// shared targets already holding registrations, with primitive and object
// args (including other targets, and self-references, which can never run);
// stop() on live, dropped, finished, repeated and stale handles; dropping
// targets; minor and full gc(); event-loop turns and microtask hops; invalid
// calls; and cleanups that throw, register more cleanups, stop others, call
// gc() or queue a nextTick when they run. What it pins: each cleanup runs
// once, later, with this undefined and its arg, never inside addCleanup or
// gc(); several per object; any kind of ptr; input validation; stop()'s
// results (queued cleanups still run); a ptr reachable from its own
// registration never collected; minor GCs release young objects; a thrown
// value reaches the listener once and the batch goes on; re-entrancy.
//
// The seed is random unless ADDCLEANUP_SEED is set; a failure prints it with
// fast-check's path and the shrunk sequence. ADDCLEANUP_MODEL_OPS changes the
// number of operations.
const assert = require('node:assert/strict');
const { requireGc, needs } = require('./helpers');
const { runModel, defaultSeed } = require('./model');

requireGc();

const OPS = Number(process.env.ADDCLEANUP_MODEL_OPS) || 100000;

describe('model-based random testing: random operation sequences match the reference model', function () {
  it(`${OPS} random operations (register, drop, stop, gc, throwing and re-entrant cleanups) never contradict the model`, async function () {
    needs(this, 'precise collection');
    // Normally 10-20 s on 2 cores (`npm run test:model` runs 10^6 in CI);
    // the margin is for a loaded machine and for shrinking a failure
    // (bounded by shrinkBudgetMs below).
    this.timeout(180000);
    const seed = defaultSeed();
    const totals = await runModel({ ops: OPS, seed, shrinkBudgetMs: 40000 });
    // The run really happened, at the size asked for, and exercised the
    // interesting paths (otherwise the model would check nothing).
    assert.ok(totals.ops >= OPS, `only ${totals.ops} operations ran (seed ${seed})`);
    assert.ok(totals.runs > OPS / 10, `only ${totals.runs} cleanups ran (seed ${seed})`);
    assert.ok(totals.stopsTrue > 0, 'no stop() cancelled anything');
    assert.ok(totals.throws > 0, 'no cleanup threw');
    assert.ok(totals.nested > 0, 'no cleanup registered another one');
    assert.ok(totals.neverRun > 0, 'no self-referencing registration (one that can never run) was checked');
    assert.ok(totals.minorGcs > 0 && totals.gcs > 0, 'no gc() of both kinds');
  });
});

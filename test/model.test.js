'use strict';
// Model-based random testing (issue 4, item 1), the short run inside
// `npm test`: 2·10^5 random operations checked against a reference model
// (test/model-checker.js, which documents the model). The full run of 10^6
// operations and the soak mode are `node --expose-gc test/reliability/model.js` (CI).
//
// Each random sequence mixes: addCleanup on new objects of many kinds and on
// shared targets already holding registrations, with primitive and object
// args (including other targets, and self-references: point 7); stop() on
// live, dropped, finished, repeated and stale handles; dropping targets;
// minor and full gc(); event-loop turns and microtask hops; invalid calls;
// and cleanups that throw, register more cleanups, stop others, call gc() or
// queue a nextTick when they run. Points pinned: 1 (once, later, this/arg,
// never inside addCleanup/gc), 2, 3, 4, 5 (stop results, queued cleanups
// still run), 7, 8 (minor gc), 9 (listener sees each thrown value once, the
// batch goes on), 11 (re-entrancy).
//
// The seed is random unless ADDCLEANUP_SEED is set; a failure prints it with
// fast-check's path and the shrunk sequence. ADDCLEANUP_MODEL_OPS changes the
// number of operations.
const assert = require('node:assert/strict');
const { requireGc, needs } = require('./helpers');
const { runModel, defaultSeed } = require('./model-checker');

requireGc();

const OPS = Number(process.env.ADDCLEANUP_MODEL_OPS) || 200000;

describe('model-based random testing: random operation sequences match the reference model (points 1-5, 7-9, 11)', function () {
  it(`points 1, 2, 3, 4, 5, 7, 8, 9, 11: ${OPS} random operations (fast-check commands) never contradict the model`, async function () {
    needs(this, 'precise collection');
    // Normally 20-40 s on 2 cores; the margin is for a loaded machine and for
    // shrinking a failure (bounded by shrinkBudgetMs below).
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
    assert.ok(totals.neverRun > 0, 'no self-referencing registration (point 7) was checked');
    assert.ok(totals.minorGcs > 0 && totals.gcs > 0, 'no gc() of both kinds');
  });
});

'use strict';
// Model-based random testing of addCleanup (issue 4, item 1). Shared by
// test/model.test.js (a short run inside `npm test`) and test/reliability/model.js (the
// 10^6-operation run and the soak mode). Not a test file itself: mocha only
// loads test/**/*.test.js.
//
// The checker is split by concern. This file runs it: the fast-check batches,
// the seeds, and the 'uncaughtException' listener. state.js holds what every
// sequence of a run shares (the totals, the identity tables, the counted
// gc()) and one registration as the model sees it; targets.js the kinds of
// targets and args; run.js one sequence's model and its final drain;
// operations.js each call on the real package, checked against the model, and
// what a model cleanup checks and does when it runs; commands.js the
// fast-check commands and the arbitraries that generate them.
//
// fast-check generates random sequences of operations (fc.commands) and
// replays them against the real package with fc.asyncModelRun. We use
// fast-check's own async model runner rather than a hand-written generator:
// measured on this 2-core machine its overhead is about 3.5 µs per command
// (~290,000 commands/s for no-op commands), negligible next to the gc() calls
// and event-loop turns the sequences contain (whole runs check 5,000-9,000
// operations per second, almost all of it spent inside gc()), and in exchange
// it gives seeds, replay (seed + path) and shrinking of a failing sequence.
//
// THE MODEL. The model cannot know when V8 finds an object dead, so it only
// asserts what is certain, online (at the moment something happens) and at the
// end of each sequence:
//   - A target is CERTAINLY ALIVE while the test holds it (the `held` map), or
//     while the arg or closure of an unfinished registration (not run, not
//     successfully stopped) references it: the package keeps those in its own
//     tables, which are GC roots.
//   - The first stop() of a registration whose target is certainly alive must
//     return true; the first stop() of one that already ran must return false;
//     any later stop() of the same handle must return false; stop() on handles
//     from earlier, finished sequences (stale ids whose slots were reused) must
//     return false. Otherwise (target dropped) either answer is allowed and the
//     model records it: true => that cleanup must never run; false => it was
//     already queued, so it must run exactly once.
//   - A cleanup must never run while its target is certainly alive, never after
//     its stop() returned true, never twice, never synchronously inside
//     addCleanup() or gc(); it gets `this === undefined`, exactly one argument,
//     and its own arg (same primitive, or the same object).
//   - At the end of a sequence every target is dropped and gc() + loop turns
//     are repeated (bounded, like helpers.until) until every registration
//     whose target is not kept alive for ever has run. "Kept alive for ever"
//     is the greatest fixpoint of "held, or referenced by a registration that
//     itself never finishes" (point 7: a target reachable from its own arg or
//     cleanup, directly or through a cycle of registrations). Those are then
//     stopped (true expected while certainly alive) and must never run.
//   - Every cleanup that threw was reported once to the 'uncaughtException'
//     listener, with the very value it threw (point 9); the other cleanups of
//     its batch still ran (they are all checked to run).
// A violation found inside a cleanup (where throwing would itself be an
// uncaught exception) is recorded and raised by the next command. Violations
// found after a sequence was judged (a late run) fail the next sequence and
// the final check.
const fc = require('fast-check');
const { turn } = require('../helpers');
const { G, newTotals, errorOwner, stringOwner, flaggedGc } = require('./state');
const { KINDS } = require('./targets');
const { ModelRun } = require('./run');
const { commandsArb } = require('./commands');

// ---------------------------------------------------------------------------
// The 'uncaughtException' listener (point 9). Installed for the duration of a
// run; other listeners (mocha's) are set aside and get every exception that no
// model cleanup threw.
function installListener() {
  const saved = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  function onUncaught(value, origin) {
    let rec;
    if (typeof value === 'string') rec = stringOwner.get(value);
    else if ((typeof value === 'object' && value !== null) || typeof value === 'function') rec = errorOwner.get(value);
    if (rec === undefined) {
      G.foreign.push(String(value && value.stack ? value.stack : value));
      for (const l of saved) l.call(process, value, origin);
      return;
    }
    // Found through errorOwner/stringOwner: the very value the cleanup threw.
    rec.caught++;
    if (rec.thrown === undefined) rec.run.fail(`the listener got a value ${rec} did not throw`);
    if (origin !== 'uncaughtException') rec.run.fail(`${rec}: origin ${origin}`);
  }
  process.on('uncaughtException', onUncaught);
  return function restore() {
    process.removeListener('uncaughtException', onUncaught);
    for (const l of saved) process.on('uncaughtException', l);
  };
}

// ---------------------------------------------------------------------------
// Runs sequences until `ops` operations have been checked (or `seconds`
// elapsed, when given). fast-check is called in batches of `batchRuns`
// sequences, each batch with its own seed derived from `seed`, so that a run
// of any length is reproducible and a failing batch prints its own seed and
// path. Resolves with the totals; rejects with fast-check's report (seed,
// path, shrunk counterexample) on failure.
async function runModel({
  ops = 200000,
  seconds = 0,
  seed = defaultSeed(),
  path,
  replayPath,
  maxCommands = 2000,
  batchRuns = 20,
  shrink = true,
  shrinkBudgetMs = 60000,
  onProgress,
  progressMs = 10000,
  log = () => {},
} = {}) {
  G.totals = newTotals();
  G.late.length = 0;
  G.foreign.length = 0;
  const restore = installListener();
  const elapsed = stopwatch();
  try {
    log(`model: base seed ${seed} (replay: ADDCLEANUP_SEED=${seed})`);
    const property = sequenceProperty({ maxCommands, replayPath, shrinkBudgetMs, onProgress, progressMs, elapsed });
    for (let batch = 0; ; batch++) {
      const e = elapsed().ms;
      if (seconds > 0 ? e >= seconds * 1000 || (ops > 0 && G.totals.ops >= ops) : G.totals.ops >= ops) break;
      const batchSeed = path !== undefined ? seed : (seed + Math.imul(batch, 0x9e3779b1)) | 0;
      const details = await fc.check(property, {
        seed: batchSeed,
        path,
        // Sequences average about maxCommands / 2 operations: the last batch
        // is cut down so as not to overshoot a small op count by much.
        numRuns: path !== undefined ? 1 : seconds > 0 ? batchRuns : Math.max(1, Math.min(batchRuns, Math.ceil((ops - G.totals.ops) / (maxCommands / 2)))),
        endOnFailure: !shrink,
      });
      if (details.failed) throw failureReport(details, batch, seed);
      if (path !== undefined) break;
    }
    await checkAfterJudging(seed);
    return { ...G.totals, ...elapsed(), seed };
  } finally {
    restore();
  }
}

// Wall-clock and CPU time since the call, for the totals and progress lines.
function stopwatch() {
  const t0 = Date.now();
  const cpu0 = process.cpuUsage();
  return () => {
    const c = process.cpuUsage(cpu0);
    return { ms: Date.now() - t0, cpuMs: Math.round((c.user + c.system) / 1000) };
  };
}

// The property fast-check checks: one generated sequence of commands, run
// against a fresh ModelRun, then judged by its final drain.
//
// Shrinking re-runs shorter sequences, each with its final drain; a failure
// of the "never ran" kind costs a full bounded drain per attempt. Once
// `shrinkBudgetMs` has passed since the first failure, further candidates are
// treated as passing without being run, which ends the shrinking at the
// smallest failing sequence found so far.
function sequenceProperty({ maxCommands, replayPath, shrinkBudgetMs, onProgress, progressMs, elapsed }) {
  let lastProgress = Date.now();
  let firstFailure = 0;
  let seq = 0;
  return fc.asyncProperty(commandsArb(maxCommands, replayPath), async (cmds) => {
    if (firstFailure !== 0 && Date.now() - firstFailure > shrinkBudgetMs) return;
    const run = new ModelRun(seq++);
    try {
      await fc.asyncModelRun(() => ({ model: run, real: run }), cmds);
      await run.verify();
    } catch (error) {
      if (firstFailure === 0) firstFailure = Date.now();
      throw error;
    } finally {
      run.close();
      if (firstFailure === 0) {
        G.totals.ops += run.ops;
        G.totals.sequences++;
      }
    }
    const now = Date.now();
    if (onProgress && now - lastProgress >= progressMs) {
      lastProgress = now;
      onProgress({ ...G.totals, ...elapsed() });
    }
  });
}

// The error a failing batch rejects with: how to replay it, and fast-check's
// report of the shrunk counterexample.
function failureReport(details, batch, seed) {
  const error = details.errorInstance;
  const err = new Error(
    `addCleanup model: FAILED (batch ${batch} of base seed ${seed}; fast-check seed ${details.seed}, ` +
      `path "${details.counterexamplePath}")\n` +
      `replay: ADDCLEANUP_SEED=${details.seed} ADDCLEANUP_PATH=${details.counterexamplePath} ` +
      `ADDCLEANUP_REPLAY_PATH='<the replayPath shown in the counterexample>' node --expose-gc test/reliability/model.js\n` +
      `${fc.defaultReportMessage(details)}\n\n` +
      `Error of the shrunk counterexample:\n${error && error.message ? error.message : error}`,
  );
  err.details = details;
  return err;
}

// Late runs (a cleanup of an already judged sequence running again, or
// after its stop() returned true) would be reported here.
async function checkAfterJudging(seed) {
  for (let i = 0; i < 4; i++) {
    await turn();
    flaggedGc(false);
    await turn();
    await turn();
  }
  if (G.late.length || G.foreign.length) {
    throw new Error(
      `addCleanup model (base seed ${seed}): violations after the sequences were judged:\n  ` +
        [...G.late, ...G.foreign.map((f) => `uncaught exception not thrown by a model cleanup: ${f}`)].join('\n  '),
    );
  }
}

function defaultSeed() {
  const env = process.env.ADDCLEANUP_SEED;
  if (env !== undefined && env !== '') return Number(env) | 0;
  return (Date.now() ^ (Math.random() * 0x100000000)) | 0;
}

module.exports = { runModel, defaultSeed, KINDS };

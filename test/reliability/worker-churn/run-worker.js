'use strict';
// The main thread's side of one worker-churn worker: starts worker.js with
// its plan, ends it at the planned moment (plan.js), then judges how it ended
// and adds its shared counters (shared.js) to the run's totals.
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { F, VIOLATIONS, PHASES, P_BOOT } = require('./shared');
const { MOMENTS } = require('./plan');

const WORKER = path.join(__dirname, 'worker.js');
const GUARD_MS = 60000;

/** The run's tallies over all workers, filled by runWorker(). */
function createTallies() {
  return {
    outcomes: { terminated: Object.fromEntries(MOMENTS.map((m) => [m, 0])), natural: 0, uncaught: 0 },
    phaseAtTerminate: Object.fromEntries(PHASES.map((p) => [p, 0])),
    undeliveredAtTerminate: { workers: 0, registrations: 0 },
    totals: {
      registered: 0,
      ran: 0,
      stoppedDying: 0,
      stoppedLive: 0,
      live: 0,
      thrown: 0,
      caught: 0,
      reAdd: 0,
      reStop: 0,
      reGc: 0,
      messages: 0,
    },
    violations: Object.fromEntries(VIOLATIONS.map((v) => [v, 0])),
  };
}

// Adds a finished worker's shared counters to the tallies; a violation fails.
function addCounters(tallies, shared, messages, where, fail) {
  for (const v of VIOLATIONS) {
    const n = Atomics.load(shared, F[v]);
    tallies.violations[v] += n;
    if (n !== 0) fail(`${where}: ${v} = ${n}`);
  }
  const t = tallies.totals;
  t.registered += Atomics.load(shared, F.REGISTERED);
  t.ran += Atomics.load(shared, F.RAN);
  t.stoppedDying += Atomics.load(shared, F.STOPPED_TRUE);
  t.stoppedLive += Atomics.load(shared, F.STOPPED_LIVE);
  t.live += Atomics.load(shared, F.LIVE);
  t.thrown += Atomics.load(shared, F.THROWN);
  t.caught += Atomics.load(shared, F.CAUGHT);
  t.reAdd += Atomics.load(shared, F.RE_ADD);
  t.reStop += Atomics.load(shared, F.RE_STOP);
  t.reGc += Atomics.load(shared, F.RE_GC);
  t.messages += messages;
}

// How the worker ended (an uncaught error, terminate(), or by itself), and
// whether that ending is allowed for its plan.
function judgeEnding(cfg, ending, where, tallies, fail) {
  const { code, errors, done, terminateCalled, phaseWhenTerminated } = ending;
  if (errors.length > 0) {
    // Only allowed: the worker's own cleanup threw with no listener.
    const [error] = errors;
    const ours =
      cfg.throwMode === 'unhandled' &&
      errors.length === 1 &&
      error instanceof Error &&
      new RegExp(`^churn boom ${cfg.index}:\\d+$`).test(error.message);
    if (!ours) fail(`${where}: unexpected error(s): ${errors.map((e) => (e && e.stack) || e).join('; ')}`);
    if (code !== 1) fail(`${where}: died of an uncaught error but exit code ${code}`);
    if (done !== null) fail(`${where}: died of an uncaught error after 'done'`);
    tallies.outcomes.uncaught++;
  } else if (terminateCalled) {
    // terminate() gives exit code 1, unless the worker had already
    // finished and was exiting by itself, or had not started running
    // its script yet (Node reports 0 for a worker terminated while it
    // boots, with or without this package).
    const early = phaseWhenTerminated === P_BOOT;
    if (!(code === 1 || (code === 0 && (done !== null || early)))) {
      fail(`${where}: terminated (${PHASES[phaseWhenTerminated]}), exit code ${code}`);
    }
    tallies.outcomes.terminated[cfg.moment]++;
  } else {
    if (code !== 0) fail(`${where}: exited by itself with code ${code}`);
    if (done === null) fail(`${where}: exited by itself before finishing`);
    tallies.outcomes.natural++;
  }
}

// A worker that finished: its exact counts.
function judgeReport(cfg, r, where, fail) {
  if (r.wrong !== 0 || r.ran !== r.expected) {
    fail(`${where}: ${r.ran} dying cleanups ran, expected ${r.expected}; ${r.wrong} ids wrong`);
  }
  if (cfg.throwMode === 'handled' && (r.caught !== r.thrown || r.uncaughtLeft !== 0)) {
    fail(`${where}: ${r.thrown} thrown, ${r.caught} seen by the listener, ${r.uncaughtLeft} never seen`);
  }
  if (cfg.throwMode === 'unhandled' && r.thrown !== 0) fail(`${where}: a cleanup threw and the worker went on`);
}

// Records what the worker was doing when terminate() was called, and how
// many of its dying registrations were neither stopped nor run yet (objects
// not yet collected, or cleanups queued or in the middle of a delivery).
function recordTermination(tallies, shared) {
  const phase = Atomics.load(shared, F.PHASE);
  tallies.phaseAtTerminate[PHASES[phase]]++;
  const undelivered =
    Atomics.load(shared, F.REGISTERED) - Atomics.load(shared, F.STOPPED_TRUE) - Atomics.load(shared, F.RAN);
  if (undelivered > 0) {
    tallies.undeliveredAtTerminate.workers++;
    tallies.undeliveredAtTerminate.registrations += undelivered;
  }
  return phase;
}

/** Runs the worker of `cfg` to its end; resolves once it exited and was judged. */
function runWorker(cfg, tallies, fail) {
  return new Promise((resolve) => {
    const shared = new Int32Array(new SharedArrayBuffer(4 * F.LENGTH));
    const worker = new Worker(WORKER, { workerData: { ...cfg, shared } });
    const ending = { code: null, errors: [], done: null, terminateCalled: false, phaseWhenTerminated: -1 };
    let messages = 0;
    let exited = false;
    let timer = null;
    const terminate = () => {
      if (ending.terminateCalled || exited) return;
      ending.terminateCalled = true;
      ending.phaseWhenTerminated = recordTermination(tallies, shared);
      worker.terminate().catch((error) => fail(`worker ${cfg.index}: terminate() rejected: ${error}`));
    };
    const guard = setTimeout(() => {
      fail(`worker ${cfg.index} (${cfg.moment}, ${cfg.throwMode}) still running after ${GUARD_MS} ms`);
      terminate();
    }, GUARD_MS);
    worker.on('error', (error) => ending.errors.push(error));
    worker.on('message', (message) => {
      messages++;
      if (message.step === 'done') ending.done = message.report;
      if (cfg.moment === 'message' && messages === cfg.atMessage) terminate();
    });
    worker.on('exit', (code) => {
      exited = true;
      clearTimeout(guard);
      if (timer !== null) clearTimeout(timer);
      ending.code = code;
      const where = `worker ${cfg.index} (${cfg.moment}, ${cfg.throwMode}, exit ${code})`;
      addCounters(tallies, shared, messages, where, fail);
      judgeEnding(cfg, ending, where, tallies, fail);
      if (ending.done !== null) judgeReport(cfg, ending.done, where, fail);
      resolve();
    });
    if (cfg.moment === 'immediate') terminate();
    else if (cfg.moment === 'delay') timer = setTimeout(terminate, cfg.delayMs);
  });
}

/** Runs the plan's workers, at most `concurrency` at once. */
async function runPool(plan, concurrency, tallies, fail, onStarted) {
  let next = 0;
  const lane = async () => {
    while (next < plan.length) {
      const cfg = plan[next++];
      onStarted(next);
      await runWorker(cfg, tallies, fail);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, plan.length) }, lane));
}

module.exports = { createTallies, runPool };

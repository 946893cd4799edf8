'use strict';
// One measurement in a fresh process: one experiment, one implementation, one
// N. Started by bench/run.js as
//
//   node --expose-gc bench/child.js --impl=<name> --experiment=<name> --n=<N>
//        [--timeout-ms=<ms>] [--churn-wait-ms=<ms>] [--steady-reps=<k>]
//   node bench/child.js --probe=<impl>          (can this implementation load?)
//
// It prints exactly one line starting with RESULT_PREFIX and a JSON object on
// stdout, then exits. Anything else it prints (stderr) is diagnostics.
const fs = require('node:fs');
const { IMPLS } = require('./impls');
const { RESULT_PREFIX } = require('./protocol');
const { parseCommandLine } = require('../tools/cli');

function emit(result) {
  // writeSync: the line must be complete before process.exit() below.
  fs.writeSync(1, `${RESULT_PREFIX}${JSON.stringify(result)}\n`);
}

function errorText(error, lines = 3) {
  const msg = error && error.message ? error.message : String(error);
  return msg.split('\n').slice(0, lines).join(' | ');
}

async function main() {
  const names = ['probe', 'impl', 'experiment', 'n', 'timeout-ms', 'churn-wait-ms', 'steady-reps'];
  const options = Object.fromEntries(names.map((name) => [name, { type: 'string' }]));
  const args = parseCommandLine({ options }).values;

  if (args.probe) {
    const spec = IMPLS[args.probe];
    if (!spec) return emit({ ok: false, reason: `unknown implementation ${args.probe}` });
    try {
      // Whether its finalizers run inside the GC (native engine, napi-ref).
      const { finalizersInGc } = spec.load()(() => {});
      return emit({ ok: true, finalizersInGc });
    } catch (error) {
      return emit({ ok: false, reason: errorText(error, 1) });
    }
  }

  // figures.js (through loop.js) insists on --expose-gc.
  const { EXPERIMENTS, onCleanup } = require('./figures');
  const spec = IMPLS[args.impl];
  const experiment = EXPERIMENTS[args.experiment];
  const n = Number(args.n);
  if (!spec || !experiment || !(n > 0)) {
    throw new Error(`bad arguments: ${process.argv.slice(2).join(' ')}`);
  }
  // Loading the package and creating the registry happen before any
  // measurement, so their fixed cost is in every baseline.
  const impl = spec.load()(onCleanup);
  const timeoutMs = Number(args['timeout-ms']) || 30000;
  const churnWaitMs = Number(args['churn-wait-ms']) || 2000;
  const steadyReps = Number(args['steady-reps']) || 3;
  const t0 = process.hrtime.bigint();
  const result = await experiment.run(impl, n, { timeoutMs, churnWaitMs, steadyReps });
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  emit({ ok: true, impl: args.impl, experiment: args.experiment, n, wallMs, result });
}

// process.exit() right after the result line: nothing left pending (1e6 live
// registrations, queued cleanups) may cost time or fail at teardown. weak-napi
// 2.0.2 segfaults at a natural exit on Node 20 while any of its weak
// references is alive; process.exit() skips that teardown. (A crash after the
// result line would not lose the result anyway: run.js reads the line first.)
main().then(
  () => process.exit(0),
  (error) => {
    emit({ ok: false, error: errorText(error) });
    process.exit(1);
  },
);

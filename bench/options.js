'use strict';
// The command line of bench/run.js.
//
// Options (also: BENCH_N, BENCH_ROUNDS in the environment):
//   --n=100000,1000000    the N values (1e5 notation accepted)
//   --rounds=3            rounds per N (at least 3 for meaningful medians)
//   --quick               smoke test: N=10000, short waits
//   --impls=a,b           subset of addcleanup,addcleanup-js,fr-token,fr-plain,napi-ref,weak-napi,addcleanup-traced,addcleanup-debug
//   --experiments=a,b     subset of register,memory,delivery,gcpause,stop,churn,steady
//   --timeout=30          seconds to wait for a delivery before "incomplete"
//   --churn-wait=2        seconds to wait, without gc(), after the churn loop
//   --node-flags="..."    extra flags for every child (applied identically)
//   --json=path           where to write the results (bench/results/latest.json)
const fs = require('node:fs');
const path = require('node:path');
const { IMPLS, NAMES, ALL_NAMES } = require('./impls');
const { UsageError, parseCommandLine } = require('../tools/cli');

/** The experiments of bench/figures.js, in the order they run. */
const EXPERIMENT_NAMES = ['register', 'memory', 'delivery', 'gcpause', 'stop', 'churn', 'steady'];

/** Flags every child gets; --node-flags adds to them, identically for all. */
const BASE_FLAGS = ['--expose-gc'];

// --help prints the option lines of the comment above.
const HELP = fs
  .readFileSync(__filename, 'utf8')
  .split('\n')
  .filter((l) => l.startsWith('//   --'))
  .map((l) => l.slice(3))
  .join('\n');

function parseList(s) {
  return String(s)
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
}

const OPTIONS = Object.fromEntries(
  ['n', 'rounds', 'impls', 'experiments', 'figures', 'timeout', 'churn-wait', 'node-flags', 'json']
    .map((name) => [name, { type: 'string' }])
    .concat([['quick', { type: 'boolean' }]]),
);

function parseOptions(argv, env) {
  let raw;
  try {
    raw = parseCommandLine({ args: argv, options: OPTIONS }).values;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    throw new Error(`${error.message} (try --help)`);
  }
  if (raw.help) return { help: true };

  const quick = raw.quick === true;
  const nSpec = raw.n ?? env.BENCH_N ?? (quick ? '10000' : '100000,1000000');
  const ns = parseList(nSpec).map((x) => {
    const v = Number(x);
    if (!Number.isInteger(v) || v < 100) throw new Error(`--n: ${x} is not an integer >= 100`);
    return v;
  });
  const rounds = Number(raw.rounds ?? env.BENCH_ROUNDS ?? 3);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds must be a positive integer');
  const impls = raw.impls ? parseList(raw.impls) : NAMES;
  for (const i of impls) if (!IMPLS[i]) throw new Error(`unknown implementation ${i} (one of ${ALL_NAMES.join(', ')})`);
  const exps = raw.experiments || raw.figures ? parseList(raw.experiments || raw.figures) : EXPERIMENT_NAMES;
  for (const e of exps) if (!EXPERIMENT_NAMES.includes(e)) throw new Error(`unknown experiment ${e} (one of ${EXPERIMENT_NAMES.join(', ')})`);
  const timeoutS = Number(raw.timeout ?? (quick ? 10 : 30));
  const churnWaitS = Number(raw['churn-wait'] ?? (quick ? 1 : 2));
  if (!(timeoutS > 0) || !(churnWaitS > 0)) throw new Error('--timeout and --churn-wait must be positive numbers of seconds');
  const extraFlags = raw['node-flags'] ? String(raw['node-flags']).split(/\s+/).filter(Boolean) : [];
  const json = path.resolve(raw.json ? String(raw.json) : path.join(__dirname, 'results', 'latest.json'));
  return {
    quick,
    ns,
    rounds,
    impls,
    experiments: exps,
    timeoutMs: timeoutS * 1000,
    churnWaitMs: churnWaitS * 1000,
    nodeFlags: [...BASE_FLAGS, ...extraFlags],
    json,
  };
}

module.exports = { parseOptions, HELP, EXPERIMENT_NAMES };

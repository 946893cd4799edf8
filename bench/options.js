'use strict';
// The command line of bench/run.js.
//
// Options (also: BENCH_N, BENCH_ROUNDS in the environment):
//   --n=100000,1000000    the N values (1e5 notation accepted)
//   --rounds=3            rounds per N (at least 3 for meaningful medians)
//   --quick               fewer, shorter runs: N=10000 unless --n, 1 round unless --rounds,
//                         short waits, 2 steady-state runs of each kind instead of 3
//   --node=all            the Nodes to run on: all (= 20,26), host (the Node running this),
//                         or majors (20,26); a major other than the host's comes from the
//                         npm registry, cached like the Node matrix's. Default: all, or
//                         host with --json
//   --json                print only the figures, as JSON on stdout (one line per Node
//                         and N: {"node","n","figures"}); progress goes to stderr
//   --impls=a,b           subset of addcleanup,fr-token,fr-token-separate,fr-raw,napi-ref,addcleanup-js,
//                         weak-napi,addcleanup-traced,addcleanup-debug (default: the first six)
//   --experiments=a,b     subset of register,memory,delivery,gcpause,stop,churn,steady
//   --timeout=30          seconds to wait for a delivery before "incomplete"
//   --churn-wait=2        seconds to wait, without gc(), after the churn loop
//   --node-flags="..."    extra flags for every child (applied identically)
//   --out=path            where to write every round's results (bench/results/latest.json)
const fs = require('node:fs');
const path = require('node:path');
const { IMPLS, NAMES, ALL_NAMES } = require('./impls');
const { UsageError, parseCommandLine } = require('../tools/cli');

/** The experiments of bench/figures.js, in the order they run. */
const EXPERIMENT_NAMES = ['register', 'memory', 'delivery', 'gcpause', 'stop', 'churn', 'steady'];

/** Flags every child gets; --node-flags adds to them, identically for all. */
const BASE_FLAGS = ['--expose-gc'];

/** What --node=all means: the oldest Node the package supports and the newest. */
const ALL_NODES = [20, 26];

// --help prints the option lines of the comment above.
const HELP = fs
  .readFileSync(__filename, 'utf8')
  .split('\n')
  .filter((l) => /^\/\/ {3}(--| {20})/.test(l))
  .map((l) => l.slice(3))
  .join('\n');

function parseList(s) {
  return String(s)
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
}

const OPTIONS = Object.fromEntries(
  ['n', 'rounds', 'node', 'impls', 'experiments', 'figures', 'timeout', 'churn-wait', 'node-flags', 'out']
    .map((name) => [name, { type: 'string' }])
    .concat([
      ['quick', { type: 'boolean' }],
      ['json', { type: 'boolean' }],
    ]),
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
  const rounds = Number(raw.rounds ?? env.BENCH_ROUNDS ?? (quick ? 1 : 3));
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds must be a positive integer');
  const impls = raw.impls ? parseList(raw.impls) : NAMES;
  for (const i of impls) if (!IMPLS[i]) throw new Error(`unknown implementation ${i} (one of ${ALL_NAMES.join(', ')})`);
  const exps = raw.experiments || raw.figures ? parseList(raw.experiments || raw.figures) : EXPERIMENT_NAMES;
  for (const e of exps) if (!EXPERIMENT_NAMES.includes(e)) throw new Error(`unknown experiment ${e} (one of ${EXPERIMENT_NAMES.join(', ')})`);
  const timeoutS = Number(raw.timeout ?? (quick ? 10 : 30));
  const churnWaitS = Number(raw['churn-wait'] ?? (quick ? 1 : 2));
  if (!(timeoutS > 0) || !(churnWaitS > 0)) throw new Error('--timeout and --churn-wait must be positive numbers of seconds');
  const extraFlags = raw['node-flags'] ? String(raw['node-flags']).split(/\s+/).filter(Boolean) : [];
  const out = path.resolve(raw.out ? String(raw.out) : path.join(__dirname, 'results', 'latest.json'));
  const json = raw.json === true;
  return {
    quick,
    json,
    nodes: parseNodes(raw.node ?? (json ? 'host' : 'all')),
    ns,
    rounds,
    impls,
    experiments: exps,
    timeoutMs: timeoutS * 1000,
    churnWaitMs: churnWaitS * 1000,
    steadyReps: quick ? 2 : 3,
    nodeFlags: [...BASE_FLAGS, ...extraFlags],
    out,
  };
}

// --node: 'host', or Node majors; `all` is ALL_NODES. Duplicates dropped.
function parseNodes(spec) {
  const nodes = [];
  for (const x of parseList(spec)) {
    const items = x === 'all' ? ALL_NODES : [x === 'host' ? 'host' : Number(x)];
    for (const item of items) {
      if (item !== 'host' && !(Number.isInteger(item) && item >= 20)) {
        throw new Error(`--node: ${x} is not all, host or a Node major >= 20`);
      }
      if (!nodes.includes(item)) nodes.push(item);
    }
  }
  if (nodes.length === 0) throw new Error('--node needs all, host or Node majors');
  return nodes;
}

module.exports = { parseOptions, HELP, EXPERIMENT_NAMES, ALL_NODES };

#!/usr/bin/env node
'use strict';
// Worker churn at scale (issue 4, item 3; points 12 and 13).
//
//   npm run test:churn -- [--workers=200] [--concurrency=8] [--seed=S]
//                         [--main-interval=50] [--quiet]
//
// --seed replays the same plan (which worker is ended when and how, the
// workloads); the thread timings, and so the exact outcomes, still vary.
// Without --seed a random one is used; it is printed either way.
// Takes 30 to 55 s with the defaults on 2 busy cores (85 s for 400 workers).
//
// Creates --workers worker threads (worker.js), at most --concurrency alive
// at once, each with thousands of pending, stopped, dying and re-entrant
// registrations, checking the contract as it goes and counting violations in
// shared memory (shared.js), which the main thread reads even after it
// terminated the worker. The main thread ends each worker at a moment drawn
// per worker (plan.js: right after new Worker(), after a random delay, upon a
// random progress message, or never) and judges how it ended (run-worker.js).
// Meanwhile it keeps its own registrations flowing, in waves separated by
// --main-interval ms, and checks at the end that each of its cleanups ran
// exactly once (main-waves.js).
//
// Prints a summary and one line `RESULT <json>` (read by
// test/worker-churn.test.js). Exits 0 when every check held, 1 otherwise,
// 2 on bad usage. A crash or abort anywhere kills the process (a signal).
// Needs --expose-gc (npm run test:churn passes it; without it the script says
// so and exits 2).
const path = require('node:path');
const { commandLine } = require(path.join(__dirname, '..', '..', '..', 'tools', 'cli.js'));
const { requireNodeFlags } = require('../lib/node-flags');

const USAGE =
  'usage: node --expose-gc test/reliability/worker-churn/run.js [--workers=200] [--concurrency=8] [--seed=S] [--main-interval=50] [--quiet]';
const { values: opts, fail: badUsage } = commandLine({
  name: 'test/reliability/worker-churn/run.js',
  usage: USAGE,
  message: (error) => `bad argument ${error.arg ?? error.message}`,
  options: {
    workers: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '8' },
    seed: { type: 'string' },
    'main-interval': { type: 'string', default: '50' },
    quiet: { type: 'boolean', default: false },
  },
});
for (const [k, min] of [['workers', 0], ['concurrency', 1], ['main-interval', 1]]) {
  const n = Number(opts[k]);
  if (!Number.isInteger(n) || n < min || opts[k] === '') badUsage(`bad --${k}=${opts[k]}`);
  opts[k] = n;
}
requireNodeFlags('test/reliability/worker-churn/run.js', ['--expose-gc'], 'test:churn');

const { seededRandom, seedFromText } = require(path.join(__dirname, '..', '..', 'seeded-random'));
const { settle } = require(path.join(__dirname, '..', '..', 'helpers.js'));
const { MOMENTS, makePlan } = require('./plan');
const { mainLoop, finish } = require('./main-waves');
const { createTallies, runPool } = require('./run-worker');
const { printSummary } = require('./summary');

const SEED = opts.seed === undefined ? String(Math.floor(Math.random() * 2 ** 31)) : String(opts.seed);
const WORKERS = opts.workers;
const CONCURRENCY = opts.concurrency;
const INTERVAL = opts['main-interval'];

const log = (...a) => {
  if (!opts.quiet) console.log(...a);
};
const MB = 2 ** 20;
const failures = [];
const fail = (msg) => {
  failures.push(msg);
  if (failures.length <= 20) console.log(`worker-churn: FAILURE: ${msg}`);
};

async function main() {
  const t0 = Date.now();
  const rssStart = process.memoryUsage().rss;
  let rssPeak = rssStart;
  const plan = makePlan(seededRandom(seedFromText(SEED)), WORKERS);
  const tallies = createTallies();
  log(
    `worker-churn: ${WORKERS} workers, concurrency ${CONCURRENCY}, seed ${SEED}, ` +
      `main-thread wave every ${INTERVAL} ms; node ${process.version}`,
  );
  let workersDone = false;
  const loop = mainLoop({
    interval: INTERVAL,
    isDone: () => workersDone,
    afterWave: () => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)),
  });
  // If the main loop fails, stop at once (workers would otherwise hide it).
  loop.catch(() => {});
  const onStarted = (n) => {
    if (n % 25 === 0) log(`  ${n}/${plan.length} workers started, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  };
  await Promise.race([runPool(plan, CONCURRENCY, tallies, fail, onStarted), loop.then(() => {})]);
  workersDone = true;
  await loop;
  const seconds = (Date.now() - t0) / 1000;

  // The main thread's still-alive registrations, released now, must all
  // run, and every count must be exact.
  const main = await finish(fail);
  const { outcomes } = tallies;
  const terminatedTotal = Object.values(outcomes.terminated).reduce((s, n) => s + n, 0);
  if (terminatedTotal + outcomes.natural + outcomes.uncaught !== WORKERS) {
    fail(`outcomes add up to ${terminatedTotal + outcomes.natural + outcomes.uncaught}, not ${WORKERS}`);
  }

  await settle(2);
  const rssEnd = process.memoryUsage().rss;
  const summary = {
    seed: SEED,
    workers: WORKERS,
    concurrency: CONCURRENCY,
    seconds: Number(seconds.toFixed(1)),
    planned: Object.fromEntries(MOMENTS.map((m) => [m, plan.filter((p) => p.moment === m).length])),
    terminated: outcomes.terminated,
    terminatedTotal,
    natural: outcomes.natural,
    uncaught: outcomes.uncaught,
    phaseAtTerminate: tallies.phaseAtTerminate,
    undeliveredAtTerminate: tallies.undeliveredAtTerminate,
    workerTotals: tallies.totals,
    violations: tallies.violations,
    main,
    rssMB: {
      start: +(rssStart / MB).toFixed(1),
      peak: +(rssPeak / MB).toFixed(1),
      end: +(rssEnd / MB).toFixed(1),
    },
    failures: failures.length,
  };
  printSummary(summary, log);
  console.log(`RESULT ${JSON.stringify(summary)}`);
  if (failures.length > 0) {
    console.log(`worker-churn: FAILED (${failures.length} failures, seed ${SEED})`);
    process.exitCode = 1;
  } else {
    log(`worker-churn: OK (seed ${SEED})`);
  }
}

main().catch((error) => {
  console.error(`worker-churn: FAILED (seed ${SEED}): ${error && error.stack ? error.stack : error}`);
  process.exit(1);
});

'use strict';
// Worker churn at scale: 200 workers, at
// most 8 alive at once, each with thousands of pending, stopped, queued and
// in-delivery registrations (cleanups that throw, with and without an
// 'uncaughtException' listener, and cleanups that call addCleanup/stop/gc
// re-entrantly), terminated at random moments (right after creation, after a
// random delay, upon a random progress message) or left to exit by
// themselves, while the main thread keeps registering and collecting its own
// objects. The work is done by test/reliability/worker-churn/run.js (also run on its own,
// by CI); see its header for what each worker does and checks.
//
// The script runs in a child process, so that a crash or an abort during a
// worker's teardown kills only the child and shows here as a signal.
// test/workers.test.js covers one worker terminated at 8 fixed moments; this
// test is about scale and random timing.
const assert = require('node:assert/strict');
const path = require('node:path');
const { runNode, assertCleanExit, lacks } = require('./helpers');

const SCRIPT = path.join(__dirname, 'reliability', 'worker-churn', 'run.js');
// 100 workers here keep npm test short (the whole suite also runs under four
// Node versions in CI); CI runs the script itself with the full 200.
const WORKERS = 100;
const PER_MOMENT = WORKERS / 4;
const CONCURRENCY = 8;
// A new seed each run (more timings and plans covered over time); every
// assertion message names it. ADDCLEANUP_CHURN_SEED replays a plan (timings
// still differ from run to run).
const SEED = process.env.ADDCLEANUP_CHURN_SEED || String(Math.floor(Math.random() * 2 ** 31));
// The run takes 30 to 60 s on 2 busy cores; these limits only stop a hung child.
const CHILD_TIMEOUT_MS = 170000;

// Deno's report of an uncaught worker error, for the errors the churn's
// cleanups throw on purpose: the headline, the source line and its caret, and
// the stack. Anything else is kept.
function withoutChurnBoomReports(stderr) {
  const plain = stderr.replace(/\x1b\[[0-9;]*m/g, '');
  const kept = [];
  let inReport = false;
  for (const line of plain.split('\n')) {
    if (/^error: Uncaught \(in worker "[^"]*"\) Error: churn boom \d+:\d+$/.test(line)) inReport = true;
    else if (inReport && (/^\s+at /.test(line) || /^\s+\^$/.test(line) || /new Error\(`churn boom/.test(line))) continue;
    else {
      inReport = false;
      if (line !== '') kept.push(line);
    }
  }
  return kept.join('\n');
}

// V8's report of a worker.terminate() that lands while the worker's V8 is
// creating a context (a context made with --expose-gc installs the 'v8/gc'
// extension; the termination is thrown inside that compilation, and V8
// prints it, with the script on top of the stack, as a bootstrapping error).
// The worker ends as asked; the lines come from V8, not from the package.
// Seen once under Wine (Node 22 for Windows, whose bootstrap is slow enough to
// be caught), for a worker terminated right after new Worker(). The script's
// own dump goes to stdout, which is not compared.
const TERMINATED_DURING_BOOTSTRAP =
  /^Exception thrown during bootstrapping\r?\nExtension or internal compilation error in [^\r\n]* at line \d+\.\r?\nError installing extension '[^'\r\n]+'\.\r?\n/gm;

describe('worker churn at scale', function () {
  this.timeout(CHILD_TIMEOUT_MS + 10000);

  it(`${WORKERS} workers (${CONCURRENCY} at once) with thousands of pending, stopped, queued and in-delivery registrations, terminated at random moments or exiting by themselves: no crash or abort, every count exact, main-thread cleanups keep running`, async function () {
    const result = await runNode(
      [SCRIPT, `--workers=${WORKERS}`, `--concurrency=${CONCURRENCY}`, `--seed=${SEED}`, '--quiet'],
      { timeoutMs: CHILD_TIMEOUT_MS },
    );
    const where = `seed ${SEED}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
    // No abort, no V8/Node fatal error, no failed native assertion.
    for (const word of ['FATAL', 'Assertion', 'Aborted']) {
      assert.ok(!result.stderr.includes(word), `stderr mentions ${word}; ${where}`);
    }
    assertCleanExit(result, 0);
    // Worker errors go to the main thread's 'error' handler, not stderr.
    // Deno prints them too: there, only its reports of the cleanups' own
    // "churn boom" errors are allowed.
    const reported = result.stderr.replace(TERMINATED_DURING_BOOTSTRAP, '');
    const stderr = lacks('silent worker errors') ? withoutChurnBoomReports(reported) : reported;
    assert.equal(stderr, '', `the child printed on stderr; ${where}`);

    const line = result.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    assert.ok(line, `no RESULT line; ${where}`);
    const s = JSON.parse(line.slice('RESULT '.length));
    assert.equal(s.failures, 0, `the script counted failures; ${where}`);
    assert.equal(s.seed, SEED);

    // Every worker was created and ended one way or another.
    assert.equal(s.workers, WORKERS);
    assert.deepEqual(
      s.planned,
      { immediate: PER_MOMENT, delay: PER_MOMENT, message: PER_MOMENT, never: PER_MOMENT },
      where,
    );
    const terminated =
      s.terminated.immediate + s.terminated.delay + s.terminated.message + s.terminated.never;
    assert.equal(s.terminatedTotal, terminated, where);
    assert.equal(terminated + s.natural + s.uncaught, WORKERS, `outcomes do not add up; ${where}`);
    // 'never' counts workers the hang guard had to terminate: none.
    assert.equal(s.terminated.never, 0, `workers did not exit by themselves; ${where}`);
    // terminate() right after new Worker() always lands before the worker
    // could finish or throw.
    assert.equal(s.terminated.immediate, PER_MOMENT, where);
    // Each kind of ending really happened.
    assert.ok(s.terminated.delay > 0, `no worker terminated after a delay; ${where}`);
    assert.ok(s.terminated.message > 0, `no worker terminated upon a message; ${where}`);
    assert.ok(s.natural > 0, `no worker exited by itself; ${where}`);
    assert.ok(s.uncaught > 0, `no worker died of a cleanup's uncaught error; ${where}`);
    // Some terminations landed with dying cleanups not yet run (objects not
    // yet collected, or cleanups queued or being delivered).
    assert.ok(s.undeliveredAtTerminate.workers > 0, `no termination had cleanups in flight; ${where}`);

    // The workers' own checks (counted in shared memory, so they cover
    // terminated workers too): nothing ran twice, for a stopped or live
    // registration, on the wrong thread, synchronously, or with a wrong arg.
    for (const [name, n] of Object.entries(s.violations)) assert.equal(n, 0, `workers: ${name}; ${where}`);
    assert.ok(s.workerTotals.registered > 100000, where);
    assert.ok(s.workerTotals.ran > 0 && s.workerTotals.thrown > 0 && s.workerTotals.reAdd > 0, where);

    // The main thread: every cleanup ran exactly once, on the main thread;
    // none of the stopped ones; each 50 ms wave was delivered while the
    // workers churned.
    assert.ok(s.main.waves > 0, where);
    assert.equal(s.main.dying.expected, s.main.waves * 1000, where);
    assert.equal(s.main.dying.actual, s.main.dying.expected, `main-thread cleanups; ${where}`);
    assert.equal(
      s.main.keptAlive.actual,
      s.main.keptAlive.expected,
      `main-thread kept-alive cleanups; ${where}`,
    );
    assert.equal(s.main.actual, s.main.expected, where);
    assert.equal(s.main.stoppedRan, 0, where);
    for (const [name, n] of Object.entries(s.main.violations))
      assert.equal(n, 0, `main thread: ${name}; ${where}`);
  });
});

'use strict';
// Worker threads, and keep-alive, exit and teardown in workers: per-environment
// state, many workers at once, a worker created and terminated over and over,
// process.exit() and uncaught exceptions from a cleanup inside a worker, and
// live registrations that do not keep a worker alive.
const assert = require('node:assert/strict');
const path = require('node:path');
const { Worker, threadId: mainThreadId, isMainThread } = require('node:worker_threads');
const { addCleanup } = require('..');
const { inScope, until, settle, runFixture, assertCleanExit, needs } = require('./helpers');

const WORKER = path.join(__dirname, 'fixtures', 'worker-cleanups.js');

// If a worker never exits on its own (for instance because a live
// registration keeps its loop alive), it is terminated after this long so
// that the test fails instead of hanging mocha. This is a hang guard, not a
// timing assertion: a healthy worker exits as soon as its script is done.
const EXIT_GUARD_MS = 30000;

// Starts worker-cleanups.js and resolves when it has exited, with everything
// it posted, the errors it emitted and its exit code. Rejects if the worker
// had to be terminated by the guard.
function runWorker(workerData) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, { workerData });
    const messages = [];
    const errors = [];
    const workerThreadId = worker.threadId;
    const guard = setTimeout(() => {
      worker.terminate();
      reject(
        new Error(
          `worker ${workerThreadId} (${workerData.mode}) did not exit on its own ` +
            `within ${EXIT_GUARD_MS} ms; messages: ${JSON.stringify(messages)}`,
        ),
      );
    }, EXIT_GUARD_MS);
    worker.on('message', (message) => messages.push(message));
    worker.on('error', (error) => errors.push(error));
    worker.on('exit', (exitCode) => {
      clearTimeout(guard);
      resolve({ threadId: workerThreadId, messages, errors, exitCode });
    });
  });
}

// Checks a 'count' worker's outcome: exactly `n` cleanups, each index once,
// all on the worker's own thread, none for the live objects, and a natural
// exit with code 0 although `live` registrations were still pending.
function assertCountReport(result, n, live) {
  assert.deepEqual(result.errors, [], `worker ${result.threadId} emitted errors`);
  assert.equal(result.exitCode, 0, `worker ${result.threadId} exit code`);
  assert.equal(result.messages.length, 1, `worker ${result.threadId} posted one report`);
  const report = result.messages[0];
  assert.equal(report.threadId, result.threadId);
  assert.notEqual(report.threadId, mainThreadId);
  assert.equal(report.ran, n, 'every cleanup ran');
  assert.equal(report.duplicates, 0, 'no cleanup ran twice');
  assert.equal(report.missing, 0, 'no index was skipped');
  assert.equal(report.badArgs, 0, 'every cleanup got its own arg');
  // The cleanups ran on the worker's thread, never on the main thread (0).
  assert.deepEqual(report.threadsSeen, [result.threadId]);
  assert.equal(report.liveCount, live);
  assert.equal(report.liveRan, 0, 'no cleanup of a live object ran');
}

describe('worker threads', function () {
  this.timeout(120000);

  before(function () {
    assert.equal(isMainThread, true);
    assert.equal(mainThreadId, 0);
  });

  it('a worker runs its 5,000 cleanups on its own thread; 1,000 live registrations do not keep it alive (exits by itself, code 0)', async function () {
    const result = await runWorker({ mode: 'count', n: 5000, live: 1000 });
    assertCountReport(result, 5000, 1000);
  });

  it('8 workers at once plus main-thread registrations: every count exact, no cleanup crosses threads', async function () {
    const N = 5000;
    const LIVE = 1000;
    const WORKERS = 8;
    const workers = [];
    for (let i = 0; i < WORKERS; i++) workers.push(runWorker({ mode: 'count', n: N, live: LIVE }));

    // Meanwhile the main thread registers and collects its own objects, in
    // waves, so that its GCs and deliveries interleave with the workers'.
    const MAIN_N = 5000;
    const WAVE = 500;
    const seen = new Uint8Array(MAIN_N);
    const threadsSeen = new Set();
    let ran = 0;
    let duplicates = 0;
    const onMainCleanup = (i) => {
      threadsSeen.add(require('node:worker_threads').threadId);
      if (seen[i]++ !== 0) duplicates++;
      ran++;
    };
    for (let wave = 0; wave < MAIN_N / WAVE; wave++) {
      // inScope: the wave's objects are unreachable once it returns.
      inScope(() => {
        for (let i = wave * WAVE; i < (wave + 1) * WAVE; i++) addCleanup({ main: i }, onMainCleanup, i);
      });
      await settle(1);
    }
    await until(() => ran >= MAIN_N, { rounds: 100, what: `${MAIN_N} main-thread cleanups` });

    const results = await Promise.all(workers);
    await settle(2);
    assert.equal(ran, MAIN_N, 'main-thread cleanups: exact count');
    assert.equal(duplicates, 0);
    assert.equal(seen.indexOf(0), -1, 'every main-thread index ran');
    assert.deepEqual([...threadsSeen], [0], 'main-thread cleanups ran only on the main thread');

    for (const result of results) assertCountReport(result, N, LIVE);
    const ids = new Set(results.map((r) => r.threadId));
    assert.equal(ids.size, WORKERS, 'eight distinct worker threads');
  });

  it('a worker created and terminated 40 times with pending, queued and in-delivery cleanups (in a child process): no crash, main thread still works', async function () {
    needs(this, 'terminating a busy worker');
    // A child process, so that an abort during a worker's teardown would kill
    // only the child; mocha then reports its signal instead of dying.
    const result = await runFixture('terminate-churn.js', ['40']);
    assertCleanExit(result, 0);
    assert.equal(result.stderr, '', 'the child printed nothing on stderr');
    const line = result.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    assert.ok(line, `no RESULT line in:\n${result.stdout}`);
    const summary = JSON.parse(line.slice('RESULT '.length));
    assert.equal(summary.rounds, 40);
    // Every termination resolved (the awaited promise gave an exit code).
    assert.equal(summary.terminated.length, 40);
    for (const code of summary.terminated) assert.equal(typeof code, 'number');
    // Ten rounds terminated a 50,000-object delivery after it had begun;
    // none of them ran a cleanup twice.
    assert.equal(summary.delivered.length, 10);
    for (const ran of summary.delivered) assert.ok(ran >= 1 && ran <= 50000, `delivered ${ran}`);
    // The 'stuck' rounds were cut off inside their first cleanup, so at least
    // those were mid-delivery.
    assert.ok(summary.midDelivery >= 5, `midDelivery ${summary.midDelivery}`);
    assert.equal(summary.mainRan, 100);
    assert.equal(summary.freshRan, 1);
  });

  for (const code of [0, 5]) {
    it(`process.exit(${code}) inside a worker's cleanup ends the worker with exit code ${code}; the main thread is unaffected`, async function () {
      const result = await runWorker({ mode: 'exit-in-cleanup', n: 2000, live: 1000, code });
      assert.deepEqual(result.errors, []);
      // 'exiting' came from inside the cleanup; 'not exited' would mean the
      // worker carried on after process.exit().
      assert.deepEqual(result.messages, ['exiting']);
      assert.equal(result.exitCode, code);

      // The main thread's own cleanups still work.
      let ran = 0;
      inScope(() => addCleanup({}, () => ran++, null));
      await until(() => ran === 1, { what: 'a main-thread cleanup after the worker exited' });
      await settle(2);
      assert.equal(ran, 1);
    });
  }

  it("in a worker: a cleanup that throws, with no 'uncaughtException' listener, makes the Worker emit 'error' with that error; the main process survives", async function () {
    const result = await runWorker({ mode: 'throw-in-cleanup', n: 2000, live: 1000 });
    // Like any uncaught exception in a worker: one 'error' event carrying the
    // (cloned) error, then exit code 1, and the worker did not carry on.
    assert.equal(result.errors.length, 1, `errors: ${result.errors.map(String).join(', ')}`);
    const [error] = result.errors;
    assert.ok(error instanceof Error, `not an Error: ${error}`);
    assert.equal(error.message, `boom from a cleanup in worker ${result.threadId}`);
    assert.deepEqual(result.messages, []);
    assert.equal(result.exitCode, 1);

    // Still alive here, and the main thread's cleanups still run.
    let ran = 0;
    inScope(() => addCleanup({}, () => ran++, null));
    await until(() => ran === 1, { what: 'a main-thread cleanup after the worker died' });
  });
});

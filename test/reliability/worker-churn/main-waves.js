'use strict';
// The main thread's own registrations during a worker-churn run, in waves
// separated by --main-interval ms: each wave registers 1,000 objects and drops
// them, registers and stops 100 more, keeps 10 more alive until the end, and
// waits (bounded gc() plus loop turns) until that wave's 1,000 cleanups ran.
// At the end, finish() releases the kept ones and checks with exact counts
// that every cleanup ran exactly once, on the main thread, and that none of
// the stopped or still-alive ones ran early.
const path = require('node:path');
const workerThreads = require('node:worker_threads');

const ROOT = path.join(__dirname, '..', '..', '..');
const { addCleanup } = require(ROOT);
const { inScope, until, settle, lacks } = require(path.join(ROOT, 'test', 'helpers.js'));

// Where minor GCs release nothing (the JS engine before V8 14), every wave
// uses full ones.
const minorGcLacking = lacks('release after minor GCs') !== undefined;

const WAVE = 1000;
const STOP_PER_WAVE = 100;
const KEEP_PER_WAVE = 10;

let seen = new Uint8Array(1 << 16); // runs per dying index
let registered = 0;
let ranCount = 0;
let waves = 0;
let maxRounds = 0;
const waveRan = []; // runs per wave
const violations = { dup: 0, thread: 0, args: 0, stoppedRan: 0, liveRanEarly: 0, stopFalse: 0 };
let keptAlive = []; // objects kept alive until the end
let keptRan = 0;
let released = false;

function onMain(i) {
  if (this !== undefined || arguments.length !== 1 || !Number.isInteger(i) || i < 0 || i >= registered) {
    violations.args++;
    return;
  }
  if (workerThreads.threadId !== 0) violations.thread++;
  if (seen[i]++ !== 0) violations.dup++;
  ranCount++;
  waveRan[Math.floor(i / WAVE)]++;
}

function onMainStopped() {
  violations.stoppedRan++;
}

function onMainLive() {
  if (workerThreads.threadId !== 0) violations.thread++;
  if (!released) violations.liveRanEarly++;
  keptRan++;
}

function registerWave() {
  const first = registered;
  if (first + WAVE > seen.length) {
    const bigger = new Uint8Array(seen.length * 2);
    bigger.set(seen);
    seen = bigger;
  }
  registered += WAVE;
  waveRan.push(0);
  for (let i = first; i < first + WAVE; i++) addCleanup({ main: i }, onMain, i);
  const objects = [];
  const handles = [];
  for (let i = 0; i < STOP_PER_WAVE; i++) {
    objects.push({ mainStopped: i });
    handles.push(addCleanup(objects[i], onMainStopped, i));
  }
  for (const h of handles) if (h.stop() !== true) violations.stopFalse++;
  for (let i = 0; i < KEEP_PER_WAVE; i++) {
    const obj = { mainLive: i };
    keptAlive.push(obj);
    addCleanup(obj, onMainLive, i);
  }
}

/** Runs waves every `interval` ms until `isDone()`; calls `afterWave()` after each. */
async function mainLoop({ interval, isDone, afterWave }) {
  while (!isDone()) {
    const wave = waves++;
    // inScope: the wave's objects are unreachable once it returns.
    inScope(registerWave);
    // Bounded gc() + loop turns: the wave's cleanups keep running while
    // workers come and go. Every other wave uses minor GCs (the objects
    // die young; point 8), the others full ones.
    const rounds = await until(() => waveRan[wave] === WAVE, {
      rounds: 100,
      minor: wave % 2 === 0 && !minorGcLacking,
      what: `main-thread wave ${wave} (${WAVE} cleanups)`,
    });
    maxRounds = Math.max(maxRounds, rounds);
    afterWave();
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

/**
 * Releases the kept-alive objects, waits for every cleanup, reports each
 * wrong count to `fail`, and returns the figures of the summary's `main`.
 */
async function finish(fail) {
  const liveCount = keptAlive.length;
  released = true;
  keptAlive = null;
  await until(() => ranCount === registered && keptRan === liveCount, {
    rounds: 100,
    what: 'every main-thread cleanup',
  });
  await settle(3);
  let missing = 0;
  for (let i = 0; i < registered; i++) if (seen[i] !== 1) missing++;
  if (ranCount !== registered) fail(`main thread: ${ranCount} cleanups ran, expected ${registered}`);
  if (keptRan !== liveCount) fail(`main thread: ${keptRan} kept-alive cleanups ran, expected ${liveCount}`);
  if (missing !== 0) fail(`main thread: ${missing} indexes did not run exactly once`);
  for (const [k, n] of Object.entries(violations)) if (n !== 0) fail(`main thread: ${k} = ${n}`);
  return {
    waves,
    expected: registered + liveCount,
    actual: ranCount + keptRan,
    dying: { expected: registered, actual: ranCount },
    keptAlive: { expected: liveCount, actual: keptRan },
    stopped: waves * STOP_PER_WAVE,
    stoppedRan: violations.stoppedRan,
    maxRoundsPerWave: maxRounds,
    violations,
  };
}

module.exports = { WAVE, mainLoop, finish };

#!/usr/bin/env node
'use strict';
// Worker churn at scale (issue 4, item 3; points 12 and 13).
//
//   node test/reliability/worker-churn/run.js [--workers=200] [--concurrency=8] [--seed=S]
//                                [--main-interval=50] [--quiet]
//
// --seed replays the same plan (which worker is ended when and how, the
// workloads); the thread timings, and so the exact outcomes, still vary.
// Without --seed a random one is used; it is printed either way.
// Takes 30 to 55 s with the defaults on 2 busy cores (85 s for 400 workers).
//
// Creates --workers worker threads, at most --concurrency alive at once. Each
// worker (this same file, run as a worker) loads the package and makes
// thousands of registrations:
//   - pending: on live objects kept in a global until the worker ends;
//   - stopped: on objects, then stop() (must return true); half of those
//     objects are dropped afterwards (their cleanups must never run);
//   - dying: waves of objects dropped at once and collected with gc() (full or
//     minor), so that at any moment some cleanups are delivered, some queued
//     and some in the middle of a delivery; some waves are big (tens of
//     thousands) so that their delivery spans several batches and slices;
//   - among the dying ones, cleanups that do a little work, cleanups that throw
//     (in some workers with an 'uncaughtException' listener, which must see
//     every thrown error object exactly once; in others without one, which
//     makes the worker die with that error: an allowed outcome), and
//     cleanups that re-enter: addCleanup() on new objects, stop() on other
//     registrations' handles, gc().
// Every worker checks the contract as it goes (each cleanup at most once, with
// its own arg, `this` undefined, never synchronously inside addCleanup() or
// gc(), never for a stopped registration; stop() true on a live pending
// registration, never true after the cleanup ran; every error seen by the
// listener is one a cleanup threw) and counts violations in a
// SharedArrayBuffer, which the main thread reads even after the worker was
// terminated. A worker that gets to the end waits until every dying,
// unstopped cleanup ran, checks the counts exactly, posts 'done' and exits on
// its own although its live registrations are still pending.
//
// The main thread ends each worker at a random moment, chosen per worker:
//   immediate  worker.terminate() right after new Worker();
//   delay      worker.terminate() after a random delay (0 to 800 ms);
//   message    worker.terminate() upon a random one of its progress messages
//              (some are posted from inside cleanups, mid-delivery);
//   never      the worker is left to exit by itself (or to die of its
//              unhandled throwing cleanup).
// Meanwhile the main thread keeps its own registrations flowing, in waves
// separated by --main-interval ms: each wave registers 1,000 objects and
// drops them, registers and stops 100 more, keeps 10 more alive until the
// end, and waits (bounded gc() plus loop turns) until that wave's 1,000
// cleanups ran. At the end it
// checks with exact counts that every main-thread cleanup ran exactly once, on
// the main thread, and that none of the stopped or still-alive ones ran.
//
// Prints a summary and one line `RESULT <json>` (read by
// test/worker-churn.test.js). Exits 0 when every check held, 1 otherwise,
// 2 on bad usage. A crash or abort anywhere kills the process (a signal).
// Needs --expose-gc; without it the script re-runs itself with the flag.
const path = require('node:path');
const { isMainThread } = require('node:worker_threads');

if (isMainThread && typeof globalThis.gc !== 'function') {
  const { spawnSync } = require('node:child_process');
  const r = spawnSync(
    process.execPath,
    ['--expose-gc', ...process.execArgv, __filename, ...process.argv.slice(2)],
    {
      stdio: 'inherit',
    },
  );
  process.exit(r.status === null ? 1 : r.status);
}

const ROOT = path.join(__dirname, '..', '..', '..');

// Layout of each worker's shared Int32Array. VIOLATIONS lists the counters
// that must stay 0.
const F = {
  REGISTERED: 0, // dying registrations made (wave and re-entrant ones)
  RAN: 1, // dying cleanups run
  STOPPED_TRUE: 2, // stop() calls on dying registrations that returned true
  THROWN: 3, // cleanups that threw
  CAUGHT: 4, // errors seen by the worker's 'uncaughtException' listener
  RE_ADD: 5, // addCleanup() calls made from inside a cleanup
  RE_STOP: 6, // stop() calls made from inside a cleanup
  RE_GC: 7, // gc() calls made from inside a cleanup
  PHASE: 8, // what the worker is doing (PHASE_* below)
  MESSAGES: 9, // progress messages posted
  LIVE: 10, // registrations on objects kept alive
  STOPPED_LIVE: 11, // registrations stopped while their object was alive
  WAVE: 12, // current wave
  // Violations:
  V_STOPPED_RAN: 13, // a stopped registration's cleanup ran
  V_DUP: 14, // a cleanup ran twice
  V_THREAD: 15, // a cleanup ran on another thread
  V_ARGS: 16, // wrong arg, `this` or argument count
  V_LIVE_RAN: 17, // the cleanup of a live object ran
  V_STOP_LIVE: 18, // stop() of a live pending registration did not return true (or a second stop() did not return false)
  V_SYNC: 19, // a cleanup ran inside addCleanup(), gc() or another cleanup
  V_STOP_AFTER_RUN: 20, // stop() returned true after the cleanup had run
  V_CAUGHT: 21, // the listener saw an error no cleanup threw (or one twice)
  V_OTHER: 22, // anything else (an unexpected exception in the worker's script)
  LENGTH: 23,
};
const VIOLATIONS = [
  'V_STOPPED_RAN',
  'V_DUP',
  'V_THREAD',
  'V_ARGS',
  'V_LIVE_RAN',
  'V_STOP_LIVE',
  'V_SYNC',
  'V_STOP_AFTER_RUN',
  'V_CAUGHT',
  'V_OTHER',
];
const PHASES = ['booting', 'setup', 'registering', 'in the loop', 'inside a cleanup', 'final drain', 'done'];
const [P_BOOT, P_SETUP, P_REGISTER, P_LOOP, P_CLEANUP, P_DRAIN, P_DONE] = PHASES.keys();

// Small seeded PRNG (mulberry32), so that a seed replays the same plan.
function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  next.int = (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)); // inclusive
  next.pick = (list) => list[Math.floor(next() * list.length)];
  return next;
}

function hashSeed(text) {
  let h = 2166136261;
  for (const ch of String(text)) h = Math.imul(h ^ ch.codePointAt(0), 16777619) >>> 0;
  return h;
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

if (isMainThread) {
  mainThread();
} else {
  workerThread();
}

// ---------------------------------------------------------------------------
// Worker side.
// ---------------------------------------------------------------------------
function workerThread() {
  const workerThreads = require('node:worker_threads');
  const { parentPort, workerData, threadId } = workerThreads;
  const cfg = workerData;
  const S = cfg.shared;
  // Bun does not pass --expose-gc on to workers: Bun.gc(true) is its full
  // collection (it has no minor one to ask for).
  const gc = globalThis.gc ?? (globalThis.Bun ? () => globalThis.Bun.gc(true) : undefined);
  const rand = prng(cfg.seed);
  const bump = (field, n = 1) => Atomics.add(S, field, n);
  const phase = (p) => Atomics.store(S, F.PHASE, p);

  phase(P_SETUP);
  const { addCleanup } = require(ROOT);

  // >0 while inside addCleanup() loops, gc() or a cleanup: no cleanup may
  // start then (they only run from the event loop, never nested).
  let sync = 0;
  let depth = 0;
  const post = (step, extra) => {
    bump(F.MESSAGES);
    parentPort.postMessage({ step, wave: Atomics.load(S, F.WAVE), ran: Atomics.load(S, F.RAN), ...extra });
  };

  // --- pending registrations on live objects ----------------------------
  const live = []; // kept reachable until the worker ends
  const liveHandles = [];
  const liveStopped = [];
  function onLive() {
    // The object is in `live` until the thread ends: never collected.
    bump(F.V_LIVE_RAN);
  }
  function addLive(tag) {
    const obj = { live: tag, payload: [tag] };
    live.push(obj);
    liveHandles.push(addCleanup(obj, onLive, tag));
    liveStopped.push(0);
    bump(F.LIVE);
  }
  sync++;
  for (let i = 0; i < cfg.live; i++) addLive(i);
  sync--;

  // --- stopped registrations (objects alive at the stop) ----------------
  function onStoppedRan() {
    bump(F.V_STOPPED_RAN);
  }
  const keptStopped = (function registerAndStop() {
    const objects = [];
    const handles = [];
    sync++;
    for (let i = 0; i < cfg.stopped; i++) {
      const obj = { stopped: i };
      objects.push(obj);
      handles.push(addCleanup(obj, onStoppedRan, i));
    }
    sync--;
    for (const h of handles) if (h.stop() !== true) bump(F.V_STOP_LIVE);
    for (const h of handles) if (h.stop() !== false) bump(F.V_STOP_LIVE);
    bump(F.STOPPED_LIVE, handles.length);
    // Half of those objects die (their stopped cleanups must still not
    // run), half stay alive.
    return objects.filter((_, i) => i % 2 === 0);
  })();
  globalThis.churnKeep = { live, keptStopped };

  // --- dying registrations ----------------------------------------------
  // Per id: what the cleanup does, whether it ran, whether stop() cancelled
  // it, and its handle (handles hold only a number, never the object).
  const K_PLAIN = 0;
  const K_THROW = 1;
  const K_ADD = 2;
  const K_STOP = 3;
  const K_GC = 4;
  const kind = [];
  const ran = [];
  const stopped = [];
  const handles = [];
  let ranLocal = 0;
  let stoppedLocal = 0;
  let registeredLocal = 0;
  // Errors thrown by cleanups and not yet seen by the listener.
  const inFlight = new Set();

  function chooseKind() {
    const r = rand();
    if (r < cfg.throwRate) return cfg.throwMode === 'none' ? K_PLAIN : K_THROW;
    if (r < cfg.throwRate + cfg.addRate) return K_ADD;
    if (r < cfg.throwRate + cfg.addRate + cfg.stopRate) return K_STOP;
    if (r < cfg.throwRate + cfg.addRate + cfg.stopRate + cfg.gcRate) return K_GC;
    return K_PLAIN;
  }

  // Registers one dying object; the caller must not keep `obj`.
  function registerDying(k) {
    const id = kind.length;
    kind.push(k);
    ran.push(0);
    stopped.push(0);
    // Some args are objects (never referencing the watched object).
    const arg = id % 7 === 0 ? { id, payload: new ArrayBuffer(32) } : id;
    sync++;
    handles.push(addCleanup({ id, data: [id, id + 1] }, onDie, arg));
    sync--;
    registeredLocal++;
    bump(F.REGISTERED);
    return id;
  }

  // A separate frame: the wave's objects are unreachable once it returns.
  function registerWave(count, allowThrow) {
    const first = kind.length;
    for (let i = 0; i < count; i++) {
      let k = chooseKind();
      if (k === K_THROW && !allowThrow) k = K_PLAIN;
      registerDying(k);
    }
    return first;
  }

  function stopDying(id) {
    const result = handles[id].stop();
    if (result === true) {
      if (ran[id] !== 0) bump(F.V_STOP_AFTER_RUN);
      stopped[id] = 1;
      stoppedLocal++;
      bump(F.STOPPED_TRUE);
    }
    return result;
  }

  function onDie(arg) {
    if (this !== undefined || arguments.length !== 1) bump(F.V_ARGS);
    if (sync !== 0 || depth !== 0) bump(F.V_SYNC);
    if (workerThreads.threadId !== threadId || threadId === 0) bump(F.V_THREAD);
    const id = typeof arg === 'number' ? arg : arg !== null && typeof arg === 'object' ? arg.id : -1;
    if (!(id >= 0 && id < kind.length) || (typeof arg === 'object' && arg.payload.byteLength !== 32)) {
      bump(F.V_ARGS);
      return;
    }
    const before = Atomics.load(S, F.PHASE);
    depth++;
    phase(P_CLEANUP);
    try {
      if (stopped[id] !== 0) bump(F.V_STOPPED_RAN);
      if (ran[id]++ !== 0) bump(F.V_DUP);
      ranLocal++;
      bump(F.RAN);
      // A little work.
      let x = 0;
      for (let i = 0; i < 200; i++) x += (i * id) & 7;
      if (x < 0) throw new Error('unreachable');
      // Progress from inside the delivery: a 'message' termination may land
      // in the middle of it.
      if (ranLocal % 500 === 0) post('cleanup');
      switch (kind[id]) {
        case K_THROW: {
          const error = new Error(`churn boom ${cfg.index}:${id}`);
          error.churnId = id;
          inFlight.add(error);
          bump(F.THROWN);
          throw error;
        }
        case K_ADD: {
          // Re-entrant registrations: a new dying object (collected by a
          // later gc()), and sometimes a new pending one.
          bump(F.RE_ADD);
          registerDying(rand() < 0.2 ? K_ADD : K_PLAIN);
          if (rand() < 0.25) {
            sync++;
            addLive(`re${id}`);
            sync--;
          }
          break;
        }
        case K_STOP: {
          bump(F.RE_STOP);
          // stop() on some dying registration (maybe this one, maybe one
          // queued in this very batch): true means it had not been found
          // dead yet, and then it must never run.
          stopDying(Math.floor(rand() * kind.length));
          // stop() on a live pending one: true the first time, then false.
          const j = Math.floor(rand() * liveHandles.length);
          const expected = liveStopped[j] === 0;
          if (liveHandles[j].stop() !== expected) bump(F.V_STOP_LIVE);
          liveStopped[j] = 1;
          break;
        }
        case K_GC: {
          bump(F.RE_GC);
          sync++;
          if (rand() < 0.5) gc({ type: 'minor' });
          else gc();
          sync--;
          break;
        }
        default:
          break;
      }
    } finally {
      depth--;
      phase(before);
    }
  }

  if (cfg.throwMode === 'handled') {
    process.on('uncaughtException', (error) => {
      // Exactly the error object a cleanup threw, once.
      if (!inFlight.delete(error)) bump(F.V_CAUGHT);
      bump(F.CAUGHT);
    });
  }

  const expectedRuns = () => registeredLocal - stoppedLocal;

  // gc() plus two loop turns, bounded, until `predicate` holds. Mostly
  // minor GCs: the dying objects die young, a scavenge finds them (point 8),
  // and a full gc() costs 10 to 100 ms with 8 workers on 2 cores; every third
  // round is a full one, for objects that were promoted anyway.
  async function until(predicate, rounds, what) {
    for (let i = 0; i <= rounds; i++) {
      if (predicate()) return;
      await turn();
      sync++;
      if (i % 3 === 2) gc();
      else gc({ type: 'minor' });
      sync--;
      await turn();
      await turn();
    }
    throw new Error(`worker ${cfg.index}: ${what} not reached after ${rounds} rounds`);
  }

  async function run() {
    post('setup');
    for (let w = 0; w < cfg.waves.length; w++) {
      const wave = cfg.waves[w];
      Atomics.store(S, F.WAVE, w);
      phase(P_REGISTER);
      const first = registerWave(wave.size, cfg.throwMode === 'handled' || w === cfg.throwWave);
      phase(P_LOOP);
      // Some of the wave's handles are stopped after the objects were
      // dropped, before the gc(): usually true (not collected yet), and
      // then the cleanup never runs.
      for (let i = 0; i < wave.stopAfterDrop; i++) stopDying(first + Math.floor(rand() * wave.size));
      sync++;
      if (wave.minor) gc({ type: 'minor' });
      else gc();
      sync--;
      post('gc', { size: wave.size });
      // How long before the next wave: not at all (the next registrations
      // and gc() pile on while this one is queued), one turn, a short
      // timer, or until delivered.
      if (wave.wait === 'turn') await turn();
      else if (wave.wait === 'timer') await new Promise((resolve) => setTimeout(resolve, wave.ms));
      else if (wave.wait === 'drain')
        await until(() => ranLocal === expectedRuns(), 100, `wave ${w} delivered`);
      post('wave');
    }
    // Everything dropped must be delivered before the end, each once.
    phase(P_DRAIN);
    await until(() => ranLocal === expectedRuns(), 200, 'every dying cleanup run');
    // Nothing more may run (no duplicates show up later).
    for (let i = 0; i < 2; i++) {
      sync++;
      gc();
      sync--;
      await turn();
      await turn();
    }
    let wrong = 0;
    for (let id = 0; id < kind.length; id++) if (ran[id] !== (stopped[id] ? 0 : 1)) wrong++;
    const report = {
      registered: registeredLocal,
      stopped: stoppedLocal,
      ran: ranLocal,
      expected: expectedRuns(),
      wrong,
      thrown: Atomics.load(S, F.THROWN),
      caught: Atomics.load(S, F.CAUGHT),
      uncaughtLeft: inFlight.size,
      live: live.length,
    };
    phase(P_DONE);
    parentPort.postMessage({ step: 'done', report });
    // The worker now exits by itself, with its live registrations pending.
  }

  run().catch((error) => {
    bump(F.V_OTHER);
    throw error;
  });
}

// ---------------------------------------------------------------------------
// Main thread.
// ---------------------------------------------------------------------------
function mainThread() {
  const workerThreads = require('node:worker_threads');
  const { Worker, threadId } = workerThreads;
  const { addCleanup } = require(ROOT);
  const { inScope, until, settle } = require(path.join(ROOT, 'test', 'helpers.js'));

  const USAGE =
    'usage: node test/reliability/worker-churn/run.js [--workers=200] [--concurrency=8] [--seed=S] [--main-interval=50] [--quiet]';
  const opts = { workers: 200, concurrency: 8, seed: undefined, 'main-interval': 50, quiet: false };
  for (const a of process.argv.slice(2)) {
    const m = /^--(workers|concurrency|seed|main-interval)=(.+)$/.exec(a);
    if (a === '--quiet') opts.quiet = true;
    else if (m) opts[m[1]] = m[2];
    else {
      console.error(`test/reliability/worker-churn/run.js: bad argument ${a}\n${USAGE}`);
      process.exit(2);
    }
  }
  for (const k of ['workers', 'concurrency', 'main-interval']) {
    const n = Number(opts[k]);
    if (!Number.isInteger(n) || n < (k === 'main-interval' ? 1 : k === 'workers' ? 0 : 1)) {
      console.error(`test/reliability/worker-churn/run.js: bad --${k}=${opts[k]}\n${USAGE}`);
      process.exit(2);
    }
    opts[k] = n;
  }
  const SEED = opts.seed === undefined ? String(Math.floor(Math.random() * 2 ** 31)) : String(opts.seed);
  const WORKERS = opts.workers;
  const CONCURRENCY = opts.concurrency;
  const INTERVAL = opts['main-interval'];
  const rand = prng(/^\d+$/.test(SEED) ? Number(SEED) : hashSeed(SEED));
  const log = (...a) => {
    if (!opts.quiet) console.log(...a);
  };

  const MB = 2 ** 20;
  const rssStart = process.memoryUsage().rss;
  let rssPeak = rssStart;
  const t0 = Date.now();
  const failures = [];
  const fail = (msg) => {
    failures.push(msg);
    if (failures.length <= 20) console.log(`worker-churn: FAILURE: ${msg}`);
  };

  // --- the plan -------------------------------------------------------------
  // Termination moments and throw modes are spread evenly (then shuffled), so
  // that every combination shows up in a run of 20 workers or more.
  const MOMENTS = ['immediate', 'delay', 'message', 'never'];
  const THROW_MODES = ['none', 'handled', 'unhandled', 'none', 'handled'];
  const plan = [];
  for (let i = 0; i < WORKERS; i++) {
    const waves = [];
    const nWaves = rand.int(3, 6);
    const bigWave = rand() < 0.25 ? rand.int(0, nWaves - 1) : -1;
    for (let w = 0; w < nWaves; w++) {
      const size = w === bigWave ? rand.int(8000, 20000) : rand.int(300, 3000);
      waves.push({
        size,
        minor: rand() < 0.4,
        stopAfterDrop: rand() < 0.5 ? rand.int(0, Math.floor(size / 10)) : 0,
        wait: rand.pick(['none', 'turn', 'timer', 'drain']),
        ms: rand.int(0, 10),
      });
    }
    const totalDying = waves.reduce((s, w) => s + w.size, 0);
    plan.push({
      index: i,
      seed: Math.floor(rand() * 2 ** 32),
      moment: MOMENTS[i % MOMENTS.length],
      throwMode: THROW_MODES[Math.floor(i / MOMENTS.length) % THROW_MODES.length],
      live: rand.int(1000, 4000),
      stopped: rand.int(500, 2000),
      waves,
      throwWave: rand.int(0, nWaves - 1), // 'unhandled': the only wave with throwing cleanups
      throwRate: 0.002 + rand() * 0.01,
      addRate: rand() * 0.03,
      stopRate: rand() * 0.03,
      gcRate: rand() * 0.0005,
      delayMs: Math.floor(rand() * 800),
      // Progress messages: 'setup', then 'gc' and 'wave' per wave, plus one
      // per 500 cleanups run.
      atMessage: rand.int(1, 1 + 2 * nWaves + Math.floor(totalDying / 500)),
    });
  }
  for (let i = plan.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [plan[i], plan[j]] = [plan[j], plan[i]];
  }
  for (let i = 0; i < plan.length; i++) plan[i].index = i;

  // --- the main thread's own registrations --------------------------------
  const WAVE = 1000;
  const STOP_PER_WAVE = 100;
  const KEEP_PER_WAVE = 10;
  let mainSeen = new Uint8Array(1 << 16); // runs per dying index
  let mainRegistered = 0;
  let mainRan = 0;
  let mainWaves = 0;
  let maxRounds = 0;
  const waveRan = []; // runs per wave
  const mainViolations = { dup: 0, thread: 0, args: 0, stoppedRan: 0, liveRanEarly: 0, stopFalse: 0 };
  let mainLive = []; // objects kept alive until the end
  let mainLiveRan = 0;
  let releasedLive = false;

  function onMain(i) {
    if (
      this !== undefined ||
      arguments.length !== 1 ||
      !Number.isInteger(i) ||
      i < 0 ||
      i >= mainRegistered
    ) {
      mainViolations.args++;
      return;
    }
    if (workerThreads.threadId !== 0 || threadId !== 0) mainViolations.thread++;
    if (mainSeen[i]++ !== 0) mainViolations.dup++;
    mainRan++;
    waveRan[Math.floor(i / WAVE)]++;
  }
  function onMainStopped() {
    mainViolations.stoppedRan++;
  }
  function onMainLive() {
    if (workerThreads.threadId !== 0) mainViolations.thread++;
    if (!releasedLive) mainViolations.liveRanEarly++;
    mainLiveRan++;
  }

  function registerMainWave() {
    const first = mainRegistered;
    if (first + WAVE > mainSeen.length) {
      const bigger = new Uint8Array(mainSeen.length * 2);
      bigger.set(mainSeen);
      mainSeen = bigger;
    }
    mainRegistered += WAVE;
    waveRan.push(0);
    for (let i = first; i < first + WAVE; i++) addCleanup({ main: i }, onMain, i);
    const objects = [];
    const handles = [];
    for (let i = 0; i < STOP_PER_WAVE; i++) {
      objects.push({ mainStopped: i });
      handles.push(addCleanup(objects[i], onMainStopped, i));
    }
    for (const h of handles) if (h.stop() !== true) mainViolations.stopFalse++;
    for (let i = 0; i < KEEP_PER_WAVE; i++) {
      const obj = { mainLive: i };
      mainLive.push(obj);
      addCleanup(obj, onMainLive, i);
    }
  }

  let workersDone = false;
  async function mainLoop() {
    while (!workersDone) {
      const wave = mainWaves++;
      // inScope: the wave's objects are unreachable once it returns.
      inScope(registerMainWave);
      // Bounded gc() + loop turns: the wave's cleanups keep running while
      // workers come and go. Every other wave uses minor GCs (the objects
      // die young; point 8), the others full ones.
      const rounds = await until(() => waveRan[wave] === WAVE, {
        rounds: 100,
        minor: wave % 2 === 0,
        what: `main-thread wave ${wave} (${WAVE} cleanups)`,
      });
      maxRounds = Math.max(maxRounds, rounds);
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
      await new Promise((resolve) => setTimeout(resolve, INTERVAL));
    }
  }

  // --- one worker -----------------------------------------------------------
  const outcomes = {
    terminated: Object.fromEntries(MOMENTS.map((m) => [m, 0])),
    natural: 0,
    uncaught: 0,
  };
  const phaseAtTerminate = Object.fromEntries(PHASES.map((p) => [p, 0]));
  const undeliveredAtTerminate = { workers: 0, registrations: 0 };
  const totals = {
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
  };
  const violationTotals = Object.fromEntries(VIOLATIONS.map((v) => [v, 0]));
  const GUARD_MS = 60000;

  function runWorker(cfg) {
    return new Promise((resolve) => {
      const shared = new Int32Array(new SharedArrayBuffer(4 * F.LENGTH));
      const worker = new Worker(__filename, { workerData: { ...cfg, shared } });
      const errors = [];
      let done = null;
      let messages = 0;
      let terminateCalled = false;
      let phaseWhenTerminated = -1;
      let exited = false;
      const terminate = () => {
        if (terminateCalled || exited) return;
        terminateCalled = true;
        phaseWhenTerminated = Atomics.load(shared, F.PHASE);
        phaseAtTerminate[PHASES[phaseWhenTerminated]]++;
        // Dying registrations neither stopped nor run yet: objects not yet
        // collected, or cleanups queued or in the middle of a delivery.
        const undelivered =
          Atomics.load(shared, F.REGISTERED) -
          Atomics.load(shared, F.STOPPED_TRUE) -
          Atomics.load(shared, F.RAN);
        if (undelivered > 0) {
          undeliveredAtTerminate.workers++;
          undeliveredAtTerminate.registrations += undelivered;
        }
        worker.terminate().catch((error) => fail(`worker ${cfg.index}: terminate() rejected: ${error}`));
      };
      const guard = setTimeout(() => {
        fail(`worker ${cfg.index} (${cfg.moment}, ${cfg.throwMode}) still running after ${GUARD_MS} ms`);
        terminate();
      }, GUARD_MS);
      let timer = null;
      worker.on('error', (error) => errors.push(error));
      worker.on('message', (message) => {
        messages++;
        if (message.step === 'done') done = message.report;
        if (cfg.moment === 'message' && messages === cfg.atMessage) terminate();
      });
      worker.on('exit', (code) => {
        exited = true;
        clearTimeout(guard);
        if (timer !== null) clearTimeout(timer);
        const where = `worker ${cfg.index} (${cfg.moment}, ${cfg.throwMode}, exit ${code})`;
        for (const v of VIOLATIONS) {
          const n = Atomics.load(shared, F[v]);
          violationTotals[v] += n;
          if (n !== 0) fail(`${where}: ${v} = ${n}`);
        }
        totals.registered += Atomics.load(shared, F.REGISTERED);
        totals.ran += Atomics.load(shared, F.RAN);
        totals.stoppedDying += Atomics.load(shared, F.STOPPED_TRUE);
        totals.stoppedLive += Atomics.load(shared, F.STOPPED_LIVE);
        totals.live += Atomics.load(shared, F.LIVE);
        totals.thrown += Atomics.load(shared, F.THROWN);
        totals.caught += Atomics.load(shared, F.CAUGHT);
        totals.reAdd += Atomics.load(shared, F.RE_ADD);
        totals.reStop += Atomics.load(shared, F.RE_STOP);
        totals.reGc += Atomics.load(shared, F.RE_GC);
        totals.messages += messages;

        if (errors.length > 0) {
          // Only allowed: the worker's own cleanup threw with no listener.
          const [error] = errors;
          const ours =
            cfg.throwMode === 'unhandled' &&
            errors.length === 1 &&
            error instanceof Error &&
            new RegExp(`^churn boom ${cfg.index}:\\d+$`).test(error.message);
          if (!ours)
            fail(`${where}: unexpected error(s): ${errors.map((e) => (e && e.stack) || e).join('; ')}`);
          if (code !== 1) fail(`${where}: died of an uncaught error but exit code ${code}`);
          if (done !== null) fail(`${where}: died of an uncaught error after 'done'`);
          outcomes.uncaught++;
        } else if (terminateCalled) {
          // terminate() gives exit code 1, unless the worker had already
          // finished and was exiting by itself, or had not started running
          // its script yet (Node reports 0 for a worker terminated while it
          // boots, with or without this package).
          const early = phaseWhenTerminated === P_BOOT;
          if (!(code === 1 || (code === 0 && (done !== null || early)))) {
            fail(`${where}: terminated (${PHASES[phaseWhenTerminated]}), exit code ${code}`);
          }
          outcomes.terminated[cfg.moment]++;
        } else {
          if (code !== 0) fail(`${where}: exited by itself with code ${code}`);
          if (done === null) fail(`${where}: exited by itself before finishing`);
          outcomes.natural++;
        }
        if (done !== null) {
          // A worker that finished: exact counts.
          const r = done;
          if (r.wrong !== 0 || r.ran !== r.expected) {
            fail(`${where}: ${r.ran} dying cleanups ran, expected ${r.expected}; ${r.wrong} ids wrong`);
          }
          if (cfg.throwMode === 'handled' && (r.caught !== r.thrown || r.uncaughtLeft !== 0)) {
            fail(
              `${where}: ${r.thrown} thrown, ${r.caught} seen by the listener, ${r.uncaughtLeft} never seen`,
            );
          }
          if (cfg.throwMode === 'unhandled' && r.thrown !== 0)
            fail(`${where}: a cleanup threw and the worker went on`);
        }
        resolve();
      });
      if (cfg.moment === 'immediate') terminate();
      else if (cfg.moment === 'delay') timer = setTimeout(terminate, cfg.delayMs);
    });
  }

  async function runPool() {
    let next = 0;
    const lanes = [];
    for (let c = 0; c < Math.min(CONCURRENCY, plan.length); c++) {
      lanes.push(
        (async () => {
          while (next < plan.length) {
            const cfg = plan[next++];
            if (next % 25 === 0)
              log(`  ${next}/${plan.length} workers started, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
            await runWorker(cfg);
          }
        })(),
      );
    }
    await Promise.all(lanes);
  }

  async function main() {
    log(
      `worker-churn: ${WORKERS} workers, concurrency ${CONCURRENCY}, seed ${SEED}, ` +
        `main-thread wave every ${INTERVAL} ms; node ${process.version}`,
    );
    const loop = mainLoop();
    // If the main loop fails, stop at once (workers would otherwise hide it).
    loop.catch(() => {});
    await Promise.race([runPool(), loop.then(() => {})]);
    workersDone = true;
    await loop;
    const seconds = (Date.now() - t0) / 1000;

    // Main thread, end: the still-alive registrations, released now, must
    // all run, and every count must be exact.
    const liveCount = mainLive.length;
    releasedLive = true;
    mainLive = null;
    await until(() => mainRan === mainRegistered && mainLiveRan === liveCount, {
      rounds: 100,
      what: 'every main-thread cleanup',
    });
    await settle(3);
    let missing = 0;
    for (let i = 0; i < mainRegistered; i++) if (mainSeen[i] !== 1) missing++;
    if (mainRan !== mainRegistered) fail(`main thread: ${mainRan} cleanups ran, expected ${mainRegistered}`);
    if (mainLiveRan !== liveCount)
      fail(`main thread: ${mainLiveRan} kept-alive cleanups ran, expected ${liveCount}`);
    if (missing !== 0) fail(`main thread: ${missing} indexes did not run exactly once`);
    for (const [k, n] of Object.entries(mainViolations)) if (n !== 0) fail(`main thread: ${k} = ${n}`);
    const terminatedTotal = Object.values(outcomes.terminated).reduce((s, n) => s + n, 0);
    if (terminatedTotal + outcomes.natural + outcomes.uncaught !== WORKERS) {
      fail(`outcomes add up to ${terminatedTotal + outcomes.natural + outcomes.uncaught}, not ${WORKERS}`);
    }

    await settle(2);
    const rssEnd = process.memoryUsage().rss;
    const planned = Object.fromEntries(MOMENTS.map((m) => [m, plan.filter((p) => p.moment === m).length]));
    const summary = {
      seed: SEED,
      workers: WORKERS,
      concurrency: CONCURRENCY,
      seconds: Number(seconds.toFixed(1)),
      planned,
      terminated: outcomes.terminated,
      terminatedTotal,
      natural: outcomes.natural,
      uncaught: outcomes.uncaught,
      phaseAtTerminate,
      undeliveredAtTerminate,
      workerTotals: totals,
      violations: violationTotals,
      main: {
        waves: mainWaves,
        expected: mainRegistered + liveCount,
        actual: mainRan + mainLiveRan,
        dying: { expected: mainRegistered, actual: mainRan },
        keptAlive: { expected: liveCount, actual: mainLiveRan },
        stopped: mainWaves * STOP_PER_WAVE,
        stoppedRan: mainViolations.stoppedRan,
        maxRoundsPerWave: maxRounds,
        violations: mainViolations,
      },
      rssMB: {
        start: +(rssStart / MB).toFixed(1),
        peak: +(rssPeak / MB).toFixed(1),
        end: +(rssEnd / MB).toFixed(1),
      },
      failures: failures.length,
    };
    log(
      `workers created:             ${WORKERS} (planned: ${MOMENTS.map((m) => `${m} ${planned[m]}`).join(', ')})`,
    );
    log(
      `terminated:                  ${terminatedTotal} (${MOMENTS.filter((m) => m !== 'never')
        .map((m) => `${m} ${outcomes.terminated[m]}`)
        .join(', ')}${outcomes.terminated.never ? `, hang guard ${outcomes.terminated.never}` : ''})`,
    );
    log(`exited naturally:            ${outcomes.natural}`);
    log(`died with an uncaught error: ${outcomes.uncaught}`);
    log(
      `phase at terminate():        ${Object.entries(phaseAtTerminate)
        .filter(([, n]) => n)
        .map(([p, n]) => `${p} ${n}`)
        .join(', ')}`,
    );
    log(
      `undelivered at terminate():  ${undeliveredAtTerminate.workers} workers had dying cleanups not yet run ` +
        `(${undeliveredAtTerminate.registrations} in all)`,
    );
    log(
      `worker registrations:        ${totals.live} pending, ${totals.stoppedLive} stopped while alive, ` +
        `${totals.registered} dying (${totals.ran} ran, ${totals.stoppedDying} stopped after the drop), ` +
        `${totals.thrown} threw (${totals.caught} caught), re-entrant: ${totals.reAdd} addCleanup, ` +
        `${totals.reStop} stop, ${totals.reGc} gc; ${totals.messages} progress messages`,
    );
    log(
      `worker violations:           ${VIOLATIONS.map((v) => violationTotals[v]).reduce((s, n) => s + n, 0)}`,
    );
    log(
      `main thread cleanups:        expected ${summary.main.expected} == actual ${summary.main.actual} ` +
        `(${mainWaves} waves of ${WAVE} + ${liveCount} kept alive until the end); ` +
        `${summary.main.stopped} stopped, ${mainViolations.stoppedRan} of them ran; ` +
        `worst wave needed ${maxRounds} gc rounds`,
    );
    log(
      `RSS:                         start ${summary.rssMB.start} MB, peak ${summary.rssMB.peak} MB, end ${summary.rssMB.end} MB`,
    );
    log(`time:                        ${seconds.toFixed(1)} s`);
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
}

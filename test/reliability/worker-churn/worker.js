'use strict';
// One worker of the worker churn, started by run.js with its part of the plan
// (plan.js) as workerData. It loads the package and makes thousands of
// registrations:
//   - pending: on live objects kept in a global until the worker ends;
//   - stopped: on objects, then stop() (must return true); half of those
//     objects are dropped afterwards (their cleanups must never run);
//   - dying: waves of objects dropped at once and collected with gc() (full or
//     minor), so that at any moment some cleanups are delivered, some queued
//     and some in the middle of a delivery; some waves are big (tens of
//     thousands) so that their delivery spans several batches and slices;
//   - among the dying ones, cleanups that do a little work, cleanups that throw
//     (with throwMode 'handled' under an 'uncaughtException' listener, which
//     must see every thrown error object exactly once; with 'unhandled'
//     without one, which makes the worker die with that error: an allowed
//     outcome), and cleanups that re-enter: addCleanup() on new objects,
//     stop() on other registrations' handles, gc().
// It checks the contract as it goes (each cleanup at most once, with its own
// arg, `this` undefined, never synchronously inside addCleanup() or gc(),
// never for a stopped registration; stop() true on a live pending
// registration, never true after the cleanup ran; every error seen by the
// listener is one a cleanup threw) and counts violations in the shared
// Int32Array (shared.js). If it gets to the end, it waits until every dying,
// unstopped cleanup ran, posts 'done' with its exact counts and exits on its
// own although its live registrations are still pending.
const path = require('node:path');
const workerThreads = require('node:worker_threads');
const { F, P_SETUP, P_REGISTER, P_LOOP, P_CLEANUP, P_DRAIN, P_DONE, turn } = require('./shared');
const { seededRandom } = require('../../seeded-random');

const { parentPort, workerData: cfg, threadId } = workerThreads;
const S = cfg.shared;
// Bun does not pass --expose-gc on to workers: Bun.gc(true) is its full
// collection (it has no minor one to ask for).
const gc = globalThis.gc ?? (globalThis.Bun ? () => globalThis.Bun.gc(true) : undefined);
const rand = seededRandom(cfg.seed);
const bump = (field, n = 1) => Atomics.add(S, field, n);
const phase = (p) => Atomics.store(S, F.PHASE, p);

phase(P_SETUP);
const { addCleanup } = require(path.join(__dirname, '..', '..', '..'));

// >0 while inside addCleanup() loops, gc() or a cleanup: no cleanup may
// start then (they only run from the event loop, never nested).
let sync = 0;
let depth = 0;

function post(step, extra) {
  bump(F.MESSAGES);
  parentPort.postMessage({ step, wave: Atomics.load(S, F.WAVE), ran: Atomics.load(S, F.RAN), ...extra });
}

function collectGarbage(minor) {
  sync++;
  if (minor) gc({ type: 'minor' });
  else gc();
  sync--;
}

// --- pending registrations on live objects ----------------------------------
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

// --- stopped registrations (objects alive at the stop) ----------------------
function onStoppedRan() {
  bump(F.V_STOPPED_RAN);
}

// Returns the objects kept alive: half of them. The other half die (their
// stopped cleanups must still not run).
function registerAndStop(count) {
  const objects = [];
  const handles = [];
  sync++;
  for (let i = 0; i < count; i++) {
    const obj = { stopped: i };
    objects.push(obj);
    handles.push(addCleanup(obj, onStoppedRan, i));
  }
  sync--;
  for (const h of handles) if (h.stop() !== true) bump(F.V_STOP_LIVE);
  for (const h of handles) if (h.stop() !== false) bump(F.V_STOP_LIVE);
  bump(F.STOPPED_LIVE, handles.length);
  return objects.filter((_, i) => i % 2 === 0);
}

// --- dying registrations ----------------------------------------------------
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

// The registration id an arg names, or -1 for an arg no registration was given.
function idOf(arg) {
  const id = typeof arg === 'number' ? arg : arg !== null && typeof arg === 'object' ? arg.id : -1;
  if (!(id >= 0 && id < kind.length) || (typeof arg === 'object' && arg.payload.byteLength !== 32)) return -1;
  return id;
}

function onDie(arg) {
  if (this !== undefined || arguments.length !== 1) bump(F.V_ARGS);
  if (sync !== 0 || depth !== 0) bump(F.V_SYNC);
  if (workerThreads.threadId !== threadId || threadId === 0) bump(F.V_THREAD);
  const id = idOf(arg);
  if (id === -1) {
    bump(F.V_ARGS);
    return;
  }
  const before = Atomics.load(S, F.PHASE);
  depth++;
  phase(P_CLEANUP);
  try {
    recordRun(id);
    actOn(id);
  } finally {
    depth--;
    phase(before);
  }
}

function recordRun(id) {
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
}

// What the cleanup of `id` does besides counting: throw, or re-enter.
function actOn(id) {
  switch (kind[id]) {
    case K_THROW: {
      const error = new Error(`churn boom ${cfg.index}:${id}`);
      error.churnId = id;
      inFlight.add(error);
      bump(F.THROWN);
      throw error;
    }
    case K_ADD:
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
    case K_GC:
      bump(F.RE_GC);
      collectGarbage(rand() < 0.5);
      break;
    default:
      break;
  }
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
    collectGarbage(i % 3 !== 2);
    await turn();
    await turn();
  }
  throw new Error(`worker ${cfg.index}: ${what} not reached after ${rounds} rounds`);
}

async function runWave(w) {
  const wave = cfg.waves[w];
  Atomics.store(S, F.WAVE, w);
  phase(P_REGISTER);
  const first = registerWave(wave.size, cfg.throwMode === 'handled' || w === cfg.throwWave);
  phase(P_LOOP);
  // Some of the wave's handles are stopped after the objects were
  // dropped, before the gc(): usually true (not collected yet), and
  // then the cleanup never runs.
  for (let i = 0; i < wave.stopAfterDrop; i++) stopDying(first + Math.floor(rand() * wave.size));
  collectGarbage(wave.minor);
  post('gc', { size: wave.size });
  // How long before the next wave: not at all (the next registrations
  // and gc() pile on while this one is queued), one turn, a short
  // timer, or until delivered.
  if (wave.wait === 'turn') await turn();
  else if (wave.wait === 'timer') await new Promise((resolve) => setTimeout(resolve, wave.ms));
  else if (wave.wait === 'drain') await until(() => ranLocal === expectedRuns(), 100, `wave ${w} delivered`);
  post('wave');
}

// Everything dropped must be delivered before the end, each once; then
// nothing more may run (no duplicates show up later).
async function finalDrain() {
  phase(P_DRAIN);
  await until(() => ranLocal === expectedRuns(), 200, 'every dying cleanup run');
  for (let i = 0; i < 2; i++) {
    collectGarbage(false);
    await turn();
    await turn();
  }
  let wrong = 0;
  for (let id = 0; id < kind.length; id++) if (ran[id] !== (stopped[id] ? 0 : 1)) wrong++;
  return {
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
}

async function run() {
  post('setup');
  for (let w = 0; w < cfg.waves.length; w++) await runWave(w);
  const report = await finalDrain();
  phase(P_DONE);
  parentPort.postMessage({ step: 'done', report });
  // The worker now exits by itself, with its live registrations pending.
}

sync++;
for (let i = 0; i < cfg.live; i++) addLive(i);
sync--;
globalThis.churnKeep = { live, keptStopped: registerAndStop(cfg.stopped) };

if (cfg.throwMode === 'handled') {
  process.on('uncaughtException', (error) => {
    // Exactly the error object a cleanup threw, once.
    if (!inFlight.delete(error)) bump(F.V_CAUGHT);
    bump(F.CAUGHT);
  });
}

run().catch((error) => {
  bump(F.V_OTHER);
  throw error;
});

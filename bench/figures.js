'use strict';
// The measurements. Each exported function measures one figure (or one group
// of figures taken from the same experiment) for one implementation, in a
// fresh process, and resolves a plain object of numbers.
//
// Rules followed everywhere:
// - Objects are always `{ i }`, allocated the same way for every
//   implementation; the cleanup's arg is the index i.
// - Objects that must die are allocated and registered in small synchronous
//   functions and held only through the module-level `held` object. Nothing
//   allocated in a loop stays in a register of an async function's frame:
//   V8 can keep the last object of such a loop alive, and a
//   FinalizationRegistry then delivers N-1 forever.
// - Arrays that hold objects or handles are built at full length before any
//   timing (so the timed loops never grow an array), packed (a
//   `new Array(1e6)` would be a slow dictionary array).
// - Waiting is bounded: `timeoutMs` per wait; a figure that did not complete
//   says so (complete: false, delivered k of expected).
const { gc, now, turn, fullGc, memory, pollUntil } = require('./loop');
const { median } = require('./stats');

// ---- the shared cleanup ----------------------------------------------------

// One cleanup function for every registration. It counts, sums the args (so
// each figure can check that every cleanup ran once with its own arg) and
// timestamps the moment the expected count is reached.
const sink = { count: 0, sum: 0, target: Infinity, firstAt: 0, doneAt: 0 };

function onCleanup(arg) {
  sink.sum += arg;
  if (sink.count === 0) sink.firstAt = now();
  if (++sink.count === sink.target) sink.doneAt = now();
}

/** Sum of 0..n-1, the expected sink.sum once n cleanups ran. */
const indexSum = (n) => (n * (n - 1)) / 2;

// ---- allocation helpers: synchronous, so no loop of theirs runs in an async frame

const held = { objs: null, handles: null };

/** A packed array of n undefined slots. */
function slots(n) {
  const a = [];
  for (let i = 0; i < n; i++) a.push(undefined);
  return a;
}

/** Allocates objects[0..n) and registers each as it is allocated. */
function registerFresh(impl, objs, handles, n) {
  for (let i = 0; i < n; i++) {
    const obj = { i };
    objs[i] = obj;
    handles[i] = impl.register(obj, i);
  }
}

/** Allocates objects[0..n) without registering them. */
function allocate(objs, n) {
  for (let i = 0; i < n; i++) objs[i] = { i };
}

/** Registers already allocated objects. */
function registerHeld(impl, objs, handles, n) {
  for (let i = 0; i < n; i++) handles[i] = impl.register(objs[i], i);
}

/** Stops every handle; returns how many stop() calls returned true. */
function stopAll(impl, handles, n) {
  let stopped = 0;
  for (let i = 0; i < n; i++) if (impl.stop(handles[i]) === true) stopped++;
  return stopped;
}

/** Registers objects[start..start+count) that nobody keeps. */
function churnBatch(impl, start, count) {
  for (let i = start; i < start + count; i++) impl.register({ i }, i);
}

function holdFresh(impl, n) {
  held.objs = slots(n);
  held.handles = slots(n);
  registerFresh(impl, held.objs, held.handles, n);
}

function holdObjects(n) {
  held.objs = slots(n);
  held.handles = slots(n);
  allocate(held.objs, n);
}

function drop() {
  held.objs = null;
  held.handles = null;
}

// How many registrations of this process have been delivered since the last
// resetSink(): cleanups run, or for an implementation that runs none (the
// Node-API floor) its finalizers run.
let deathsAtReset = 0;

function resetSink(target = Infinity, impl = null) {
  sink.count = 0;
  sink.sum = 0;
  sink.target = target;
  sink.firstAt = 0;
  sink.doneAt = 0;
  deathsAtReset = impl?.deaths ? impl.deaths() : 0;
}

const delivered = (impl) => (impl.deaths ? impl.deaths() - deathsAtReset : sink.count);

// Warms the JIT on the exact functions a figure times, on `w` side objects
// that are then dropped and delivered (or stopped), so that the timed loop
// does not start in the interpreter and no warm-up work is left pending.
// `promoted`: the objects are allocated and collected first, then
// registered (registerHeld, the loop of the promoted-object figures).
async function warmUp(impl, w, { stop = false, promoted = false, timeoutMs }) {
  resetSink(w, impl);
  if (promoted) {
    holdObjects(w);
    await fullGc(1);
    registerHeld(impl, held.objs, held.handles, w);
  } else {
    holdFresh(impl, w);
  }
  if (stop) stopAll(impl, held.handles, w);
  drop();
  await fullGc(2);
  if (!stop) await pollUntil(() => delivered(impl) >= w, { timeoutMs });
  const count = delivered(impl);
  resetSink();
  return count;
}

const warmCount = (n) => Math.min(2000, Math.max(100, Math.floor(n / 100)));

// The durations of `k` gc() calls, each preceded by a loop turn so that work
// queued by the previous one (finalizers, cleanup tasks) is not inside the next.
async function gcPauses(k) {
  const pauses = [];
  for (let i = 0; i < k; i++) {
    await turn();
    const t0 = now();
    gc();
    pauses.push(now() - t0);
    await turn();
    await turn();
  }
  return pauses;
}

const perReg = (before, after, n) => ({
  rss: (after.rss - before.rss) / n,
  heapExt: (after.heapExt - before.heapExt) / n,
  heap: (after.heap - before.heap) / n,
  external: (after.external - before.external) / n,
});

// ---- figures -----------------------------------------------------------------

// 1. Registration: ns per call, allocating the object in the same loop (the
// allocation is identical for every implementation and is not subtracted).
// Objects and handles are kept, as a user keeps what they registered, so the
// figure includes the scavenges that promote them and any GC work the
// registrations add.
async function register(impl, n, { timeoutMs }) {
  const warm = await warmUp(impl, warmCount(n), { timeoutMs });
  held.objs = slots(n);
  held.handles = slots(n);
  await fullGc(1);
  const t0 = now();
  registerFresh(impl, held.objs, held.handles, n);
  const ms = now() - t0;
  return { nsPerCall: (ms * 1e6) / n, totalMs: ms, warmUpDelivered: warm };
}

// Holds N objects, then registers them all (handles kept): memory() after
// full GCs before and after the registrations, and the time of the
// registration loop alone (the objects are old: full GCs promoted them).
async function holdThenRegister(impl, n) {
  holdObjects(n);
  await fullGc(3);
  const before = memory();
  const t0 = now();
  registerHeld(impl, held.objs, held.handles, n);
  const registerMs = now() - t0;
  await fullGc(3);
  return { before, after: memory(), registerMs };
}

// 2. Memory per live registration, and registration of promoted objects.
// Baseline: the N objects allocated and held without registrations (and the
// handle array, already full length), after full GCs. Then every object is
// registered, handles kept in that array, full GCs again: (after - before) /
// N, for RSS and for V8 heap + external. The registration loop of this
// experiment is the second registration figure: objects that already exist
// and are old (allocation excluded), after a warm-up of the same loop.
async function memoryFigure(impl, n, { timeoutMs }) {
  const warm = await warmUp(impl, warmCount(n), { promoted: true, timeoutMs });
  const { before, after, registerMs } = await holdThenRegister(impl, n);
  const live = held.objs.length + held.handles.length; // keep both reachable until here
  return {
    bytesPerReg: perReg(before, after, n),
    promotedNsPerCall: (registerMs * 1e6) / n,
    before,
    after,
    heldSlots: live,
    warmUpDelivered: warm,
  };
}

// 3 + 4. Delivery, the pause of the killing gc(), the longest event-loop
// block during delivery and the longest stall (one experiment). N registered objects are promoted to the old generation (a
// settling full GC, during which nothing dies), then dropped together with
// their handles (a handle normally lives on, or with, the object it watches).
// One gc() kills them all; then the loop is turned with a setImmediate chain
// until the N-th cleanup ran. gcMs is the gc() call, deliveryMs from its
// return to the N-th cleanup, totalMs both. The longest gap between two ticks
// after gc() returned is the longest block of the loop during delivery.
// firstMs (gc() return to the first cleanup) shows how much of the delivery
// is spent before any cleanup runs (Node-API finalizers, V8 task latency).
// stallMs is the longest time the program could not run: the killing pause
// or the longest loop block after it, whichever is longer.
// For an implementation that runs no cleanup (the Node-API floor), delivery
// ends at the loop tick that sees its N-th finalizer done (no firstMs).
async function delivery(impl, n, { timeoutMs }) {
  resetSink(Infinity, impl);
  holdFresh(impl, n);
  await fullGc(1); // a full GC promotes every live young object
  const early = delivered(impl); // must be 0: everything is still reachable
  resetSink(n, impl);
  drop();
  const t0 = now();
  gc();
  const t1 = now();
  const poll = await pollUntil(() => delivered(impl) >= n, { timeoutMs, since: t1 });
  const complete = delivered(impl) >= n;
  const doneAt = impl.deaths ? poll.endedAt : sink.doneAt;
  return {
    complete,
    delivered: delivered(impl),
    expected: n,
    gcMs: t1 - t0,
    firstMs: sink.count > 0 ? sink.firstAt - t1 : null,
    deliveryMs: complete ? doneAt - t1 : null,
    totalMs: complete ? doneAt - t0 : null,
    maxBlockMs: poll.maxGapMs,
    stallMs: Math.max(t1 - t0, poll.maxGapMs),
    ticks: poll.ticks,
    argsOk: complete && !impl.deaths ? sink.sum === indexSum(n) : null,
    ranBeforeGc: early,
  };
}

// 5. Full-GC pause with N live registrations minus the pause with N live
// unregistered objects, per registration. Same process, same objects: first
// the objects alone, then registered (handles kept); medians of `k` gc()s.
async function gcPause(impl, n, { gcSamples = 5 } = {}) {
  holdObjects(n);
  await fullGc(1);
  const without = await gcPauses(gcSamples);
  registerHeld(impl, held.objs, held.handles, n);
  await fullGc(1);
  const withRegs = await gcPauses(gcSamples);
  const m0 = median(without);
  const m1 = median(withRegs);
  const live = held.objs.length + held.handles.length;
  return { nsPerReg: ((m1 - m0) * 1e6) / n, pauseWithoutMs: m0, pauseWithMs: m1, without, withRegs, heldSlots: live };
}

// 6. stop(): ns per call on N live registrations (objects kept reachable
// across the calls, as the README requires for a guaranteed cancel), then the
// memory given back: after stopping, the handles are dropped (a stopped handle
// is garbage to its user), full GCs, and (before - after) / N is what stop
// returned per registration (higher is better). `leftPerReg` compares with the
// objects-only baseline (what stopped registrations still cost; lower is
// better). Finally the objects are dropped to check that no stopped cleanup
// runs.
async function stop(impl, n, { timeoutMs }) {
  if (!impl.stop) return { skipped: 'no stop()' };
  await warmUp(impl, warmCount(n), { stop: true, timeoutMs });
  const { before: base, after: before } = await holdThenRegister(impl, n);
  const t0 = now();
  const stopped = stopAll(impl, held.handles, n);
  const ms = now() - t0;
  impl.finishStops?.();
  const withDeferredMs = now() - t0;
  held.handles = null;
  await fullGc(3);
  const after = memory();
  held.objs = null;
  await fullGc(1);
  await pollUntil(() => false, { timeoutMs: 50 });
  const returned = perReg(after, before, n);
  return {
    nsPerCall: (ms * 1e6) / n,
    totalMs: ms,
    // The calls plus the work they left for later, done at once.
    nsPerCallWithDeferred: (withDeferredMs * 1e6) / n,
    stoppedTrue: stopped,
    returnedPerReg: returned,
    leftPerReg: perReg(base, after, n),
    base,
    before,
    after,
    ranAfterStop: sink.count, // must be 0
  };
}

// 7. Churn: 2N registered objects that die young, allocated in batches with a
// loop turn between batches and no explicit gc() anywhere. Reports the time
// from the first allocation until the 2N-th cleanup ran, and the share of
// cleanups that had already run when the allocation loop ended (higher is
// better: it is what minor GCs release early). After the loop the wait is
// bounded by churnWaitMs, still without gc(): FinalizationRegistry's targets
// are only cleared by a major GC, which nothing may trigger, and the figure
// is then "incomplete (k of 2N)". Handles are discarded at once, as when a
// handle is stored on the short-lived object itself.
async function churn(impl, n, { churnWaitMs, batch = 10000 }) {
  const total = 2 * n;
  resetSink(total);
  const t0 = now();
  let maxTurnGap = 0;
  for (let start = 0; start < total; start += batch) {
    churnBatch(impl, start, Math.min(batch, total - start));
    const t = now();
    await turn();
    maxTurnGap = Math.max(maxTurnGap, now() - t);
  }
  const tLoop = now();
  const duringLoop = sink.count;
  const poll = await pollUntil(() => sink.count >= total, { timeoutMs: churnWaitMs, since: tLoop });
  const complete = sink.count >= total;
  return {
    complete,
    delivered: sink.count,
    expected: total,
    totalMs: complete ? sink.doneAt - t0 : null,
    loopMs: tLoop - t0,
    deliveredDuringLoop: duringLoop,
    shareDuringLoop: duringLoop / total,
    maxBlockAfterLoopMs: poll.maxGapMs,
    maxTurnDuringLoopMs: maxTurnGap,
    waitedMs: poll.elapsedMs,
    argsOk: complete ? sink.sum === indexSum(total) : null,
  };
}

// 8. Steady state: what N live registrations cost a program that runs on
// and allocates while they wait. The same workload runs `reps` times with the
// N objects held alone, then `reps` times with the same N objects registered
// (handles kept); extraMs is the difference of the fastest runs of each
// (interference on a shared machine only ever adds time), and extraPct the
// same as a share of the baseline's fastest run. Each child is one pair
// (baseline and registered, same process, same objects, back to back); the
// reported figure is the median over the rounds' pairs. The workload makes
// short-lived garbage (a ring of recent objects: about 360 scavenges per
// 3*10^7 objects) and, every 2^19 objects, a chunk of 300,000 objects that
// it keeps for up to eight chunks: they are promoted and then dropped, so the
// old generation fills and empties and a few mark-compacts run (3-5 without
// registrations, on Node 20). A design that scans its registrations after
// collections, or whose weak handles cost every GC, pays here.
const RING = 1 << 16;
const ring = slots(RING);
let kept = [];

function keepChunk(k) {
  const chunk = [];
  for (let j = 0; j < 300000; j++) chunk.push({ j });
  if ((k & 7) === 0) kept = [];
  kept.push(chunk);
}

function workload(iterations) {
  let sum = 0;
  for (let i = 0; i < iterations; i++) {
    const o = { i, pair: [i, i + 1] };
    ring[i & (RING - 1)] = o;
    sum += o.pair.length;
    if ((i & 0x7ffff) === 0) keepChunk(i >>> 19);
  }
  kept = [];
  return sum;
}

async function steady(impl, n, { steadyIterations = 2e7, steadyReps: reps = 3 } = {}) {
  holdObjects(n);
  await fullGc(1);
  workload(steadyIterations / 10); // warm the JIT on the exact loop
  const fastest = async () => {
    let best = Infinity;
    for (let k = 0; k < reps; k++) {
      await fullGc(1);
      const t0 = now();
      workload(steadyIterations);
      best = Math.min(best, now() - t0);
    }
    return best;
  };
  const baseMs = await fastest();
  registerHeld(impl, held.objs, held.handles, n);
  await fullGc(1);
  const withMs = await fastest();
  const live = held.objs.length + held.handles.length;
  return {
    extraMs: withMs - baseMs,
    extraPct: ((withMs - baseMs) / baseMs) * 100,
    baseMs,
    withMs,
    reps,
    heldSlots: live,
    ranBeforeGc: sink.count,
  };
}

// The experiments, by the names bench/options.js lists. bench/report.js says
// which figures each one's result provides.
const EXPERIMENTS = {
  register: { run: register },
  memory: { run: memoryFigure },
  delivery: { run: delivery },
  gcpause: { run: gcPause },
  stop: { run: stop },
  churn: { run: churn },
  steady: { run: steady },
};

module.exports = { EXPERIMENTS, onCleanup, sink };

'use strict';
// Event-loop and GC helpers for the child process (bench/child.js). They never
// sleep: they force collections with gc() and turn the loop with setImmediate,
// in loops bounded by a deadline, so a figure that never completes is reported
// as incomplete instead of hanging the bench.
const { performance } = require('node:perf_hooks');

if (typeof globalThis.gc !== 'function') {
  throw new Error('bench children must run with `node --expose-gc`');
}
const gc = globalThis.gc;

/** Milliseconds, sub-microsecond resolution. */
const now = () => performance.now();

/** One event-loop turn: the check phase of the next iteration. */
function turn() {
  return new Promise((resolve) => setImmediate(resolve));
}

// A full (mark-compact) gc(), each followed by two loop turns. The turns matter:
// Node runs Node-API finalizers in a native immediate, and addcleanup hands the
// cleanups to JavaScript in a later iteration; FinalizationRegistry callbacks
// run as V8 tasks. Without the turns, "after GC" memory would still include
// work that is merely queued.
async function fullGc(times = 3) {
  for (let i = 0; i < times; i++) {
    await turn();
    gc();
    await turn();
    await turn();
  }
}

/** Resident set size and V8 heap + external (bytes), read together. */
function memory() {
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed, external: m.external, heapExt: m.heapUsed + m.external };
}

// Turns the loop with a setImmediate chain until `done()` holds or the
// deadline passes. Each tick is timestamped, so the longest gap between two
// consecutive ticks is the longest time the loop was blocked (by GC work,
// finalizers or cleanup callbacks) while we waited. `since` is the start of
// the first gap (e.g. the moment gc() returned). Resolves
// { done, elapsedMs, maxGapMs, ticks, endedAt }.
function pollUntil(done, { timeoutMs, since = now() }) {
  return new Promise((resolve) => {
    let last = since;
    let maxGap = 0;
    let ticks = 0;
    const deadline = since + timeoutMs;
    const tick = () => {
      const t = now();
      const gap = t - last;
      if (gap > maxGap) maxGap = gap;
      last = t;
      ticks++;
      const ok = done();
      if (ok || t >= deadline) {
        resolve({ done: ok, elapsedMs: t - since, maxGapMs: maxGap, ticks, endedAt: t });
      } else {
        setImmediate(tick);
      }
    };
    setImmediate(tick);
  });
}

module.exports = { gc, now, turn, fullGc, memory, pollUntil };

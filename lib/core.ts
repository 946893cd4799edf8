// The JavaScript half of the engine, and its boundary: lib/index.ts and
// lib/testing.ts use only what this file exports. It registers, delivers the
// batches that the native queue hands over, counts, and wakes the waiters of
// drainCleanups() and collect(). The other internal pieces:
//   lib/tables.ts  each registration's cleanup and arg, by slot
//   lib/stop.ts    stop(), and the deferred deletion of stopped references
//   lib/run.ts     one cleanup run: async cleanups, the tracing channel
// A registration has two halves. The native half (native/registry.cc) is a
// weak reference to `ptr` with a finalizer; it never keeps `ptr` alive. The
// JavaScript half (lib/tables.ts) is its `cleanup` and `arg`. Both halves are
// dropped as soon as the cleanup has run or been stopped. ARCHITECTURE.md
// follows a registration through all of them.
import { AsyncResource } from 'node:async_hooks';
import { setImmediate as scheduleTurn } from 'node:timers';
import { engine as binding } from './engine/index';
import type { CleanupStats } from './types';
import * as debug from './debug';
import {
  counters,
  fatal,
  resolvedUndefined,
  run,
  runExplicit,
  runTraced,
  setSettledHook,
  traced,
  type AnyCleanup,
} from './run';
import { flushReap, newPage, takeRegistration } from './stop';
import { argOf, argPages, cleanupOf, cleanupPages, remember, slotOf, stacks, take, takenArg } from './tables';

export { stopRegistration } from './stop';
export { newEpoch, runningSince } from './run';
export { engineName } from './engine/index';

/**
 * The handle's `[Symbol.dispose]()` (async: false) and
 * `[Symbol.asyncDispose]()` (async: true): if the registration `id` is still
 * pending, cancels it as stop() does and runs its cleanup now (lib/run.ts
 * runExplicit); otherwise does nothing (undefined, or a promise of it).
 */
export function disposeRegistration(id: number, async: boolean): Promise<undefined> | undefined {
  const cleanup = id < 0 ? undefined : takeRegistration(id);
  const arg = takenArg();
  if (cleanup === undefined) return async ? resolvedUndefined() : undefined;
  return runExplicit(cleanup, arg, async);
}

/** Registers `ptr`; returns the registration's id. `stack`: debug mode's record. */
export function register(ptr: object, cleanup: AnyCleanup, arg: unknown, stack?: string): number {
  const id = binding.register(ptr);
  const slot = slotOf(id);
  remember(slot, cleanup, arg);
  if (stack !== undefined) stacks[slot] = stack;
  return id;
}

// Cleanups of the batch being delivered that have not been called yet: still
// "queued" for cleanupStats(), though the native queue has handed them over.
let batchRemaining = 0;
let delivering = false;

const scratch = new Float64Array(2);

/** This thread's counters (cleanupStats()). */
export function stats(): CleanupStats {
  flushReap(); // stopped registrations still count as pending until reaped
  binding.counts(scratch);
  return {
    pending: scratch[0],
    queued: scratch[1] + batchRemaining,
    running: counters.running,
    executed: counters.executed,
    stopped: counters.stopped,
    failed: counters.failed,
  };
}

/** Cleanups called since load (collect() counts the ones a call ran). */
export function executedCount(): number {
  return counters.executed;
}

/**
 * The live registrations (checkCleanups()): each one's `ptr`, `cleanup`,
 * `arg` and debug-mode stack, and the package's own tables, which a search
 * of the heap must not wander through from one registration to the others.
 */
export function liveRegistrations(): ({ ptrs: object[] } | { cells: object[] }) & {
  cleanups: Function[];
  args: unknown[];
  stacks: (string | undefined)[];
  tables: object[];
} {
  flushReap();
  const [slots, objects] = binding.live();
  return {
    ...(binding.liveKind === 'targets' ? { ptrs: objects } : { cells: objects }),
    cleanups: slots.map((slot) => cleanupOf(slot) as Function),
    args: slots.map((slot) => argOf(slot)),
    stacks: slots.map((slot) => stacks[slot]),
    tables: [cleanupPages, argPages, ...cleanupPages, ...argPages, stacks],
  };
}

/** True when no cleanup of this thread is queued or being called. */
export function queueIdle(): boolean {
  if (delivering) return false;
  binding.counts(scratch);
  return scratch[1] === 0;
}

/** True when, in addition, no async cleanup of this thread is running. */
export function idle(): boolean {
  return counters.running === 0 && queueIdle();
}

// The waiters of drainCleanups() and collect(). Each has its condition,
// checked again whenever a batch ends and whenever an async cleanup settles:
// the only two events that can make one hold.
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Waiter {
  done: () => boolean;
  wake: () => void;
}
const waiters = new Set<Waiter>();

function wakeWaiters(): void {
  if (waiters.size === 0) return;
  for (const waiter of [...waiters]) {
    if (waiter.done()) {
      waiters.delete(waiter);
      waiter.wake();
    }
  }
}
setSettledHook(wakeWaiters);

/**
 * Resolves true once `done()` holds, false if `timeoutMs` passes first (the
 * timer does not keep the process alive). One loop turn comes first: where
 * the runtime defers finalizers, it runs those of objects a collection has
 * already found dead in an immediate, which puts them in the queue. (Where
 * they run inside the GC, they are queued already.) While the queue is not
 * empty, it keeps the loop alive itself; a running async cleanup does not.
 */
export function waitUntil(done: () => boolean, timeoutMs: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const waiter: Waiter = {
      done,
      wake() {
        settled = true;
        if (timer !== undefined) clearTimeout(timer);
        resolve(true);
      },
    };
    // Timers take at most 2^31-1 ms (about 24.8 days) and fire after 1 ms
    // for anything longer: a longer wait is armed in steps of that length.
    const deadline = performance.now() + timeoutMs;
    const arm = (ms: number): void => {
      timer = setTimeout(() => {
        const left = deadline - performance.now();
        if (left >= 1) return arm(Math.min(left, MAX_TIMER_MS));
        settled = true;
        waiters.delete(waiter);
        resolve(false);
      }, ms);
      timer.unref();
    };
    if (Number.isFinite(timeoutMs)) arm(Math.min(timeoutMs, MAX_TIMER_MS));
    setImmediate(() => {
      if (settled) return;
      if (done()) waiter.wake();
      else waiters.add(waiter);
    });
  });
}

// Runs the cleanup of `slot`, if it still has one; returns whether it did.
function runSlot(slot: number): boolean {
  const cleanup = take(slot);
  const arg = takenArg();
  if (cleanup === undefined) return false;
  run(cleanup, arg);
  return true;
}

// The same, with the tracing channel's events: while someone subscribes.
// The batch waited `batchWaitedMs` (native/queue.cc splits batches where
// their time stamps change) until `batchStartMs`; each cleanup waits that
// plus the time the batch took to reach it.
let batchWaitedMs = 0;
let batchStartMs = 0;

function runSlotTraced(slot: number): boolean {
  const cleanup = take(slot);
  const arg = takenArg();
  if (cleanup === undefined) return false;
  runTraced(cleanup, arg, batchWaitedMs + (performance.now() - batchStartMs));
  return true;
}

// Debug mode: either of the two, timed, and the registration's stack dropped.
let runSlotPlain: (slot: number) => boolean = runSlot;

function runSlotDebug(slot: number): boolean {
  const stack = stacks[slot];
  stacks[slot] = undefined;
  const start = performance.now();
  if (!runSlotPlain(slot)) return false;
  const ms = performance.now() - start;
  if (ms > debug.slowMs) debug.warnSlowCleanup(ms, stack);
  return true;
}

// Runs one batch of cleanups whose objects died. Called by the native queue
// from the event loop (a slice is a top-level callback), never from inside
// the GC.
// The native side does not reuse the batch's slots until this returns, so a
// cleanup that registers new objects cannot overwrite an entry that is still
// to run. Without a subscriber each process uses one of runSlot and
// runSlotDebug (debug mode is chosen at load), so the call below stays
// monomorphic.
function deliverBatch(slots: Uint32Array, runOne: (slot: number) => boolean): void {
  const n = slots.length;
  delivering = true;
  batchRemaining = n;
  try {
    for (let i = 0; i < n && !fatal.dying; i++) {
      batchRemaining--;
      runOne(slots[i]);
    }
  } finally {
    delivering = false;
    batchRemaining = 0;
  }
  wakeWaiters();
}

// Picks the runner of a batch: the channel is checked once per batch.
function runnerFor(waitedMs: number, plain: (slot: number) => boolean): (slot: number) => boolean {
  if (!traced()) return plain;
  batchWaitedMs = waitedMs;
  batchStartMs = performance.now();
  return runSlotTraced;
}

// Every batch runs inside this one async resource, made when the package
// loads: async hooks and AsyncLocalStorage see cleanups as "addcleanup"
// callbacks, never as part of whatever code triggered the collection.
const resource = new AsyncResource('addcleanup');

function deliverFast(slots: Uint32Array, waitedMs: number): void {
  resource.runInAsyncScope(deliverBatch, undefined, slots, runnerFor(waitedMs, runSlot));
}

// Debug mode also warns about the batch's wait in the queue.
function deliverDebug(slots: Uint32Array, waitedMs: number): void {
  if (waitedMs > debug.slowMs) debug.warnQueueDelay(waitedMs);
  runSlotPlain = runnerFor(waitedMs, runSlot);
  resource.runInAsyncScope(deliverBatch, undefined, slots, runSlotDebug);
}

// Slices of a large backlog are scheduled with node:timers' setImmediate,
// captured here, so that fake timers installed later on the globals cannot
// hold cleanups back.
binding.setup(debug.enabled ? deliverDebug : deliverFast, newPage, scheduleTurn);

// The JavaScript half of the engine: the tables that hold each registration's
// cleanup and arg, the batch delivery called by the native queue, and the
// counters behind cleanupStats() and drainCleanups(). Internal: the public
// API is lib/index.ts.
//
// A registration has two halves. The native half (native/registry.cc) is a
// weak reference to `ptr` with a finalizer; it never keeps `ptr` alive. The
// JavaScript half is the `cleanup` and `arg`, kept here in tables indexed by
// the registration's slot (the low 32 bits of its id), because Node-API
// cannot hold strong references to primitives and strong native references to
// JS values cost GC time. Both halves are dropped as soon as the cleanup has
// run or been stopped.
import { AsyncResource } from 'node:async_hooks';
import { setImmediate as scheduleTurn } from 'node:timers';
import { binding } from './binding';
import * as debug from './debug';
import { counters, fatal, run, runTraced, setSettledHook, traced, type AnyCleanup } from './run';

export { counters };

const SLOT_SPAN = 4294967296; // 2^32: an id is generation * 2^32 + slot

/**
 * The slot of a registration id: its low 32 bits. `id >>> 0` is exact for
 * every id (below 2^53) and compiles to a truncation, where `id % 2^32` on a
 * non-Smi divisor calls into the floating-point remainder (~15 ns).
 */
export function slotOf(id: number): number {
  return id >>> 0;
}

// Slots are grouped in pages of 4096, the page size of the native state words
// (native/registry.h kPageBits); the JavaScript tables use the same split.
const PAGE_BITS = 12;
const PAGE_SIZE = 1 << PAGE_BITS;
const PAGE_MASK = PAGE_SIZE - 1;

// The tables, by slot, in pages: a page is allocated once and never moved.
// One flat array per table had to be copied each time it grew, and the copies
// (large objects, each a step towards the next full GC) cost about 60-90 ns of
// every registration while 10^6 registrations were made.
export const cleanupPages: (AnyCleanup | undefined)[][] = [];
export const argPages: unknown[][] = [];
/** Debug mode only: where each live registration was made. */
export const stacks: (string | undefined)[] = [];

function addTablePage(page: number): (AnyCleanup | undefined)[] {
  const cleanups = new Array<AnyCleanup | undefined>(PAGE_SIZE).fill(undefined);
  cleanupPages[page] = cleanups;
  argPages[page] = new Array<unknown>(PAGE_SIZE).fill(undefined);
  return cleanups;
}

/** Records the JavaScript half of the registration in `slot`. */
export function remember(slot: number, cleanup: AnyCleanup, arg: unknown): void {
  const page = slot >>> PAGE_BITS;
  const index = slot & PAGE_MASK;
  (cleanupPages[page] ?? addTablePage(page))[index] = cleanup;
  argPages[page][index] = arg;
}

export function cleanupOf(slot: number): AnyCleanup | undefined {
  return cleanupPages[slot >>> PAGE_BITS]?.[slot & PAGE_MASK];
}

export function argOf(slot: number): unknown {
  return argPages[slot >>> PAGE_BITS]?.[slot & PAGE_MASK];
}

// Cleanups of the batch being delivered that have not been called yet: still
// "queued" for cleanupStats(), though the native queue has handed them over.
let batchRemaining = 0;
let delivering = false;

const scratch = new Float64Array(2);

/**
 * [registrations watching a live object, cleanups queued and not yet run], in
 * a scratch array that the next call overwrites (no allocation).
 */
export function readCounts(): Float64Array {
  flushReap(); // stopped registrations still count as pending until reaped
  binding.counts(scratch);
  scratch[1] += batchRemaining;
  return scratch;
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

// Takes the registration in `slot` out of the tables and returns its cleanup
// (undefined if it has none), leaving its arg in `takenArg` for the caller,
// which clears it: nothing here keeps cleanup or arg alive afterwards.
let takenArg: unknown;

function take(slot: number): AnyCleanup | undefined {
  const page = slot >>> PAGE_BITS;
  const index = slot & PAGE_MASK;
  const pageCleanups = cleanupPages[page];
  const pageArgs = argPages[page];
  const cleanup = pageCleanups[index];
  takenArg = pageArgs[index];
  pageCleanups[index] = undefined;
  pageArgs[index] = undefined;
  return cleanup;
}

// Runs the cleanup of `slot`, if it still has one; returns whether it did.
function runSlot(slot: number): boolean {
  const cleanup = take(slot);
  const arg = takenArg;
  takenArg = undefined;
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
  const arg = takenArg;
  takenArg = undefined;
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

// The state words (native/registry.h): the native table mirrors each slot's
// `generation * 8 + state` into pages of Int32Arrays over SharedArrayBuffers
// that it asks for here, so that stop() can see whether a registration is
// still pending, and stop it, without calling into the addon. Stopped slots
// are handed back to the addon in batches (`reap`), which deletes their
// references. Where SharedArrayBuffer does not exist when this module loads
// (the global deleted, or Node 20's --no-harmony-sharedarraybuffer), stop()
// calls the `stop` binding instead.
// The constructors are captured now: a program that replaces the globals
// later (or while a page is being made) cannot change what a page is.
const SharedBuffer: SharedArrayBufferConstructor | undefined =
  typeof SharedArrayBuffer === 'function' ? SharedArrayBuffer : undefined;
const Words = Int32Array;
const WORD_BYTES = 4;
const sharedWords = SharedBuffer !== undefined;
const PENDING = 1; // Registry::State::kPending
const STOPPED = 4; // Registry::State::kStopped
const pages: Int32Array[] = [];

function newPage(index: number): Int32Array {
  const page = new Words(new SharedBuffer!(PAGE_SIZE * WORD_BYTES));
  pages[index] = page;
  return page;
}

// Slots stopped through their words and not yet reaped: stop() only writes a
// word and appends the slot here; the references are deleted (about 35-70 ns
// each, inside Node-API) in one `reap` call on the next turn of the loop, off
// the caller's path. Until then a stopped slot is not reused and its
// reference (about 100 bytes of native memory) is still alive, as a
// FinalizationRegistry cell lives until the next GC. The immediate is unref'd:
// it never keeps the process alive, and at exit teardown frees what is left.
let reapSlots = new Uint32Array(1024);
let reapCount = 0;
let reapScheduled = false;

function scheduleReap(slot: number): void {
  if (reapCount === reapSlots.length) {
    const grown = new Uint32Array(reapCount * 2);
    grown.set(reapSlots);
    reapSlots = grown;
  }
  reapSlots[reapCount++] = slot;
  if (!reapScheduled) {
    reapScheduled = true;
    setImmediate(reapSoon).unref();
  }
}

/** Reaps every stopped slot now (cleanupStats() needs exact counts). */
export function flushReap(): void {
  if (reapCount === 0) return;
  binding.reap(reapSlots.subarray(0, reapCount));
  reapCount = 0;
  // A long synchronous run of stops grew the list: let that memory go.
  if (reapSlots.length > 65536) reapSlots = new Uint32Array(1024);
}

function reapSoon(): void {
  reapScheduled = false;
  flushReap();
}

// Slices of a large backlog are scheduled with node:timers' setImmediate,
// captured here, so that fake timers installed later on the globals cannot
// hold cleanups back.
binding.setup(debug.enabled ? deliverDebug : deliverFast, sharedWords ? newPage : undefined, scheduleTurn);

/**
 * Cancels the registration `id` if it is still pending (its object not yet
 * found dead) and drops its cleanup and arg; false otherwise.
 */
export function stopRegistration(id: number): boolean {
  const slot = slotOf(id);
  const generation = (id - slot) / SLOT_SPAN; // exact: a power of two
  if (!sharedWords) {
    if (!binding.stop(id)) return false;
    forget(slot);
    return true;
  }
  // Every id comes from `register`, which made sure its slot has a page.
  const page = pages[slot >>> PAGE_BITS];
  const index = slot & PAGE_MASK;
  const pending = generation * 8 + PENDING;
  // Another generation, or queued, delivering, stopped: nothing to cancel.
  // (The finalizer that queues a slot runs on this thread, so the word cannot
  // change between this read and the write below.)
  if (page[index] !== pending) return false;
  page[index] = pending - PENDING + STOPPED;
  forget(slot);
  scheduleReap(slot);
  return true;
}

/** Drops the JavaScript half of a registration that stop() cancelled. */
function forget(slot: number): void {
  const page = slot >>> PAGE_BITS;
  const index = slot & PAGE_MASK;
  cleanupPages[page][index] = undefined;
  argPages[page][index] = undefined;
  if (debug.enabled) stacks[slot] = undefined;
  counters.stopped++;
}

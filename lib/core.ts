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

type AnyCleanup = (arg: any) => void;

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

// Counters since load (cleanupStats()).
export const counters = { executed: 0, stopped: 0, failed: 0 };
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

/** True when no cleanup of this thread is queued or running. */
export function idle(): boolean {
  if (delivering) return false;
  binding.counts(scratch);
  return scratch[1] === 0;
}

// drainCleanups() waiters: woken when a batch ends with nothing left queued.
const waiters = new Set<() => void>();

export function addWaiter(wake: () => void): void {
  waiters.add(wake);
}

export function removeWaiter(wake: () => void): void {
  waiters.delete(wake);
}

function wakeWaiters(): void {
  if (waiters.size === 0 || !idle()) return;
  const woken = [...waiters];
  waiters.clear();
  for (const wake of woken) wake();
}

// Bun's napi_fatal_exception, with no 'uncaughtException' listener, returns
// and ends the process only when the current task is over. Node's does not
// return. On Bun, the rest of the batch is then not run, as on Node.
const fatalReturns = (globalThis as { Bun?: unknown }).Bun !== undefined;
let dying = false;

function run(cleanup: AnyCleanup, arg: unknown): void {
  counters.executed++;
  try {
    cleanup(arg);
  } catch (error) {
    counters.failed++;
    // Reported like any uncaught exception; with a listener, the rest of the
    // batch goes on.
    binding.triggerUncaughtException(error);
    if (fatalReturns && process.listenerCount('uncaughtException') === 0) dying = true;
  }
}

// Takes the registration in `slot` out of the tables, then runs its cleanup
// (if it still has one): nothing here keeps cleanup or arg alive afterwards.
// Returns whether a cleanup ran.
function runSlot(slot: number): boolean {
  const page = slot >>> PAGE_BITS;
  const index = slot & PAGE_MASK;
  const pageCleanups = cleanupPages[page];
  const pageArgs = argPages[page];
  const cleanup = pageCleanups[index];
  const arg = pageArgs[index];
  pageCleanups[index] = undefined;
  pageArgs[index] = undefined;
  if (cleanup === undefined) return false;
  run(cleanup, arg);
  return true;
}

// Debug mode: the same, timed, and the registration's stack dropped.
function runSlotDebug(slot: number): boolean {
  const stack = stacks[slot];
  stacks[slot] = undefined;
  const start = performance.now();
  if (!runSlot(slot)) return false;
  const ms = performance.now() - start;
  if (ms > debug.slowMs) debug.warnSlowCleanup(ms, stack);
  return true;
}

// Runs one batch of cleanups whose objects died. Called by the native queue
// from the event loop (a slice is a top-level callback), never from inside
// the GC.
// The native side does not reuse the batch's slots until this returns, so a
// cleanup that registers new objects cannot overwrite an entry that is still
// to run. Each process uses one of runSlot and runSlotDebug (debug mode is
// chosen at load), so the call below stays monomorphic.
function deliverBatch(slots: Uint32Array, runOne: (slot: number) => boolean): void {
  const n = slots.length;
  delivering = true;
  batchRemaining = n;
  try {
    for (let i = 0; i < n && !dying; i++) {
      batchRemaining--;
      runOne(slots[i]);
    }
  } finally {
    delivering = false;
    batchRemaining = 0;
  }
  wakeWaiters();
}

// Every batch runs inside this one async resource, made when the package
// loads: async hooks and AsyncLocalStorage see cleanups as "addcleanup"
// callbacks, never as part of whatever code triggered the collection.
const resource = new AsyncResource('addcleanup');

function deliverFast(slots: Uint32Array): void {
  resource.runInAsyncScope(deliverBatch, undefined, slots, runSlot);
}

// Debug mode also warns about the batch's wait in the queue.
function deliverDebug(slots: Uint32Array, waitedMs: number): void {
  if (waitedMs > debug.slowMs) debug.warnQueueDelay(waitedMs);
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

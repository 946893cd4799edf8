// stop(): cancelling a registration from JavaScript, and the deferred
// deletion of the native references of stopped registrations (`reap`).
// Internal to the engine: lib/core.ts re-exports stopRegistration.
import { engine as binding } from './engine/index';
import * as debug from './debug';
import type { AnyCleanup } from './run';
import { forget, PAGE_BITS, PAGE_MASK, PAGE_SIZE, SLOT_SPAN, slotOf, stacks, take } from './tables';

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
const sharedWords = SharedBuffer !== undefined && binding.stateWords;
const PENDING = 1; // Registry::State::kPending
const STOPPED = 4; // Registry::State::kStopped
const pages: Int32Array[] = [];

/** The page provider given to the binding's setup (undefined without SharedArrayBuffer). */
export const newPage = sharedWords ? newPageOfWords : undefined;

function newPageOfWords(index: number): Int32Array {
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

// Cancels the registration `id` in the engine if it is still pending (its
// object not yet found dead): returns its slot, whose cleanup and arg are
// still in the tables, or -1 when there is nothing to cancel.
function cancel(id: number): number {
  const slot = slotOf(id);
  if (!sharedWords) return binding.stop(id) ? slot : -1;
  const generation = (id - slot) / SLOT_SPAN; // exact: a power of two
  // Every id comes from `register`, which made sure its slot has a page.
  const page = pages[slot >>> PAGE_BITS];
  const index = slot & PAGE_MASK;
  const pending = generation * 8 + PENDING;
  // Another generation, or queued, delivering, stopped: nothing to cancel.
  // (The finalizer that queues a slot runs on this thread, so the word cannot
  // change between this read and the write below.)
  if (page[index] !== pending) return -1;
  page[index] = pending - PENDING + STOPPED;
  scheduleReap(slot);
  return slot;
}

/**
 * Cancels the registration `id` if it is still pending (its object not yet
 * found dead) and drops its cleanup and arg; false otherwise.
 */
export function stopRegistration(id: number): boolean {
  const slot = cancel(id);
  if (slot < 0) return false;
  forget(slot);
  return true;
}

/**
 * Cancels the registration `id` if it is still pending, as stop() does, and
 * takes its cleanup out of the tables to be run now (its arg is then
 * takenArg()); undefined when there was nothing to cancel. Not counted as
 * stopped: the caller runs it.
 */
export function takeRegistration(id: number): AnyCleanup | undefined {
  const slot = cancel(id);
  if (slot < 0) return undefined;
  if (debug.enabled) stacks[slot] = undefined;
  return take(slot);
}

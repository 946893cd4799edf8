// The JavaScript half of every registration: its `cleanup` and `arg`, kept
// in tables indexed by the registration's slot (the low 32 bits of its id),
// because Node-API cannot hold strong references to primitives and strong
// native references to JavaScript values cost GC time. Internal to the
// engine (lib/core.ts, lib/stop.ts); nothing here calls the addon.
import * as debug from './debug';
import { counters, type AnyCleanup } from './run';

export const SLOT_SPAN = 4294967296; // 2^32: an id is generation * 2^32 + slot

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
export const PAGE_BITS = 12;
export const PAGE_SIZE = 1 << PAGE_BITS;
export const PAGE_MASK = PAGE_SIZE - 1;

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

// Takes the registration in `slot` out of the tables and returns its cleanup
// (undefined if it has none); its arg is kept for takenArg(), which the
// caller calls next. Nothing here keeps cleanup or arg alive afterwards.
let taken: unknown;

export function take(slot: number): AnyCleanup | undefined {
  const page = slot >>> PAGE_BITS;
  const index = slot & PAGE_MASK;
  const pageCleanups = cleanupPages[page];
  const pageArgs = argPages[page];
  const cleanup = pageCleanups[index];
  taken = pageArgs[index];
  pageCleanups[index] = undefined;
  pageArgs[index] = undefined;
  return cleanup;
}

/** The arg of the registration take() just took (then forgotten here). */
export function takenArg(): unknown {
  const arg = taken;
  taken = undefined;
  return arg;
}

/** Drops the JavaScript half of a registration that stop() cancelled. */
export function forget(slot: number): void {
  const page = slot >>> PAGE_BITS;
  const index = slot & PAGE_MASK;
  cleanupPages[page][index] = undefined;
  argPages[page][index] = undefined;
  if (debug.enabled) stacks[slot] = undefined;
  counters.stopped++;
}

// The JavaScript engine: the same contract as the native one (lib/engine/
// types.ts), on FinalizationRegistry. It serves wherever the addon does not
// load (no prebuild for the platform and no local build), or when
// ADDCLEANUP_ENGINE=js asks for it (lib/engine/index.ts).
//
// A registration is one cell of one registry, per thread:
//   registry.register(ptr, slot, token)
// The held value is the slot number (a Smi); `token`, the unregister token,
// is a small object that belongs to the slot and is reused by every later
// registration of that slot. A slot has at most one cell at a time: its cell
// is gone (called back, or unregistered by stop()) before the slot is reused.
// So a registration allocates nothing but V8's cell. The cost that remains
// is V8's own for a cell with an unregister token (measured on Node 20, 10^6
// cells, tokens kept alive as here): the collection that finds them dead
// takes 300-470 ms, and V8 then calls the registry back for all of them in
// one task, 240-430 ms, which no engine code can slice; the same figures as
// FinalizationRegistry used with its held value as its own token. Without
// tokens V8 takes 70 ms and 16 ms, but then stop() could not drop the cell.
// Tokens that die with their objects (the Cleanup handle as token) move
// that time into the collection, 590-790 ms: the longest stall grows.
//
// No WeakRef is kept: a WeakRef keeps its target alive until the current job
// ends (the spec's KeepDuringJob), so that a gc() in the job that registered
// could not collect the object. checkCleanups() finds each live registration's object in the
// heap snapshot through the cell that holds its token instead (`liveKind`).
//
// The registry's callback never runs a cleanup: it marks the slot queued and
// pushes it onto this engine's queue, which hands the slots over to
// `deliver` (lib/core.ts) on later loop turns, in the same bounded slices as
// the native queue (native/queue.h): batches of at most 1,024 slots found dead
// under one time stamp, at most 16 batches or 1 ms a slice, one slice a turn.
//
// Lifetime: the registry is referenced by this engine's state, which
// lib/engine/index.ts keeps for the life of the thread, so it can never be
// collected with its cells (JavaScriptCore collects a registry that nothing
// but a dead scope references, with every registration in it). Nothing here
// is a handle: while the queue is empty nothing keeps the thread alive; while
// it holds slots, the scheduled slice (an immediate) does, so queued cleanups
// run before a natural exit. A thread's engine dies with its isolate: there
// is nothing to free at teardown.
import type { Engine } from './types';

// The slot states, as in native/registry.h.
const FREE = 0;
const PENDING = 1;
const QUEUED = 2;
const DELIVERING = 3;
const RETIRED = 5;

const SLOT_SPAN = 4294967296; // 2^32: an id is generation * 2^32 + slot
const MAX_GENERATION = 2 ** 21 - 1; // ids stay exact numbers; a slot is retired after
const BATCH_SIZE = 1024;
const MAX_BATCHES_PER_SLICE = 16;
const SLICE_MS = 1;
const STAMP_EVERY = 4096;

/** A slot's token: the unregister token of its cells. */
interface Token {
  readonly slot: number;
}

// Captured at load: a program that replaces these globals later cannot change
// what the engine does.
const Registry = FinalizationRegistry;
/* eslint-disable @typescript-eslint/unbound-method */
const registryRegister = FinalizationRegistry.prototype.register;
const registryUnregister = FinalizationRegistry.prototype.unregister;
/* eslint-enable @typescript-eslint/unbound-method */
const now = performance.now.bind(performance);

function grown<T extends Uint8Array | Uint32Array>(array: T, make: (length: number) => T): T {
  const next = make(array.length * 2);
  next.set(array);
  return next;
}

export function createJsEngine(): Engine {
  // The slot table: state and generation by slot, tokens by slot, and the
  // free slots (reused last-freed first, as the native table does).
  let states = new Uint8Array(1024);
  let generations = new Uint32Array(1024);
  const tokens: Token[] = [];
  let free = new Uint32Array(1024);
  let freeCount = 0;
  let pending = 0;
  let queued = 0;

  // The queue: slots found dead, in order, from `head`; `pushed` numbers
  // every push. Stamps time groups of pushes: one at the first death after
  // each slice, then one every STAMP_EVERY deaths.
  let items = new Uint32Array(1024);
  let head = 0;
  let tail = 0;
  let pushed = 0;
  const stampSeqs: number[] = [];
  const stampTimes: number[] = [];
  let stampOpen = false;
  let armed = false;

  let deliver: ((slots: Uint32Array, waitedMs: number) => void) | undefined;
  let schedule: (fn: () => void) => unknown = setImmediate;

  const registry = new Registry<number>(onCollected);

  // A new slot, and its token, for good.
  function addSlot(token: Token): void {
    if (token.slot === states.length) {
      states = grown(states, (n) => new Uint8Array(n));
      generations = grown(generations, (n) => new Uint32Array(n));
    }
    tokens.push(token);
  }

  function freeSlot(slot: number): void {
    if (generations[slot] === MAX_GENERATION) {
      states[slot] = RETIRED;
      return;
    }
    generations[slot]++;
    states[slot] = FREE;
    if (freeCount === free.length) free = grown(free, (n) => new Uint32Array(n));
    free[freeCount++] = slot;
  }

  // The registry's callback, on the loop, one call per dead cell: records,
  // and arms a slice when the queue was idle. Never runs a cleanup.
  function onCollected(slot: number): void {
    if (states[slot] !== PENDING) return;
    states[slot] = QUEUED;
    pending--;
    queued++;
    push(slot);
  }

  function push(slot: number): void {
    if (!stampOpen || pushed - stampSeqs[stampSeqs.length - 1] >= STAMP_EVERY) {
      stampSeqs.push(pushed);
      stampTimes.push(now());
      stampOpen = true;
    }
    if (tail === items.length) {
      if (head > 0 && head * 2 >= tail) {
        items.copyWithin(0, head, tail);
        tail -= head;
        head = 0;
      } else {
        items = grown(items, (n) => new Uint32Array(n));
      }
    }
    items[tail++] = slot;
    pushed++;
    if (!armed && deliver !== undefined) arm();
  }

  function arm(): void {
    armed = true;
    schedule(slice);
  }

  // Drops the stamps that no queued slot needs any more.
  function dropOldStamps(seq: number): void {
    let drop = 0;
    while (stampSeqs.length - drop > 1 && stampSeqs[drop + 1] <= seq) drop++;
    if (drop > 0) {
      stampSeqs.splice(0, drop);
      stampTimes.splice(0, drop);
    }
  }

  // At most BATCH_SIZE slots, all under one stamp (their waitedMs is exact).
  function nextBatchLength(): number {
    dropOldStamps(pushed - (tail - head));
    let count = Math.min(tail - head, BATCH_SIZE);
    if (stampSeqs.length > 1) count = Math.min(count, stampSeqs[1] - (pushed - (tail - head)));
    return count;
  }

  function deliverBatch(run: (slots: Uint32Array, waitedMs: number) => void, count: number): void {
    // A fresh array per batch: JavaScript may keep or alter it; the slots to
    // release are read from the queue.
    const begin = head;
    const slots = items.slice(begin, begin + count);
    const waitedMs = stampTimes.length === 0 ? 0 : Math.max(0, now() - stampTimes[0]);
    head += count;
    for (let i = 0; i < count; i++) states[slots[i]] = DELIVERING;
    queued -= count;
    try {
      run(slots, waitedMs);
    } finally {
      // Handed over, whatever happened: the slots are free again. (They were
      // kept out of reuse during the call, so that a cleanup that registers
      // cannot take a slot its batch has yet to run.)
      for (let i = 0; i < count; i++) freeSlot(slots[i]);
    }
  }

  function slice(): void {
    stampOpen = false; // deaths from now on get a stamp of their own
    const run = deliver!;
    const start = now();
    try {
      for (let batch = 0; batch < MAX_BATCHES_PER_SLICE && tail > head; batch++) {
        deliverBatch(run, nextBatchLength());
        if (now() - start >= SLICE_MS) break;
      }
    } finally {
      if (tail === head) {
        head = tail = 0;
        stampSeqs.length = stampTimes.length = 0;
        stampOpen = false;
        armed = false;
      } else {
        // Yield to the loop and go on next turn; still armed.
        schedule(slice);
      }
    }
  }

  return {
    liveKind: 'cells',
    stateWords: false,
    uncaughtReturns: true,
    finalizersInGc: false,

    setup(run, _newPage, scheduler): void {
      if (typeof run !== 'function') throw new TypeError('The "deliver" argument must be of type function');
      if (deliver !== undefined) throw new Error('addcleanup: the engine is already set up in this thread');
      deliver = run;
      if (scheduler !== undefined) schedule = scheduler;
      if (tail > head) arm();
    },

    register(target: object): number {
      // The last freed slot, or a new one; taken only once the registry has
      // accepted the target (it throws a TypeError for one it cannot watch).
      const reuse = freeCount > 0;
      const slot = reuse ? free[freeCount - 1] : tokens.length;
      if (slot >= 2 ** 32 - 1) throw new RangeError('addcleanup: too many registrations');
      const token = reuse ? tokens[slot] : { slot };
      registryRegister.call(registry, target, slot, token);
      if (reuse) freeCount--;
      else addSlot(token);
      states[slot] = PENDING;
      pending++;
      return generations[slot] * SLOT_SPAN + slot;
    },

    stop(id: number): boolean {
      if (!Number.isSafeInteger(id) || id < 0) return false;
      const slot = id % SLOT_SPAN;
      if (slot >= tokens.length || states[slot] !== PENDING) return false;
      if (generations[slot] !== (id - slot) / SLOT_SPAN) return false;
      // The cell goes at once, even if its object died and the registry has
      // not called back yet: once called back (queued), stop() is refused
      // above, as Go's Stop has no effect once the object was found dead.
      registryUnregister.call(registry, tokens[slot]);
      pending--;
      freeSlot(slot);
      return true;
    },

    // Never called: without state words, stop() frees the slot itself.
    reap(): void {},

    // Reported from a tick of its own, right after the current callback:
    // Node's own machinery then handles it ('uncaughtException' listeners and
    // monitors, or the exit code and message of an uncaught exception).
    triggerUncaughtException(error: unknown): void {
      process.nextTick(rethrow, error);
    },

    counts(out?: Float64Array): ArrayLike<number> {
      const result = out ?? new Float64Array(2);
      result[0] = pending;
      result[1] = queued;
      return result;
    },

    live(): [number[], object[]] {
      const slots: number[] = [];
      const cells: object[] = [];
      for (let slot = 0; slot < tokens.length; slot++) {
        if (states[slot] === PENDING) {
          slots.push(slot);
          cells.push(tokens[slot]);
        }
      }
      return [slots, cells];
    },
  };
}

function rethrow(error: unknown): never {
  throw error;
}

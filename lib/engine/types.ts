// The boundary between the shared JavaScript layer (lib/core.ts and above)
// and an engine: what finds that watched objects died and hands their slots
// over, in batches, on the event loop. Two engines implement it:
//   lib/engine/native.ts  the Node-API addon (native/): weak references whose
//                         finalizers queue in native memory
//   lib/engine/js.ts      FinalizationRegistry, in JavaScript
// Everything above the boundary (validation, the cleanup/arg tables, stop(),
// delivery, async cleanups, tracing, the waiters, debug mode, checkCleanups)
// is the same code for both. lib/engine/index.ts chooses one at load.

/** The two engines, as `engine` exports their names. */
export type EngineName = 'native' | 'js';

/** What an engine gives the shared layer. One instance per thread. */
export interface Engine {
  /**
   * Once per thread: the function that runs a batch of collected slots;
   * `waitedMs` is how long the longest-waiting slot of the batch was queued.
   * With `newPage` (which must return an Int32Array of 4096 elements over a
   * SharedArrayBuffer, the state words of slots index * 4096 on), an engine
   * whose `stateWords` is true mirrors each slot's generation * 8 + state
   * into the pages. `schedule(fn)` must call fn on a later turn of the event
   * loop: the queue delivers a backlog in slices, one per turn.
   */
  setup(
    deliver: (slots: Uint32Array, waitedMs: number) => void,
    newPage?: (index: number) => Int32Array,
    schedule?: (fn: () => void) => unknown,
  ): void;
  /** Watches `target` (an object or function) and returns the registration's id. */
  register(target: object): number;
  /** Cancels a registration whose object is not yet found dead; false otherwise. */
  stop(id: number): boolean;
  /** Frees the slots whose state words JavaScript turned from pending to stopped. */
  reap(slots: Uint32Array): void;
  /** Reports an error like an uncaught exception (may not return). */
  triggerUncaughtException(error: unknown): void;
  /**
   * [registrations watching a live object, cleanups queued and not yet handed
   * to JavaScript]; fills and returns `out` when given one.
   */
  counts(out?: Float64Array): ArrayLike<number>;
  /**
   * Every registration still watching a live object: its slot, and what
   * locates its object for checkCleanups(): the object itself (native), or
   * the unregister token of its FinalizationRegistry cell (js), per `liveKind`.
   */
  live(): [number[], object[]];
  /** What the objects of live() are: the watched objects, or cell holdings. */
  readonly liveKind: 'targets' | 'cells';
  /** Whether stop() may go through the state words (setup's newPage). */
  readonly stateWords: boolean;
  /**
   * Whether triggerUncaughtException() returns before the error is handled:
   * with no 'uncaughtException' listener the thread then ends after the
   * current task, so a batch must stop running cleanups.
   */
  readonly uncaughtReturns: boolean;
  /** Whether finalizers run inside the GC in this process (native/runtime.h). */
  readonly finalizersInGc: boolean;
}

// addcleanup/testing: helpers for tests that check resources are released.
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { executedCount, newEpoch, queueIdle, runningSince, waitUntil } from './core';
import { timeoutOption } from './errors';
import type { DrainOptions } from './types';

let gcFunction: (() => void) | undefined;

// The full-GC function: the global gc() when the runtime was started with
// --expose-gc; on Bun, Bun.gc(true) (a synchronous full collection, no flag
// needed); otherwise (Node, Deno) V8's gc obtained by switching the flag on
// just long enough to create a context that has it, then off again, so the
// main context stays as it was.
function fullGc(): () => void {
  const global = globalThis as { gc?: unknown; Bun?: { gc?: (force: boolean) => void } };
  if (typeof global.gc === 'function') return () => (global.gc as () => void)();
  const bunGc = global.Bun?.gc;
  if (typeof bunGc === 'function') return () => bunGc(true);
  if (gcFunction === undefined) {
    v8.setFlagsFromString('--expose-gc');
    try {
      gcFunction = vm.runInNewContext('gc') as () => void;
    } finally {
      v8.setFlagsFromString('--no-expose-gc');
    }
  }
  const gc = gcFunction;
  return () => gc();
}

/**
 * Runs full garbage collections and waits for the cleanups they release,
 * again and again until a round runs no new cleanup (cleanups may drop the
 * last reference to other watched objects), and returns how many cleanups
 * ran during the call. For tests that check that resources are released.
 *
 * Each round also waits for the async cleanups started during the call to
 * settle (not for those started before it), so that what they release is
 * released when the promise resolves.
 *
 * It works whether or not the runtime was started with `--expose-gc`. Without
 * it, on Node and Deno, it obtains V8's gc function by switching the
 * `--expose-gc` flag on to create one private context, then off again (the
 * global `gc` is not added); on Bun it calls `Bun.gc(true)`.
 *
 * @param options - `timeoutMs`: how long to keep collecting at most
 *   (default 10,000 ms).
 * @returns a promise of the number of cleanups of this thread that ran
 *   between the call and its end (cleanups released by other means during
 *   the call are counted too).
 * @throws TypeError with code `ERR_INVALID_ARG_TYPE` or `ERR_INVALID_ARG_VALUE`
 *   if `options` or `options.timeoutMs` is not valid (synchronously).
 *
 * @example
 * ```ts
 * import { collect } from 'addcleanup/testing';
 *
 * openConnections(10);          // objects whose cleanups close sockets
 * dropConnections();
 * assert.equal(await collect(), 10);
 * ```
 */
export function collect(options?: DrainOptions): Promise<number> {
  const timeoutMs = timeoutOption(options, collect);
  const gc = fullGc();
  return collectRounds(gc, timeoutMs);
}

async function collectRounds(gc: () => void, timeoutMs: number): Promise<number> {
  const start = executedCount();
  const epoch = newEpoch();
  const settled = (): boolean => runningSince(epoch) === 0 && queueIdle();
  const deadline = performance.now() + timeoutMs;
  let quietRounds = 0;
  // Two quiet rounds in a row: one round can find an object dead only after
  // the previous round's cleanups dropped their references to it.
  while (quietRounds < 2) {
    const before = executedCount();
    // A turn before collecting, so that objects a WeakRef.deref() kept for
    // the caller's job are collectable.
    await new Promise<void>((resolve) => setImmediate(resolve));
    gc();
    const left = deadline - performance.now();
    if (left <= 0 || !(await waitUntil(settled, left))) break;
    quietRounds = executedCount() === before ? quietRounds + 1 : 0;
  }
  return executedCount() - start;
}

// Running one cleanup: the call, what its result means, its failures, and the
// `addcleanup:cleanup` tracing channel. Internal: lib/core.ts calls run() or
// runTraced() once per cleanup of a batch.
//
// A cleanup that returns a thenable is an async cleanup. The queue does not
// wait for it (the next cleanup is called at once, as Go 1.25 runs cleanups
// concurrently); it is counted as running until its promise settles. A
// rejection counts as a failure and is reported as an unhandled rejection,
// through Node's own tracking: the handler that watches the promise throws
// the reason again, so the promise that handler returns (which nothing else
// handles) rejects with the same reason. Watching the cleanup's promise
// marks it handled, so the reason is reported once, not twice.
//
// Nothing here keeps the event loop alive: a promise is not a handle. An
// async cleanup's own I/O keeps the loop alive, as it should.
import { tracingChannel } from 'node:diagnostics_channel';
import { engine as binding } from './engine/index';

export type AnyCleanup = (arg: any) => unknown;

/**
 * The context of one cleanup run on the `addcleanup:cleanup` tracing channel
 * (`diagnostics_channel.tracingChannel('addcleanup:cleanup')`): the same
 * object for every event of that run. While the channel has a subscriber,
 * each run publishes, as Node's `traceSync` and `tracePromise` do:
 * - `start` before the cleanup is called (stores bound to it with
 *   `bindStore` are entered for the call and its promise's continuations);
 * - `error` if the cleanup throws, then `end` when it returns or throws;
 * - for an async cleanup, when its promise settles: `error` if it rejected,
 *   then `asyncStart` and `asyncEnd`.
 *
 * With no subscriber nothing is published and no context is made.
 */
export interface CleanupTraceContext {
  /** The cleanup function being run. */
  readonly cleanup: Function;
  /** The value it is called with. */
  readonly arg: unknown;
  /**
   * How long the registration waited, in milliseconds, between being found
   * dead (its object collected and the registration queued) and its cleanup
   * being called; 0 for an explicit run.
   */
  readonly waitedMs: number;
  /**
   * `true` when the run was the handle's own `[Symbol.dispose]()` or
   * `[Symbol.asyncDispose]()` call; `false` when the collector found the
   * object dead.
   */
  readonly explicit: boolean;
  /**
   * What the cleanup returned, set before `end` when that was not a thenable;
   * for an async cleanup, what its promise fulfilled with, set before
   * `asyncStart`. So at `end`, a run that is over has `result` or `error`
   * set, and an async one has neither yet.
   */
  result?: unknown;
  /**
   * What the cleanup threw (set before `error`, then `end`), or what its
   * promise rejected with (before `error`, then `asyncStart`).
   */
  error?: unknown;
}

// Counters since load (cleanupStats()). `running`: async cleanups started and
// not yet settled.
export const counters = { executed: 0, stopped: 0, failed: 0, running: 0 };

// collect() waits for the async cleanups started during its call only: each
// call opens an epoch, and running cleanups are counted by the epoch they
// started in (a few entries at most: one per collect() in progress).
let epoch = 0;
const runningByEpoch = new Map<number, number>();

/** Opens an epoch: runningSince() of it counts async cleanups started from now on. */
export function newEpoch(): number {
  return ++epoch;
}

/** Async cleanups started in epoch `since` or later and not yet settled. */
export function runningSince(since: number): number {
  let n = 0;
  for (const [started, count] of runningByEpoch) if (started >= since) n += count;
  return n;
}

// Called after each async cleanup settles (lib/core.ts wakes its waiters).
let onSettled: () => void = () => {};

export function setSettledHook(hook: () => void): void {
  onSettled = hook;
}

// Where the engine's report returns before the error is handled (Bun's
// napi_fatal_exception; the JS engine's tick), and no 'uncaughtException'
// listener will handle it, the thread ends once the current task is over:
// the caller then stops its batch, as Node's napi_fatal_exception (which
// does not return) stops it.
const fatalReturns = binding.uncaughtReturns;
/** A cleanup's uncaught exception is ending the process: run nothing more. */
export const fatal = { dying: false };

// A cleanup threw: reported like any uncaught exception. With a listener, the
// rest of the batch goes on.
function fail(error: unknown): void {
  counters.failed++;
  binding.triggerUncaughtException(error);
  if (fatalReturns && process.listenerCount('uncaughtException') === 0) fatal.dying = true;
}

// Captured at load, and called with .call: a program that replaces Promise
// or its methods later cannot change how results are watched.
const NativePromise = Promise;
/* eslint-disable @typescript-eslint/unbound-method */
const promiseResolve = Promise.resolve;
const promiseReject = Promise.reject;
const promiseThen = Promise.prototype.then;
/* eslint-enable @typescript-eslint/unbound-method */

const channels = tracingChannel<unknown, CleanupTraceContext>('addcleanup:cleanup');

/**
 * True when the tracing channel has a subscriber. Checked once per batch:
 * five getters, which a cleanup that nobody traces should not pay for.
 */
export function traced(): boolean {
  return (
    channels.start.hasSubscribers ||
    channels.end.hasSubscribers ||
    channels.asyncStart.hasSubscribers ||
    channels.asyncEnd.hasSubscribers ||
    channels.error.hasSubscribers
  );
}

/** Calls `cleanup(arg)`: the fast path, nobody subscribed to the channel. */
export function run(cleanup: AnyCleanup, arg: unknown): void {
  counters.executed++;
  let result: unknown;
  try {
    result = cleanup(arg);
  } catch (error) {
    fail(error);
    return;
  }
  if (isObjectLike(result)) void watchResult(result, undefined);
}

/** Calls `cleanup(arg)` with the channel's events around it. */
export function runTraced(cleanup: AnyCleanup, arg: unknown, waitedMs: number): void {
  counters.executed++;
  const context: CleanupTraceContext = { cleanup, arg, waitedMs, explicit: false };
  try {
    // `start` is published, and the stores bound to it entered, around the
    // call, as TracingChannel's own traceSync and tracePromise do. `void`:
    // the watching promise is left unhandled on purpose (see track()).
    void channels.start.runStores(context, callTraced, undefined, cleanup, arg, context);
  } catch (error) {
    fail(error);
  }
}

// Returns the promise that watches an async cleanup's result (see track()).
function callTraced(
  cleanup: AnyCleanup,
  arg: unknown,
  context: CleanupTraceContext,
): Promise<undefined> | undefined {
  try {
    const result = cleanup(arg);
    const watched = isObjectLike(result) ? watchResult(result, context) : undefined;
    if (watched === undefined) context.result = result;
    return watched;
  } catch (error) {
    context.error = error;
    channels.error.publish(context);
    throw error;
  } finally {
    channels.end.publish(context);
  }
}

/**
 * Runs `cleanup(arg)` now, for its handle's `[Symbol.dispose]()` (async:
 * false) or `[Symbol.asyncDispose]()` (async: true): an explicit run, on the
 * tracing channel with `explicit: true` and `waitedMs` 0. A throw goes to
 * the caller (counted as failed), never to 'uncaughtException'. An async
 * cleanup counts as running until its promise settles; for
 * `[Symbol.asyncDispose]()` the returned promise settles with it (a
 * rejection is the caller's), for `[Symbol.dispose]()` a rejection is
 * reported as the collector's runs' are.
 */
export function runExplicit(
  cleanup: AnyCleanup,
  arg: unknown,
  async: boolean,
): Promise<undefined> | undefined {
  counters.executed++;
  let watched: Promise<undefined> | undefined;
  try {
    if (traced()) {
      const context: CleanupTraceContext = { cleanup, arg, waitedMs: 0, explicit: true };
      watched = channels.start.runStores(context, callTraced, undefined, cleanup, arg, context);
    } else {
      const result = cleanup(arg);
      if (isObjectLike(result)) watched = watchResult(result, undefined);
    }
  } catch (error) {
    counters.failed++;
    throw error;
  }
  if (!async) {
    // The watching promise rejects when the cleanup's does, and nothing
    // handles it: reported as an unhandled rejection, as for the collector.
    return undefined;
  }
  return watched ?? resolvedUndefined();
}

/** A promise fulfilled with undefined, made by the Promise captured at load. */
export function resolvedUndefined(): Promise<undefined> {
  return promiseResolve.call(NativePromise, undefined) as Promise<undefined>;
}

function isObjectLike(value: unknown): value is object {
  return typeof value === 'object' ? value !== null : typeof value === 'function';
}

// If `result` is a thenable, tracks it as an async cleanup and returns the
// promise that watches it (see track()); undefined otherwise.
function watchResult(
  result: object,
  context: CleanupTraceContext | undefined,
): Promise<undefined> | undefined {
  let then: unknown;
  try {
    then = (result as { then?: unknown }).then;
  } catch (error) {
    // A `then` getter that throws: the cleanup's result can never settle any
    // other way, and an async function returning it would reject with it.
    return track(promiseReject.call(NativePromise, error), context);
  }
  if (typeof then !== 'function') return undefined;
  // The promise itself, or for any other thenable a native promise that
  // follows it (Promise.resolve calls its `then` in a later microtask).
  return track(promiseResolve.call(NativePromise, result), context);
}

// Counts `promise` as a running async cleanup until it settles, and returns
// the promise of that watch: it fulfils with undefined, or rejects with the
// cleanup's reason. The collector's runs leave it unhandled on purpose, so
// that Node reports the reason as an unhandled rejection.
function track(promise: Promise<unknown>, context: CleanupTraceContext | undefined): Promise<undefined> {
  counters.running++;
  const started = epoch;
  runningByEpoch.set(started, (runningByEpoch.get(started) ?? 0) + 1);
  const settle = (): void => {
    counters.running--;
    const left = runningByEpoch.get(started)! - 1;
    if (left === 0) runningByEpoch.delete(started);
    else runningByEpoch.set(started, left);
    onSettled();
  };
  // The handlers run in the async context of this call (the package's
  // "addcleanup" resource, and the stores bound to `start` when traced).
  return promiseThen.call(
    promise,
    (value: unknown): undefined => {
      if (context !== undefined) {
        context.result = value;
        channels.asyncStart.publish(context);
        channels.asyncEnd.publish(context);
      }
      settle();
    },
    (reason: unknown) => {
      counters.failed++;
      if (context !== undefined) {
        context.error = reason;
        channels.error.publish(context);
        channels.asyncStart.publish(context);
        channels.asyncEnd.publish(context);
      }
      settle();
      // Rejects the promise this handler returns, which nothing handles:
      // Node reports the reason as an unhandled rejection.
      throw reason;
    },
  ) as Promise<undefined>;
}

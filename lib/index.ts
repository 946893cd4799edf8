// The public API: addCleanup / AddCleanup / Cleanup, and the tools beyond Go
// (drainCleanups, cleanupStats, checkCleanups), and which engine runs them.
// Below it: lib/core.ts, the layer both engines share, then the engine
// (lib/engine/: the native addon, or FinalizationRegistry).
import {
  disposeRegistration,
  engineName,
  idle,
  liveRegistrations,
  register,
  stats,
  stopRegistration,
  waitUntil,
} from './core';
import type * as Check from './check/index';
import * as debug from './debug';
import type { EngineName } from './engine/index';
import {
  checkUnsupported,
  illegalConstructor,
  invalidArgType,
  invalidArgValue,
  timeoutOption,
} from './errors';
import type { CleanupStats, DrainOptions } from './types';

export type { CodedError } from './errors';
export type { CleanupStats, DrainOptions } from './types';
export type { EngineName } from './engine/index';
export type { CleanupTraceContext } from './run';

/**
 * The engine this thread runs on, chosen when the package loads:
 * - `'native'`: the Node-API addon (a prebuilt binary, or one built from
 *   source), whenever it loads;
 * - `'js'`: `FinalizationRegistry`, where the addon does not load (after one
 *   process warning with code `ADDCLEANUP_JS_ENGINE`), or when
 *   `ADDCLEANUP_ENGINE=js` asks for it.
 *
 * Both keep the same contract; the README's "Engines" section lists what
 * differs (speed, memory, when cleanups can run).
 *
 * @example
 * ```ts
 * import { engine } from 'addcleanup';
 * if (engine !== 'native') console.warn('addcleanup runs on FinalizationRegistry here');
 * ```
 */
export const engine: EngineName = engineName;

let createCleanup: (id: number) => Cleanup;
const CONSTRUCT = Symbol('Cleanup');

// Node 20.3 (the oldest that package.json allows) predates Symbol.dispose;
// from 20.4 on, Node's own are these registered symbols.
const DISPOSE: typeof Symbol.dispose = Symbol.dispose ?? Symbol.for('nodejs.dispose');
const ASYNC_DISPOSE: typeof Symbol.asyncDispose = Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose');

/**
 * A handle to one registration made by {@link addCleanup}: {@link Cleanup.stop}
 * cancels it, and `[Symbol.dispose]()` / `[Symbol.asyncDispose]()` run it now
 * (so `using`, `await using` and `DisposableStack` release its resource).
 *
 * The handle does not keep the watched object alive: it holds only a number.
 * Dropping the handle does not cancel the cleanup.
 *
 * Handles cannot be constructed directly; `new Cleanup()` throws a `TypeError`
 * with code `ERR_ILLEGAL_CONSTRUCTOR`.
 *
 * @example
 * ```ts
 * const handle: Cleanup = addCleanup(conn, (fd) => fs.closeSync(fd), conn.fd);
 * handle instanceof Cleanup; // true
 * ```
 */
export class Cleanup implements Disposable, AsyncDisposable {
  #id: number;

  private constructor(token: symbol, id: number) {
    if (token !== CONSTRUCT) throw illegalConstructor(Cleanup);
    this.#id = id;
  }

  static {
    createCleanup = (id) => new Cleanup(CONSTRUCT, id);
  }

  /**
   * Cancels the cleanup, if it has not been queued yet.
   *
   * Like Go's `Cleanup.Stop`, stopping has no effect once the object has been
   * found unreachable and its cleanup queued: that cleanup still runs. To be
   * sure that `stop()` cancels the cleanup, keep the object reachable across
   * the call (for instance, call `stop()` from a method of the object).
   *
   * @returns `true` if this call cancelled a pending cleanup (it will never
   *   run, and the package no longer holds its `cleanup` or `arg`); `false` if
   *   there was nothing to cancel: already stopped, already run, or already
   *   queued to run. Never throws; calling it again is harmless.
   *
   * @example
   * ```ts
   * const handle = addCleanup(socket, (fd) => fs.closeSync(fd), fd);
   * // closed explicitly: the cleanup is no longer needed
   * fs.closeSync(fd);
   * handle.stop(); // true
   * handle.stop(); // false
   * ```
   */
  stop(): boolean {
    const id = this.#id;
    if (id < 0) return false;
    // Any answer is final: a stopped, queued or run registration never
    // becomes stoppable again, so later calls need not reach the binding.
    this.#id = -1;
    return stopRegistration(id);
  }

  /**
   * Runs the cleanup now, if the registration is still pending: cancels it
   * as {@link Cleanup.stop} does and calls `cleanup(arg)` synchronously,
   * once, with `this` undefined. From then on the collector cannot run it,
   * `stop()` returns `false`, and the package holds neither `cleanup` nor
   * `arg`.
   *
   * Otherwise (stopped, already queued by the collector or run, already
   * disposed) it does nothing: as for `stop()`, once the collector has
   * queued the cleanup, that run is the one that happens.
   *
   * A cleanup that throws throws to this call's caller (not to
   * `'uncaughtException'`), and counts in {@link cleanupStats} as executed
   * and failed. An async cleanup counts as `running` until its promise
   * settles ({@link drainCleanups} waits for it), and its rejection is
   * reported as the collector's runs' are, as an unhandled rejection; use
   * `[Symbol.asyncDispose]()` to receive it.
   *
   * @example
   * ```ts
   * class LogFile {
   *   readonly fd = fs.openSync(path, 'a');
   *   readonly #cleanup = addCleanup(this, (fd) => fs.closeSync(fd), this.fd);
   *   close(): void {
   *     this.#cleanup[Symbol.dispose](); // closes the fd now, once
   *   }
   * }
   * ```
   */
  [DISPOSE](): void {
    const id = this.#id;
    this.#id = -1;
    // `void`: a sync disposal returns nothing (see runExplicit()).
    void disposeRegistration(id, false);
  }

  /**
   * As `[Symbol.dispose]()`, for `await using` and `AsyncDisposableStack`:
   * returns a promise that settles with the cleanup's own (fulfils with
   * `undefined`, or rejects with its reason: no unhandled rejection is
   * reported for it, it is the caller's), or rejects with what a synchronous
   * cleanup threw. Resolves at once when there is nothing to run.
   */
  [ASYNC_DISPOSE](): Promise<void> {
    const id = this.#id;
    this.#id = -1;
    try {
      return disposeRegistration(id, true)!;
    } catch (error) {
      // Whatever the cleanup threw, as an async function would reject.
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      return Promise.reject(error);
    }
  }
}

/**
 * Attaches a cleanup function to `ptr`. Some time after `ptr` becomes
 * unreachable, `cleanup(arg)` is called once, on the event loop of the thread
 * that registered it: never synchronously inside `addCleanup`, never inside
 * the garbage collector. `this` is `undefined` and `arg` is the only argument.
 *
 * Go's rules apply:
 * - `ptr` must not be reachable from `cleanup` (its closure) or from `arg`,
 *   or it is never collected and the cleanup never runs. Passing `ptr` itself
 *   as `arg` is refused.
 * - Several cleanups may be attached to one object; no order is promised.
 * - The object is never resurrected: the cleanup cannot see `ptr`. Put what
 *   it needs to release (a file descriptor, a handle) in `arg`.
 * - Cleanups are not guaranteed to run before the process or worker exits.
 *   Those already queued when the event loop would go idle do run first.
 *
 * `ptr` itself is not modified in any way (no properties, no wrapping), so it
 * may be frozen, a Proxy, a class instance with private fields, or an object
 * owned by another native addon.
 *
 * A cleanup that throws is reported like an uncaught exception
 * (`process.on('uncaughtException')` sees it); the other cleanups still run.
 *
 * A cleanup may be async: if it returns a promise (any thenable), the queue
 * does not wait for it, and the cleanup counts as `running` in
 * {@link cleanupStats} until the promise settles; {@link drainCleanups} waits
 * for it. If the promise rejects, the reason is reported as an unhandled
 * rejection (`process.on('unhandledRejection')` receives it; with no handler,
 * Node's `--unhandled-rejections` mode applies, by default ending the
 * process), even if other code also handles that promise.
 *
 * Each run is published on the `addcleanup:cleanup` tracing channel of
 * `node:diagnostics_channel` while it has subscribers (see
 * {@link CleanupTraceContext}).
 *
 * @typeParam T - the type of the watched object.
 * @typeParam S - the type of `arg`, and of the cleanup's parameter.
 * @param ptr - the object (or function) to watch.
 * @param cleanup - called with `arg` after `ptr` has been collected.
 * @param arg - the value passed to `cleanup`; must not be `ptr` and should not
 *   reference it.
 * @returns a {@link Cleanup} handle whose `stop()` cancels the registration.
 * @throws TypeError with code `ERR_INVALID_ARG_TYPE` if `ptr` is not an object
 *   or function, or `cleanup` is not a function.
 * @throws TypeError with code `ERR_INVALID_ARG_VALUE` if `arg === ptr` (the
 *   cleanup could never run).
 *
 * @example
 * ```ts
 * import * as fs from 'node:fs';
 * import { addCleanup } from 'addcleanup';
 *
 * class LogFile {
 *   readonly fd: number;
 *   constructor(path: string) {
 *     this.fd = fs.openSync(path, 'a');
 *     // Pass the descriptor, not `this`: the cleanup must not reach the object.
 *     addCleanup(this, (fd) => fs.closeSync(fd), this.fd);
 *   }
 * }
 * ```
 */
export function addCleanup<T extends object, S>(ptr: T, cleanup: (arg: S) => void, arg: S): Cleanup {
  if ((typeof ptr !== 'object' || ptr === null) && typeof ptr !== 'function') {
    throw invalidArgType('ptr', 'object or function', ptr, addCleanup);
  }
  if (typeof cleanup !== 'function') {
    throw invalidArgType('cleanup', 'function', cleanup, addCleanup);
  }
  if ((arg as unknown) === ptr) {
    throw invalidArgValue(
      'arg',
      'must not be ptr itself: the cleanup would never run, because arg keeps ptr reachable',
      arg,
      addCleanup,
    );
  }
  return createCleanup(debug.enabled ? registerDebug(ptr, cleanup, arg) : register(ptr, cleanup, arg));
}

// Debug mode (ADDCLEANUP_DEBUG=1): refuses an arg that references ptr, with
// the path to it, and records where the registration was made.
function registerDebug(ptr: object, cleanup: (arg: any) => void, arg: unknown): number {
  const path = debug.findPath(arg, ptr);
  if (path !== undefined) {
    throw invalidArgValue(
      'arg',
      `references ptr at ${path}: the cleanup would never run, because arg keeps ptr reachable`,
      arg,
      addCleanup,
    );
  }
  return register(ptr, cleanup, arg, debug.captureStack(addCleanup));
}

/**
 * The same function as {@link addCleanup}, under Go's spelling
 * (`runtime.AddCleanup`). `AddCleanup === addCleanup`.
 *
 * @example
 * ```ts
 * import { AddCleanup } from 'addcleanup';
 *
 * const c = AddCleanup(buffer, (label) => console.log(`${label} collected`), 'scratch');
 * c.stop();
 * ```
 */
export const AddCleanup: typeof addCleanup = addCleanup;

/**
 * Waits until no cleanup of this thread is queued or running, async cleanups
 * included: every object already found dead has had its cleanup run, and
 * every promise a cleanup returned has settled. It first lets the event loop
 * turn once, so that objects the garbage collector has already found dead
 * reach the queue. It does not force a garbage collection (see `collect()` in
 * `addcleanup/testing` for that).
 *
 * @param options - `timeoutMs`: how long to wait at most (default 10,000 ms).
 *   The timer does not keep the process alive by itself, nor does a running
 *   async cleanup (its own I/O does).
 * @returns a promise of `true` once the queue is empty and no cleanup is
 *   running, or `false` if `timeoutMs` passed first.
 * @throws TypeError with code `ERR_INVALID_ARG_TYPE` or `ERR_INVALID_ARG_VALUE`
 *   if `options` or `options.timeoutMs` is not valid (synchronously).
 *
 * @example
 * ```ts
 * await closeAll();          // drops the last references
 * global.gc?.();
 * await drainCleanups();     // their cleanups have now run
 * ```
 */
export function drainCleanups(options?: DrainOptions): Promise<boolean> {
  return waitUntil(idle, timeoutOption(options, drainCleanups));
}

/**
 * The counters of this thread's registrations. Cheap: it allocates nothing
 * but the returned object.
 *
 * @example
 * ```ts
 * const { pending, queued, executed } = cleanupStats();
 * metrics.gauge('cleanups.pending', pending);
 * ```
 */
export function cleanupStats(): CleanupStats {
  return stats();
}

/** A registration reported by {@link checkCleanups}. */
export interface UnrunnableCleanup {
  /** What keeps `ptr` alive: the cleanup (through its closure) or `arg`. */
  reason: 'cleanup' | 'arg';
  /** Where the registration was made (debug mode, `ADDCLEANUP_DEBUG=1`, only). */
  stack?: string;
}

/**
 * Finds this thread's live registrations that can never run because their
 * own `cleanup` (through its closure, including V8's shared closure contexts)
 * or `arg` references `ptr` strongly: the bug Go's `GODEBUG=checkfinalizers=1`
 * looks for. Registrations that are fine are not reported, nor is a `ptr` that
 * stays alive only because the program's lasting state (globals, module scope,
 * timers...) holds it.
 *
 * On Bun it rejects with code `ERR_ADDCLEANUP_CHECK_UNSUPPORTED` (see the
 * README's "Runtimes"): Bun's heap snapshots cannot be analysed this way.
 *
 * It is a diagnostic: it takes a V8 heap snapshot of the current thread and
 * analyses it, which blocks the thread for seconds on a large heap and needs
 * several times the heap's size in memory. Do not call it on a hot path.
 *
 * @returns a promise of one entry per registration that can never run: its
 *   `reason`, and in debug mode the `stack` where it was registered.
 * @throws Error with code `ERR_ADDCLEANUP_CHECK_UNSUPPORTED` (as a rejection)
 *   on Bun, whose heap snapshots this analysis cannot read.
 *
 * @example
 * ```ts
 * for (const { reason, stack } of await checkCleanups()) {
 *   console.warn(`a cleanup can never run (its ${reason} keeps its object alive)`, stack ?? '');
 * }
 * ```
 */
export async function checkCleanups(): Promise<UnrunnableCleanup[]> {
  const unsupported = checkUnsupported(checkCleanups);
  if (unsupported !== undefined) throw unsupported;
  const live = liveRegistrations();
  // Loaded on first use: most programs never call this, and it needs node:v8.
  const { findUnreachableCleanups } = require('./check/index') as typeof Check;
  // The package's own tables hold every registration's cleanup and arg: the
  // search must not wander from one registration into the others through them.
  const found = await findUnreachableCleanups({
    ...('ptrs' in live ? { ptrs: live.ptrs } : { cells: live.cells }),
    cleanups: live.cleanups,
    args: live.args,
    exclude: live.tables,
  });
  return found.map(({ index, reason }) => {
    const stack = live.stacks[index];
    return stack === undefined ? { reason } : { reason, stack };
  });
}

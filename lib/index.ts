// The public API: addCleanup / AddCleanup / Cleanup.
//
// A registration has two halves. The native half (native/registry.cc) is a
// weak reference to `ptr` with a finalizer; it never keeps `ptr` alive. The
// JavaScript half is the `cleanup` and `arg`, kept here in two tables indexed
// by the registration's slot (the low 32 bits of its id), because Node-API
// cannot hold strong references to primitives and strong native references to
// JS values cost GC time. Both halves are dropped as soon as the cleanup has
// run or been stopped.
import { binding } from './binding';
import { illegalConstructor, invalidArgType, invalidArgValue } from './errors';

export type { CodedError } from './errors';

type AnyCleanup = (arg: any) => void;

const cleanups: (AnyCleanup | undefined)[] = [];
const args: unknown[] = [];

const SLOT_SPAN = 4294967296; // 2^32: an id is generation * 2^32 + slot

// Runs one batch of cleanups whose objects died. Called by the native queue
// from the event loop, through napi_make_callback, never from inside the GC.
// Every slot's cleanup and arg are taken out of the tables before the call, so
// that nothing here keeps them alive afterwards and a cleanup that registers
// new cleanups cannot be confused with the ones it replaces.
function deliver(slots: Uint32Array): void {
  for (let i = 0; i < slots.length; i++) {
    const slot = slots[i]!;
    const cleanup = cleanups[slot];
    const arg = args[slot];
    cleanups[slot] = undefined;
    args[slot] = undefined;
    if (cleanup === undefined) continue;
    try {
      cleanup(arg);
    } catch (error) {
      // Reported like any uncaught exception; with a listener, the rest of
      // the batch goes on.
      binding.triggerUncaughtException(error);
    }
  }
}

binding.setup(deliver);

let createCleanup: (id: number) => Cleanup;
const CONSTRUCT = Symbol('Cleanup');

/**
 * A handle to one registration made by {@link addCleanup}. Its only method is
 * {@link Cleanup.stop}.
 *
 * The handle does not keep the watched object alive: it holds only a number.
 * Dropping the handle does not cancel the cleanup.
 *
 * Handles cannot be constructed directly; `new Cleanup()` throws a `TypeError`
 * with code `ERR_ILLEGAL_CONSTRUCTOR`.
 */
export class Cleanup {
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
    if (!binding.stop(id)) return false;
    const slot = id % SLOT_SPAN;
    cleanups[slot] = undefined;
    args[slot] = undefined;
    return true;
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
export function addCleanup<T extends object, S>(
  ptr: T,
  cleanup: (arg: S) => void,
  arg: S,
): Cleanup {
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
  const id = binding.register(ptr);
  const slot = id % SLOT_SPAN;
  cleanups[slot] = cleanup;
  args[slot] = arg;
  return createCleanup(id);
}

/**
 * The same function as {@link addCleanup}, under Go's spelling
 * (`runtime.AddCleanup`). `AddCleanup === addCleanup`.
 */
export const AddCleanup: typeof addCleanup = addCleanup;

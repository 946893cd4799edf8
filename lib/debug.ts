// Debug mode: switched on by ADDCLEANUP_DEBUG=1 in the environment, read once
// when the package loads. With it off, nothing here runs on any path: the
// registration and delivery functions are chosen at load time.
import { inspect, types } from 'node:util';

function parseSlowMs(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 100;
  const value = Number(raw);
  return Number.isFinite(value) && value >= 0 ? value : 100;
}

/** Whether debug mode is on (ADDCLEANUP_DEBUG=1). */
export const enabled: boolean = process.env.ADDCLEANUP_DEBUG === '1';

/** The slow-cleanup and queue-delay threshold (ADDCLEANUP_DEBUG_SLOW_MS, default 100). */
export const slowMs: number = parseSlowMs(process.env.ADDCLEANUP_DEBUG_SLOW_MS);

/** Warning codes emitted through process.emitWarning in debug mode. */
export const SLOW_CLEANUP = 'ADDCLEANUP_SLOW_CLEANUP';
export const QUEUE_DELAY = 'ADDCLEANUP_QUEUE_DELAY';

// Bounds of the search for ptr inside arg at registration: deep or huge
// structures are searched up to here and no further.
const MAX_DEPTH = 8;
const MAX_VISITS = 10000;

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
// The built-ins the search uses, captured when the package loads: patching
// them later (Map.prototype.forEach, Set.prototype.has, Reflect.ownKeys ...)
// cannot make the search run user code. They are only ever called with
// .call(), on a receiver of the right kind.
/* eslint-disable @typescript-eslint/unbound-method */
const mapForEach = Map.prototype.forEach;
const setForEach = Set.prototype.forEach;
const setHas = Set.prototype.has;
const setAdd = Set.prototype.add;
/* eslint-enable @typescript-eslint/unbound-method */
const ownKeys = Reflect.ownKeys;
const getOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
const isProxy = types.isProxy;
const isMap = types.isMap;
const isSet = types.isSet;

function keyPath(base: string, key: string | symbol): string {
  if (typeof key === 'symbol') return `${base}[${String(key)}]`;
  if (IDENTIFIER.test(key)) return `${base}.${key}`;
  if (/^(0|[1-9]\d*)$/.test(key)) return `${base}[${key}]`;
  return `${base}[${JSON.stringify(key)}]`;
}

function describeKey(key: unknown): string {
  return inspect(key, { depth: 0, breakLength: Infinity, customInspect: false });
}

/**
 * Searches `arg` for `ptr` through own data properties (strings and
 * symbols), array elements, and Map and Set entries, breadth first, within
 * MAX_DEPTH levels and MAX_VISITS objects. Returns the path to the first
 * occurrence (`arg.owner.self`, `arg.list[2]`, `arg.byName.get('x')`), or
 * undefined. Getters and Proxies are never entered: the search must not run
 * user code.
 */
export function findPath(arg: unknown, ptr: object): string | undefined {
  if (arg === ptr) return 'arg';
  if ((typeof arg !== 'object' && typeof arg !== 'function') || arg === null) return undefined;
  const seen = new Set<object>();
  setAdd.call(seen, arg);
  let frontier: Array<[object, string]> = [[arg, 'arg']];
  let visits = 0;
  for (let depth = 0; depth < MAX_DEPTH && frontier.length > 0; depth++) {
    const next: Array<[object, string]> = [];
    const consider = (value: unknown, path: string): string | undefined => {
      if (value === ptr) return path;
      if (
        (typeof value === 'object' || typeof value === 'function') &&
        value !== null &&
        !setHas.call(seen, value)
      ) {
        setAdd.call(seen, value);
        next[next.length] = [value, path];
      }
      return undefined;
    };
    for (let f = 0; f < frontier.length; f++) {
      const object = frontier[f][0];
      const path = frontier[f][1];
      if (++visits > MAX_VISITS) return undefined;
      if (isProxy(object)) continue;
      const entries: Array<[unknown, string]> = [];
      if (isMap(object)) {
        let i = 0;
        mapForEach.call(object, (value: unknown, key: unknown) => {
          entries[entries.length] = [key, `${path}.keys()[${i}]`];
          entries[entries.length] = [value, `${path}.get(${describeKey(key)})`];
          i++;
        });
      } else if (isSet(object)) {
        let i = 0;
        setForEach.call(object, (value: unknown) => {
          entries[entries.length] = [value, `${path}.values()[${i++}]`];
        });
      }
      for (let e = 0; e < entries.length; e++) {
        const found = consider(entries[e][0], entries[e][1]);
        if (found !== undefined) return found;
      }
      const keys = ownKeys(object);
      for (let k = 0; k < keys.length; k++) {
        const key = keys[k];
        const descriptor = getOwnPropertyDescriptor(object, key);
        if (descriptor === undefined || !('value' in descriptor)) continue;
        const found = consider(descriptor.value, keyPath(path, key));
        if (found !== undefined) return found;
      }
    }
    frontier = next;
  }
  return undefined;
}

/** The registration's stack, without the package's own frames. */
export function captureStack(caller: Function): string {
  const holder: { stack?: string } = {};
  Error.captureStackTrace(holder, caller);
  const stack = holder.stack ?? '';
  // Drop the "Error" header line: what matters is where addCleanup was called.
  const newline = stack.indexOf('\n');
  return newline === -1 ? '' : stack.slice(newline + 1);
}

export function warnSlowCleanup(ms: number, stack: string | undefined): void {
  process.emitWarning(
    `A cleanup ran for ${ms.toFixed(1)} ms (threshold ${slowMs} ms). ` +
      'Cleanups run on the event loop: move long work elsewhere.' +
      (stack ? `\nRegistered at:\n${stack}` : ''),
    { code: SLOW_CLEANUP, type: 'AddCleanupWarning' },
  );
}

export function warnQueueDelay(ms: number): void {
  process.emitWarning(
    `Cleanups waited ${ms.toFixed(0)} ms in the queue after their objects died ` +
      `(threshold ${slowMs} ms): the event loop is busy, or cleanups are slow.`,
    { code: QUEUE_DELAY, type: 'AddCleanupWarning' },
  );
}

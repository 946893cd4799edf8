// Error construction for the public API. Errors carry a `code` the way Node's
// own errors do, so callers can branch on `err.code` instead of on messages.
import { inspect, types, type InspectOptions } from 'node:util';

/** An error raised by addcleanup for bad input, with a Node-style `code`. */
export interface CodedError extends Error {
  code: string;
}

function withCode<E extends Error>(error: E, code: string, caller: Function): E & CodedError {
  Object.defineProperty(error, 'code', {
    value: code,
    enumerable: true,
    writable: true,
    configurable: true,
  });
  // Point the stack at the caller's line, not at our validation helpers.
  Error.captureStackTrace(error, caller);
  return error as E & CodedError;
}

// Reads a data property without running user code: no getters, no Proxy
// traps. Describing a bad argument must never throw something else instead.
function dataProperty(value: object, key: string): unknown {
  let current: object | null = value;
  for (let depth = 0; current !== null && depth < 64; depth++) {
    if (types.isProxy(current)) return undefined;
    const descriptor = Object.getOwnPropertyDescriptor(current, key);
    if (descriptor !== undefined) return 'value' in descriptor ? descriptor.value : undefined;
    current = Object.getPrototypeOf(current) as object | null;
  }
  return undefined;
}

// How Node's ERR_INVALID_ARG_TYPE describes the value it received.
function describeReceived(value: unknown): string {
  if (value === null) return 'Received null';
  if (value === undefined) return 'Received undefined';
  if (typeof value === 'function') {
    const name = dataProperty(value, 'name');
    return typeof name === 'string' && name !== ''
      ? `Received function ${name}`
      : 'Received function <anonymous>';
  }
  if (typeof value === 'object') {
    if (types.isProxy(value)) return 'Received a Proxy';
    const ctor = dataProperty(value, 'constructor');
    const name = typeof ctor === 'function' ? dataProperty(ctor, 'name') : undefined;
    if (typeof name === 'string' && name !== '') return `Received an instance of ${name}`;
    return `Received ${safeInspect(value, { depth: -1 })}`;
  }
  let shown = safeInspect(value, { colors: false });
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  return `Received type ${typeof value} (${shown})`;
}

function safeInspect(value: unknown, options: InspectOptions): string {
  try {
    return inspect(value, { ...options, customInspect: false, getters: false, showProxy: true });
  } catch {
    return `[${typeof value}]`;
  }
}

/** `TypeError` with code `ERR_INVALID_ARG_TYPE`, worded like Node's own. */
export function invalidArgType(
  name: string,
  expected: string,
  actual: unknown,
  caller: Function,
): TypeError & CodedError {
  return withCode(
    new TypeError(`The "${name}" argument must be of type ${expected}. ${describeReceived(actual)}`),
    'ERR_INVALID_ARG_TYPE',
    caller,
  );
}

/** `TypeError` with code `ERR_INVALID_ARG_VALUE`, worded like Node's own. */
export function invalidArgValue(
  name: string,
  reason: string,
  actual: unknown,
  caller: Function,
): TypeError & CodedError {
  let shown = safeInspect(actual, { depth: 0, colors: false, breakLength: Infinity });
  if (shown.length > 128) shown = `${shown.slice(0, 128)}...`;
  return withCode(
    new TypeError(`The argument '${name}' ${reason}. Received ${shown}`),
    'ERR_INVALID_ARG_VALUE',
    caller,
  );
}

/** `TypeError` with code `ERR_ILLEGAL_CONSTRUCTOR`, for `new Cleanup()`. */
export function illegalConstructor(caller: Function): TypeError & CodedError {
  return withCode(
    new TypeError('Illegal constructor: Cleanup handles are made by addCleanup()'),
    'ERR_ILLEGAL_CONSTRUCTOR',
    caller,
  );
}

interface RuntimeGlobals {
  Bun?: { version?: string };
  Deno?: { version?: { deno?: string } };
}

/**
 * The runtime, for messages: `Node v20.20.2, Node-API 10`, or Bun and Deno,
 * which implement Node-API too and report a Node version of their own.
 */
export function runtimeName(): string {
  const g = globalThis as RuntimeGlobals;
  const napi = process.versions.napi === undefined ? '' : `, Node-API ${process.versions.napi}`;
  if (g.Bun?.version !== undefined) return `Bun ${g.Bun.version} (as Node ${process.version}${napi})`;
  if (g.Deno?.version?.deno !== undefined)
    return `Deno ${g.Deno.version.deno} (as Node ${process.version}${napi})`;
  return `Node ${process.version}${napi}`;
}

/**
 * How to get the native addon where no prebuilt binary matches: the lines
 * that ERR_ADDCLEANUP_LOAD's message (and the JS engine's warning) end with.
 * The package runs no script at install, so `npm rebuild` builds nothing;
 * each command below was run under npm 11 and 12, pnpm 10 and Bun by
 * test/reliability/install.js, which reads them from here (a command is an
 * indented line, its package managers in parentheses).
 */
export const BUILD_FROM_SOURCE: readonly string[] = [
  'To build it from source: install a C++ toolchain (python3, make and g++ or clang;',
  'on Debian/Ubuntu "apt-get install python3 make g++"), then, in the project that depends on addcleanup, run',
  '  npx addcleanup build          (npm, and pnpm with npm beside it)',
  '  pnpm exec addcleanup build    (pnpm)',
  '  bunx addcleanup build         (Bun)',
  'It compiles the addon into node_modules/addcleanup/build/Release, which loads before any prebuild.',
];

/**
 * `Error` with code `ERR_ADDCLEANUP_CHECK_UNSUPPORTED` when the runtime's heap
 * snapshots cannot be analysed (Bun), else undefined.
 */
export function checkUnsupported(caller: Function): (Error & CodedError) | undefined {
  if ((globalThis as RuntimeGlobals).Bun === undefined) return undefined;
  return withCode(
    new Error(
      `addcleanup: checkCleanups() is not supported on ${runtimeName()}: its heap snapshots ` +
        "(JavaScriptCore's heap in V8's format) do not tell the stack's roots from the program's " +
        'lasting ones, and the analysis needs that to report only the cleanups that can never run.',
    ),
    'ERR_ADDCLEANUP_CHECK_UNSUPPORTED',
    caller,
  );
}

const DEFAULT_TIMEOUT_MS = 10000;

/**
 * Validates an optional `{ timeoutMs }` options object and returns the
 * timeout (default 10,000 ms; Infinity allowed).
 */
export function timeoutOption(options: unknown, caller: Function): number {
  if (options === undefined) return DEFAULT_TIMEOUT_MS;
  if (typeof options !== 'object' || options === null) {
    throw invalidArgType('options', 'object', options, caller);
  }
  const { timeoutMs } = options as { timeoutMs?: unknown };
  if (timeoutMs === undefined) return DEFAULT_TIMEOUT_MS;
  if (typeof timeoutMs !== 'number') {
    throw invalidArgType('options.timeoutMs', 'number', timeoutMs, caller);
  }
  if (!(timeoutMs >= 0)) {
    throw invalidArgValue('options.timeoutMs', 'must be a number >= 0', timeoutMs, caller);
  }
  return timeoutMs;
}

/** `Error` with code `ERR_ADDCLEANUP_LOAD`: the addon could not be loaded. */
export function loadFailure(lines: readonly string[]): Error & CodedError {
  const error = new Error([...lines, ...BUILD_FROM_SOURCE].join('\n')) as Error & CodedError;
  error.code = 'ERR_ADDCLEANUP_LOAD';
  return error;
}

/** `Error` with code `ERR_ADDCLEANUP_ENGINE`: ADDCLEANUP_ENGINE has no valid value. */
export function badEngineChoice(value: string): Error & CodedError {
  const error = new Error(
    `addcleanup: ADDCLEANUP_ENGINE must be "native" or "js" (or unset), not ${JSON.stringify(value)}`,
  ) as Error & CodedError;
  error.code = 'ERR_ADDCLEANUP_ENGINE';
  return error;
}

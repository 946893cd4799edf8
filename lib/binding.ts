// Loads the compiled addon and states the interface it exports. Only
// lib/index.ts talks to it; it is not part of the public API.
import * as path from 'node:path';

/** The functions exported by native/addon.cc. */
export interface NativeBinding {
  /**
   * Once per environment: the function that runs a batch of collected slots;
   * `waitedMs` is how long the batch's first slot waited in the queue.
   */
  setup(deliver: (slots: Uint32Array, waitedMs: number) => void): void;
  /** Watches `target` (an object or function) and returns the registration's id. */
  register(target: object): number;
  /** Cancels a registration whose object is not yet found dead; false otherwise. */
  stop(id: number): boolean;
  /** Reports an error exactly like an uncaught exception (may not return). */
  triggerUncaughtException(error: unknown): void;
  /**
   * [registrations watching a live object, cleanups queued and not yet handed
   * to JavaScript]; fills and returns `out` when given one.
   */
  counts(out?: Float64Array): ArrayLike<number>;
  /** [slots, objects] of every registration still watching a live object. */
  live(): [number[], object[]];
}

const root = path.join(__dirname, '..');

function candidates(): string[] {
  // ADDCLEANUP_NATIVE_PATH names one .node file to use instead (a Debug or
  // sanitizer build, for instance); otherwise the Release build is preferred.
  const override = process.env.ADDCLEANUP_NATIVE_PATH;
  if (override) return [path.resolve(override)];
  return [
    path.join(root, 'build', 'Release', 'addcleanup.node'),
    path.join(root, 'build', 'Debug', 'addcleanup.node'),
  ];
}

function load(): NativeBinding {
  const tried: string[] = [];
  for (const file of candidates()) {
    try {
      return require(file) as NativeBinding;
    } catch (error) {
      const err = error as NodeJS.ErrnoException;
      const missing = err.code === 'MODULE_NOT_FOUND' && err.message.includes(file);
      tried.push(`  - ${file}: ${missing ? 'not found' : err.message}`);
    }
  }
  const message = [
    'addcleanup: could not load its native addon. Tried:',
    ...tried,
    `It is built when the package is installed, by node-gyp (Node ${process.version}, ${process.platform}-${process.arch}).`,
    'To fix it: install a C++ toolchain (python3, make and g++ or clang; on Debian/Ubuntu',
    '"apt-get install python3 make g++"), then run "npm rebuild addcleanup".',
  ].join('\n');
  const failure = new Error(message) as Error & { code: string };
  failure.code = 'ERR_ADDCLEANUP_LOAD';
  throw failure;
}

export const binding: NativeBinding = load();

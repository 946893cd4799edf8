// Loads the compiled addon and states the interface it exports. Only
// lib/index.ts talks to it; it is not part of the public API.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The functions exported by native/addon.cc. */
export interface NativeBinding {
  /**
   * Once per environment: the function that runs a batch of collected slots;
   * `waitedMs` is how long the longest-waiting slot of the batch was queued. With
   * `newPage` (which must return an Int32Array of 4096 elements over a
   * SharedArrayBuffer, the state words of slots index * 4096 on), the native
   * table mirrors each slot's generation * 8 + state into the pages.
   * `schedule(fn)` must call fn on a later turn of the event loop: the queue
   * delivers a backlog in slices, one per turn.
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
  /** Reports an error exactly like an uncaught exception (may not return). */
  triggerUncaughtException(error: unknown): void;
  /**
   * [registrations watching a live object, cleanups queued and not yet handed
   * to JavaScript]; fills and returns `out` when given one.
   */
  counts(out?: Float64Array): ArrayLike<number>;
  /** [slots, objects] of every registration still watching a live object. */
  live(): [number[], object[]];
  /** Whether finalizers run inside the GC in this process (native/runtime.h). */
  readonly finalizersInGc: boolean;
}

const root = path.join(__dirname, '..');

// Prebuilt binaries made by `prebuildify --napi` at pack time:
// prebuilds/<platform>-<arch>/addcleanup[.<tag>...].node. A Node-API build
// carries no `abi<N>` tag (or a `napi` tag): one file serves every Node
// version. This follows node-gyp-build's naming, which the install script
// (`node-gyp-build`) uses to decide whether to compile.
function prebuilds(): string[] {
  const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  let files: string[];
  try {
    files = fs.readdirSync(dir);
  } catch {
    return [path.join(dir, '*.node')];
  }
  const found = files
    .filter((file) => file.endsWith('.node'))
    .filter((file) => {
      const tags = file.split('.').slice(0, -1);
      if (!tags.includes('napi') && tags.some((tag) => /^abi\d+$/.test(tag))) return false;
      const libcTag = tags.find((tag) => tag === 'glibc' || tag === 'musl');
      // Only a libc-tagged prebuild needs the (slow) libc check.
      return libcTag === undefined || libcTag === (isMusl() ? 'musl' : 'glibc');
    })
    .map((file) => path.join(dir, file));
  return found.length > 0 ? found : [path.join(dir, '*.node')];
}

function isMusl(): boolean {
  if (process.platform !== 'linux') return false;
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return report !== undefined && report.header?.glibcVersionRuntime === undefined;
}

function candidates(): string[] {
  // ADDCLEANUP_NATIVE_PATH names one .node file to use instead (a Debug or
  // sanitizer build, for instance). Otherwise a local build wins over a
  // prebuilt binary: it was made on this machine, for it.
  const override = process.env.ADDCLEANUP_NATIVE_PATH;
  if (override) return [path.resolve(override)];
  return [
    path.join(root, 'build', 'Release', 'addcleanup.node'),
    path.join(root, 'build', 'Debug', 'addcleanup.node'),
    ...prebuilds(),
  ];
}

// The runtime, for the load-failure message: Bun and Deno implement
// Node-API too and report a Node version of their own in process.version.
function runtime(): string {
  const g = globalThis as { Bun?: { version?: string }; Deno?: { version?: { deno?: string } } };
  const napi = process.versions.napi === undefined ? '' : `, Node-API ${process.versions.napi}`;
  if (g.Bun?.version !== undefined) return `Bun ${g.Bun.version} (as Node ${process.version}${napi})`;
  if (g.Deno?.version?.deno !== undefined)
    return `Deno ${g.Deno.version.deno} (as Node ${process.version}${napi})`;
  return `Node ${process.version}${napi}`;
}

function load(): NativeBinding {
  const tried: string[] = [];
  for (const file of candidates()) {
    if (!fs.existsSync(file)) {
      tried.push(`  - ${file}: not found`);
      continue;
    }
    try {
      return require(file) as NativeBinding;
    } catch (error) {
      tried.push(`  - ${file}: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  const message = [
    'addcleanup: could not load its native addon. Tried:',
    ...tried,
    `No prebuilt binary matched, and no local build loaded (${runtime()}, ${process.platform}-${process.arch}).`,
    'To fix it: install a C++ toolchain (python3, make and g++ or clang; on Debian/Ubuntu',
    '"apt-get install python3 make g++"), then run "npm rebuild addcleanup".',
  ].join('\n');
  const failure = new Error(message) as Error & { code: string };
  failure.code = 'ERR_ADDCLEANUP_LOAD';
  throw failure;
}

export const binding: NativeBinding = load();

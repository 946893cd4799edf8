// Loads the compiled addon and states the interface it exports. Only
// lib/index.ts talks to it; it is not part of the public API.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BUILD_FROM_SOURCE, runtimeName } from './errors';

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

// node-gyp-build (which also decides at install whether to compile) has no
// type declarations of its own; this is the part used here.
interface NodeGypBuild {
  path(dir: string): string;
}
const nodeGypBuild = require('node-gyp-build') as NodeGypBuild;

// The .node file to load. ADDCLEANUP_NATIVE_PATH names one (a Debug or
// sanitizer build, for instance); otherwise node-gyp-build's own rules: a
// local build (build/Release, then build/Debug) wins over a prebuilt binary,
// since it was made on this machine; else the prebuild of this platform and
// architecture, prebuilds/<platform>-<arch>/node.napi.node, which carries no
// ABI tag: one Node-API file serves every runtime version.
function resolve(tried: string[]): string | undefined {
  const override = process.env.ADDCLEANUP_NATIVE_PATH;
  if (override) return path.resolve(override);
  try {
    return nodeGypBuild.path(root);
  } catch (error) {
    const reason = (error as Error).message.split('\n')[0];
    tried.push(
      `  - ${path.join(root, 'build', 'Release')} and ${path.join(root, 'build', 'Debug')}: no build`,
    );
    tried.push(`  - ${path.join(root, 'prebuilds', `${process.platform}-${process.arch}`)}: ${reason}`);
    return undefined;
  }
}

function load(): NativeBinding {
  const tried: string[] = [];
  const file = resolve(tried);
  if (file !== undefined) {
    if (!fs.existsSync(file)) {
      tried.push(`  - ${file}: not found`);
    } else {
      try {
        return require(file) as NativeBinding;
      } catch (error) {
        tried.push(`  - ${file}: ${(error as Error).message.split('\n')[0]}`);
      }
    }
  }
  const message = [
    'addcleanup: could not load its native addon. Tried:',
    ...tried,
    `No prebuilt binary matched, and no local build loaded (${runtimeName()}, ${process.platform}-${process.arch}).`,
    ...BUILD_FROM_SOURCE,
  ].join('\n');
  const failure = new Error(message) as Error & { code: string };
  failure.code = 'ERR_ADDCLEANUP_LOAD';
  throw failure;
}

export const binding: NativeBinding = load();

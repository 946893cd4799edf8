// The native engine: loads the compiled addon (native/) and states the
// interface it exports. Only lib/engine/index.ts calls loadNative().
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadFailure, runtimeName } from '../errors';
import type { Engine } from './types';

/** The functions exported by native/addon.cc (lib/engine/types.ts says what each does). */
type NativeExports = Omit<Engine, 'liveKind' | 'stateWords' | 'uncaughtReturns'>;

const root = path.join(__dirname, '..', '..');

// node-gyp-build has no type declarations of its own; this is the part used here.
interface NodeGypBuild {
  path(dir: string): string;
}
const nodeGypBuild = require('node-gyp-build') as NodeGypBuild;

// The .node file to load. ADDCLEANUP_NATIVE_PATH names one (a Debug or
// sanitizer build, for instance); otherwise node-gyp-build's own rules: a
// local build (build/Release, then build/Debug) wins over a prebuilt binary,
// since it was made on this machine; else the prebuild of this platform and
// architecture, prebuilds/<platform>-<arch>/addcleanup.node, which carries no
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

/** What loading the addon gave: the engine, or the ERR_ADDCLEANUP_LOAD error. */
export type NativeLoad = { engine: Engine; failure?: undefined } | { engine?: undefined; failure: Error };

export function loadNative(): NativeLoad {
  const tried: string[] = [];
  const file = resolve(tried);
  if (file !== undefined) {
    if (!fs.existsSync(file)) {
      tried.push(`  - ${file}: not found`);
    } else {
      try {
        return { engine: asEngine(require(file) as NativeExports) };
      } catch (error) {
        tried.push(`  - ${file}: ${(error as Error).message.split('\n')[0]}`);
      }
    }
  }
  return {
    failure: loadFailure([
      'addcleanup: could not load its native addon. Tried:',
      ...tried,
      `No prebuilt binary matched, and no local build loaded (${runtimeName()}, ${process.platform}-${process.arch}).`,
    ]),
  };
}

// The addon's exports are the engine: the properties that describe it are
// added to them, so that the hot paths call the binding's functions directly.
function asEngine(exports: NativeExports): Engine {
  return Object.defineProperties(exports as Engine, {
    liveKind: { value: 'targets' },
    stateWords: { value: true },
    // Bun's napi_fatal_exception, with no 'uncaughtException' listener,
    // returns and ends the process only when the current task is over.
    // Node's does not return.
    uncaughtReturns: { value: (globalThis as { Bun?: unknown }).Bun !== undefined },
  });
}

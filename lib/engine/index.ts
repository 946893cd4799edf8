// Chooses this thread's engine when the package loads (lib/engine/types.ts
// draws the boundary):
//   - native whenever the addon loads;
//   - js otherwise, after one process warning (ADDCLEANUP_JS_ENGINE) that says
//     why the addon did not load, what the JS engine costs, and how to build
//     the addon;
//   - ADDCLEANUP_ENGINE=native: the addon or ERR_ADDCLEANUP_LOAD, as before
//     the JS engine existed; ADDCLEANUP_ENGINE=js: the JS engine, silently.
//     So does ADDCLEANUP_NATIVE_PATH, a developer's choice of one .node file:
//     if that file does not load, that is an error, not a reason to fall back.
import * as path from 'node:path';
import { badEngineChoice, BUILD_FROM_SOURCE } from '../errors';
import { createJsEngine } from './js';
import { loadNative } from './native';
import type { Engine, EngineName } from './types';

export type { Engine, EngineName } from './types';

/** The README (shipped in the package) says what each engine guarantees and costs. */
const README = path.join(__dirname, '..', '..', 'README.md');

function choose(): { engine: Engine; name: EngineName } {
  const choice = process.env.ADDCLEANUP_ENGINE;
  if (choice === 'js') return { engine: createJsEngine(), name: 'js' };
  if (choice !== undefined && choice !== '' && choice !== 'native') throw badEngineChoice(choice);
  const native = loadNative();
  if (native.engine !== undefined) return { engine: native.engine, name: 'native' };
  if (choice === 'native' || process.env.ADDCLEANUP_NATIVE_PATH) throw native.failure;
  process.emitWarning(
    [
      native.failure.message
        .split('\n')
        .filter((line) => !BUILD_FROM_SOURCE.includes(line))
        .join('\n'),
      'Using the JavaScript engine (FinalizationRegistry) instead: the same API and contract,',
      `with the costs listed in the "Engines" section of ${README}.`,
      ...BUILD_FROM_SOURCE,
      'Set ADDCLEANUP_ENGINE=js to choose the JavaScript engine without this warning.',
    ].join('\n'),
    { code: 'ADDCLEANUP_JS_ENGINE' },
  );
  return { engine: createJsEngine(), name: 'js' };
}

const chosen = choose();

/** This thread's engine. */
export const engine: Engine = chosen.engine;
/** Which engine it is. */
export const engineName: EngineName = chosen.name;

// The analysis behind checkCleanups(): which live registrations can never run
// because their own `cleanup` or `arg` keeps their `ptr` reachable (what Go
// 1.25 checks with GODEBUG=checkfinalizers=1). Slow, but exact: no heuristic,
// every answer follows from the heap snapshot and the rules in classify.ts.
//
// How: take a V8 heap snapshot of this thread, then search the snapshot's
// object graph, along strong references only, from each registration's
// cleanup and arg to its ptr (given, or found as the target of its
// FinalizationRegistry cell: cells.ts). The snapshot is read as it streams
// out of V8 (snapshot.ts parses it), classify.ts decides what is followed
// and what is cut, search.ts searches. Nothing of the snapshot is kept: the
// typed arrays are locals, garbage as soon as the result is returned. The snapshot is
// taken synchronously, before findUnreachableCleanups() returns its promise,
// so it shows the registrations exactly as they were handed over; the
// answer is about that moment, however long the reading takes.
//
// Loaded on first use: lib/index.ts requires this folder when checkCleanups()
// is first called, so that programs that never call it load neither it nor
// node:v8 and node:crypto.
import { randomBytes } from 'node:crypto';
import * as v8 from 'node:v8';
import { TARGET, WEAK_CELL } from './cells';
import { GC_ROOTS, REGISTERED_ROOTS, STACK_ROOTS, type Scaffold } from './classify';
import { search, type Leak } from './search';
import { SnapshotParser, type Snapshot } from './snapshot';

export type { Leak, LeakReason } from './search';

interface Registrations {
  /** For each live registration i: its cleanup function and arg. */
  cleanups: readonly Function[];
  args: readonly unknown[];
  /** Objects (and everything only reachable through them) that the search must not enter: the package's own internal tables. */
  exclude: readonly object[];
}

/** Registrations whose watched objects the caller can list (the native engine). */
export interface PtrsInput extends Registrations {
  /** For each live registration i: its watched object. */
  ptrs: readonly object[];
  cells?: undefined;
}

/**
 * Registrations made with a FinalizationRegistry (the JavaScript engine),
 * which cannot list its watched objects: each is found in the snapshot as
 * the target of its FinalizationRegistry cell.
 */
export interface CellsInput extends Registrations {
  /**
   * For each registration i: the object that is both the held value and the
   * unregister token of its cell (registry.register(ptr, token, token)), at
   * most one live cell per token. A token whose cell is gone (unregistered,
   * or its target already collected) is a registration that is not live:
   * nothing is reported for it.
   */
  cells: readonly object[];
  ptrs?: undefined;
}

export type CheckInput = PtrsInput | CellsInput;

/**
 * Returns, for each registration index i whose ptr (ptrs[i], or the target of
 * the live cell of cells[i]) is reachable from cleanups[i] or args[i] (strong
 * references only, through objects that the program's persistent state does
 * not keep alive by itself: see classify.ts), the reason: 'arg' if ptr is
 * reachable from arg, else 'cleanup'. Sorted by index. Takes a heap snapshot of the current thread
 * synchronously, before it returns: slow (seconds for tens of megabytes of
 * heap, most of it V8's).
 */
export async function findUnreachableCleanups(input: CheckInput): Promise<Leak[]> {
  const { cleanups, args } = input;
  const byCells = input.cells !== undefined;
  if (byCells === (input.ptrs !== undefined)) {
    throw new TypeError('addcleanup: the check takes either ptrs or cells (exactly one of them)');
  }
  const count = byCells ? input.cells.length : input.ptrs.length;
  if (cleanups.length !== count || args.length !== count) {
    throw new RangeError(
      `addcleanup: ${byCells ? 'cells' : 'ptrs'}, cleanups and args must have the same length`,
    );
  }
  if (count === 0) return [];
  const { scaffold, holder } = makeScaffold(input);
  const wanted = new Set<string>([
    ...Object.values(scaffold.keys),
    GC_ROOTS,
    REGISTERED_ROOTS,
    ...STACK_ROOTS,
    'map',
    ...(byCells ? [WEAK_CELL, TARGET] : []),
  ]);
  const snapshot = await readSnapshot(scaffold, holder, wanted);
  return search(snapshot, scaffold);
}

function isObject(value: unknown): value is object {
  return (typeof value === 'object' && value !== null) || typeof value === 'function';
}

/**
 * The marker arrays, held during the snapshot by an object (the holder)
 * whose property names are unique to this call, so that the snapshot's
 * property edges with those names lead to them. Array i holds, at element
 * index k, the object whose node the snapshot's element edge k points at.
 * Primitives are replaced by 0 (a Smi: no node, no edge): they can neither
 * hold nor be held. With cells, the first array holds the tokens, not the
 * ptrs: the scaffold must not keep a ptr alive that only its cell refers to
 * (the snapshot's collection clears that cell, and nothing is reported).
 */
function makeScaffold(input: CheckInput): { scaffold: Scaffold; holder: Record<string, unknown[]> } {
  const { cleanups, args, exclude } = input;
  const targets = input.cells ?? input.ptrs;
  // (Filled by push: a large array made with new Array(n) would get slow,
  // dictionary elements.)
  const ptrObjects: unknown[] = [];
  const sourceObjects: unknown[] = [];
  for (let i = 0; i < targets.length; i++) {
    const target = targets[i];
    const cleanup = cleanups[i];
    const arg = args[i];
    ptrObjects.push(isObject(target) ? target : 0);
    sourceObjects.push(isObject(cleanup) ? cleanup : 0, isObject(arg) ? arg : 0);
  }
  const wallObjects: unknown[] = [input, targets, cleanups, args, exclude];
  for (const wall of exclude) if (isObject(wall)) wallObjects.push(wall);
  // globalThis, to check that the snapshot was understood: the global proxy
  // must come out as persistent.
  const probeObjects: unknown[] = [globalThis];

  const tag = randomBytes(16).toString('hex');
  const keys = {
    ptrs: `addcleanupCheckPtrs${tag}`,
    sources: `addcleanupCheckSources${tag}`,
    walls: `addcleanupCheckWalls${tag}`,
    probe: `addcleanupCheckProbe${tag}`,
  };
  const holder: Record<string, unknown[]> = {
    [keys.ptrs]: ptrObjects,
    [keys.sources]: sourceObjects,
    [keys.walls]: wallObjects,
    [keys.probe]: probeObjects,
  };
  const byCells = input.cells !== undefined;
  return { scaffold: { keys, byCells, ptrObjects, sourceObjects, wallCount: wallObjects.length }, holder };
}

/**
 * Takes the snapshot, now, and reads it as it streams out of
 * v8.getHeapSnapshot(): no temporary file. On Node the whole snapshot is
 * serialized into the stream's buffer (64 KiB chunks) on the first read, so
 * the text is in memory for a moment; each chunk is parsed, then dropped.
 * Chunks are taken from 'data' events: async iteration (on Node 20 to 24)
 * would join them all into one Buffer first, a copy of the whole text that
 * also caps its size at Buffer's limit.
 */
async function readSnapshot(
  scaffold: Scaffold,
  holder: Record<string, unknown[]>,
  wanted: ReadonlySet<string>,
): Promise<Snapshot> {
  // Node and Deno both take the snapshot inside this call, synchronously.
  const stream = v8.getHeapSnapshot();
  // A use of the scaffold after the snapshot, so that it is certainly live
  // while the snapshot is taken.
  if (holder[scaffold.keys.ptrs] !== scaffold.ptrObjects) throw new Error('unreachable');
  const parser = new SnapshotParser(wanted);
  await new Promise<void>((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => {
      if (parser.done) return; // the rest is sections the analysis does not need
      try {
        parser.write(chunk);
      } catch (error) {
        stream.destroy(error as Error);
      }
    });
    stream.on('error', reject);
    stream.on('end', resolve);
  });
  return parser.finish();
}

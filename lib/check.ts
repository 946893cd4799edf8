// The analysis behind checkCleanups(): which live registrations can never run
// because their own `cleanup` or `arg` keeps their `ptr` reachable (what Go
// 1.25 checks with GODEBUG=checkfinalizers=1). Slow, but exact: no heuristic,
// every answer follows from the heap snapshot and the rules below.
//
// How: take a V8 heap snapshot of this thread, then search the snapshot's
// object graph, along strong references only, from each registration's
// cleanup and arg to its ptr. The snapshot is written to a private temporary
// file, read back in fixed-size chunks by a streaming parser (a snapshot is
// often larger than the longest string V8 can make, so JSON.parse is not an
// option), and deleted before this module returns. Nothing of it is kept: the
// typed arrays below are locals, garbage as soon as the result is returned.
// The whole call is synchronous (the promise is settled when it returns), so
// the registrations cannot change between the snapshot and the answer.
//
// WHAT IS FOLLOWED
//
// Strong references: the snapshot edges of type context (a variable of a
// closure scope), element, property, internal and hidden. V8 checks (in its
// heap-snapshot verifier) that these are exactly the references its marking
// visitor treats as strong. Weak edges (WeakRef targets, WeakMap/WeakSet keys,
// FinalizationRegistry targets, the maybe-weak slots of feedback vectors and
// optimized code, weak lists) are not followed: they keep nothing alive.
// Shortcut edges are not followed either: V8 adds them for display only (a
// bound function's arguments repeated on the function, a global proxy's
// native context); the references they stand for are there as real edges.
//
// V8 reports each WeakMap entry as two internal edges to the value, one from
// the key and one from the table. The key edge is exact: while the map is
// alive, the value lives as long as the key. The table edge is not: a table
// keeps no value alive whose key is dead. So table -> value edges are dropped
// (both carry the table's id in their name; the one that starts at the table
// is the table's), and a WeakMap value is reached only through its key.
//
// A registration is reported when its ptr is reached from its arg (reason
// 'arg', which wins) or from its cleanup (reason 'cleanup'), through any
// objects except those that are cut (below). A cleanup or arg that is ptr
// itself reaches it trivially.
//
// WHAT IS CUT (never entered), AND WHY NO REAL RETAINING PATH HIDES THERE
//
// 1. The package's own tables (input.exclude) and this check's scaffolding:
//    the input object and arrays, and the marker object and arrays that hold
//    the ptrs, cleanups and args while the snapshot is taken. They hold every
//    ptr, cleanup and arg, so entering them would connect every registration
//    to every other; they are the registrations themselves, not something a
//    cleanup or arg refers to.
//
// 2. V8's synthetic root nodes: they are not objects, and no object refers to
//    them.
//
// 3. The nodes of Node's embedder graph, Node's description of its C++
//    objects (named "Node / ...", and not V8 objects: they have no map; a JS
//    wrapper object that V8 renamed after its C++ object keeps its map and
//    its edges). Node lists there, as if strong, links that are weak in
//    reality: for instance, from its environment to a vm context's C++ object
//    to that context's JS wrapper, which Node holds weakly (such a realm is
//    collected as soon as nothing else holds it). And every JS value that Node's
//    C++ code holds strongly is held through a V8 global handle, a traced
//    handle or cppgc, which the snapshot shows as V8 roots and edges (a
//    listening server, a timer, a pending fs request: all checked to be
//    persistent without the embedder graph). So these nodes are neither
//    roots nor entered: nothing real is lost, and false links are avoided.
//
// 4. Everything that the program's persistent state keeps alive by itself:
//    the objects reachable from the GC roots, except the transient ones (the
//    JavaScript stack, C++ handle scopes, objects being relocated, the
//    identity maps and handles of the job TurboFan is compiling, cppgc objects
//    on the native stack: see STACK_ROOTS and REGISTERED_ROOTS), without going
//    through (1) or (3), through any watched ptr, or through any cleanup or
//    arg. This set, "persistent" below, contains every live realm's
//    NativeContext, global object, global proxy and script contexts, the
//    scope of every module (its closures are exported, cached or listening),
//    Node's state (module cache, timers, handles, pending requests and
//    promises, nextTick queue) and V8's (builtins, shared function infos,
//    code, feedback vectors, the maps of live objects).
//
//    Why cutting them hides nothing: every object that an object of this set
//    refers to is in the set too, except watched ptrs, cleanups and args,
//    which the set does not go through. So a path from a cleanup or arg that
//    enters the set stays in it until it reaches a watched object or a
//    cleanup/arg: that object is retained by the program's persistent state
//    (a global variable, a module-level variable, a timer, a listener, a
//    class's static field...), independently of the registration. Its
//    cleanup or arg is not what keeps ptr alive: ptr becomes collectable, and
//    the cleanup runs, as soon as that state lets go of it. Without this cut,
//    every closure (whose scope chain ends in its module's scope, then the
//    NativeContext) and every object (whose map leads to its constructor,
//    hence to that constructor's module) would reach the whole program, and
//    every ptr alive for any reason would be reported. This is Go's rule too:
//    its check starts from the cleanup and arg and never enters global
//    variables, which are roots, not heap objects.
//
//    Searched, on the other hand: whatever only the stack, the watched
//    objects and the registrations keep alive. A closure scope captured by a
//    cleanup (including V8's shared scope: a closure keeps every
//    context-allocated variable of its scope alive, even those that only
//    another closure uses), an arg's own object graph, a vm realm that only a
//    cleanup keeps alive; and through watched objects and other
//    registrations' cleanups and args, since an arg that holds another
//    watched object that holds ptr keeps ptr alive too.
//
//    So a report means: some path from the cleanup or arg to ptr goes only
//    through objects that nothing but the stack, the watched objects and the
//    registrations keeps alive. Once the stack has unwound, ptr stays
//    reachable for as long as the registration holds its cleanup and arg: it
//    can never run. A ptr that its cleanup reaches only through persistent
//    state is not reported: it is alive anyway, because of that state.
//
// Node types that cannot refer to an object (strings, numbers, symbols,
// bigints: they only point at strings) are searched but not expanded. No other
// node kind is skipped: code, shared function infos, scripts, maps and
// feedback vectors are followed like any object. Their weak slots are weak
// edges; their strong slots (a map's prototype and constructor, say) can be
// real retaining paths. Most of them are persistent anyway, hence cut.
//
// HOW THE SEARCH STAYS FAST
//
// One breadth-first pass from the persistent roots computes the persistent
// set. One forward pass from all cleanups and args computes F, everything they
// reach through uncut objects; one backward pass inside F from the ptrs that F
// contains keeps the part of F that can reach a ptr (often a few nodes). Only
// that part is condensed into strongly connected components, and the
// reachability from each component to each ptr is computed as bit sets (32
// ptrs per word, as many words at a time as MASK_WORDS allows), sweeping the
// components in reverse topological order once per group of words. Every
// answer is the same as one separate search per registration.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as v8 from 'node:v8';

export interface CheckInput {
  /** For each live registration i: its watched object, cleanup function and arg. */
  ptrs: readonly object[];
  cleanups: readonly Function[];
  args: readonly unknown[];
  /** Objects (and everything only reachable through them) that the search must not enter: the package's own internal tables. */
  exclude: readonly object[];
}

export type LeakReason = 'cleanup' | 'arg';

/**
 * Returns, for each registration index i whose ptr is reachable from
 * cleanups[i] or args[i] (strong references only, through objects that the
 * program's persistent state does not keep alive by itself: see the comment
 * at the top of this file), the reason: 'arg' if ptr is reachable from arg,
 * else 'cleanup'. Sorted by index. Takes a heap snapshot of the current
 * thread: slow (seconds for tens of megabytes of heap, most of it V8's), and
 * done synchronously: the returned promise is already settled.
 */
export function findUnreachableCleanups(
  input: CheckInput,
): Promise<Array<{ index: number; reason: LeakReason }>> {
  return new Promise((resolve) => resolve(analyse(input)));
}

// ---------------------------------------------------------------------------
// Snapshot reading

/** The parts of a heap snapshot that the analysis needs, as flat arrays. */
interface Snapshot {
  nodeCount: number;
  /** Index into nodeTypeNames. */
  nodeType: Uint8Array;
  /** Index into the snapshot's string table. */
  nodeName: Uint32Array;
  nodeId: Uint32Array;
  /** Node i's edges are firstEdge[i] .. firstEdge[i + 1] - 1. */
  firstEdge: Uint32Array;
  /** Index into edgeTypeNames. */
  edgeType: Uint8Array;
  /** A string index for named edges; the index for element and hidden edges. */
  edgeName: Uint32Array;
  /** Ordinal of the node the edge points to. */
  edgeTo: Uint32Array;
  nodeTypeNames: string[];
  edgeTypeNames: string[];
  stringCount: number;
  /** Of the strings asked for, the index of those the snapshot has. */
  found: Map<string, number>;
  /** Edge names of WeakMap entries: string index -> id of the entry's table. */
  ephemeronTables: Map<number, number>;
  /** Indices of the strings that start with EMBEDDER_PREFIX. */
  embedderNames: number[];
  /** Indices of the short strings of the form "<number> / <label>" (auto-indexed edge names). */
  autoIndexedNames: number[];
}

const CHUNK_SIZE = 1 << 22;
/** Strings longer than this are never compared (all names asked for are shorter). */
const SHORT_STRING = 64;
/** How V8 names each of the two edges of a WeakMap entry (with an auto-index first). */
const EPHEMERON_PREFIX = /^\d+ \/ part of key \(/;
const EPHEMERON_TABLE = /\(table @(\d+)\)$/;
/** How Node names the nodes of its embedder graph (its C++ objects). */
const EMBEDDER_PREFIX = 'Node / ';
/** How V8 names a root or edge that has only a description: "<auto index> / <description>". */
const AUTO_INDEXED = /^\d+ \/ /;

const enum Phase {
  Header,
  Nodes,
  SeekEdges,
  Edges,
  SeekStrings,
  Strings,
  Done,
}

const enum Capture {
  /** Keeping the first SHORT_STRING bytes. */
  Short,
  /** Keeping all of it (the name of a WeakMap entry's edge). */
  Full,
  /** Not keeping anything: too long to be of interest. */
  None,
}

/** Knuth-Morris-Pratt failure table, to find a marker split across chunks. */
function failureTable(pattern: Uint8Array): Int32Array {
  const fail = new Int32Array(pattern.length + 1);
  fail[0] = -1;
  let k = -1;
  for (let i = 0; i < pattern.length; i++) {
    while (k >= 0 && pattern[k] !== pattern[i]) k = fail[k]!;
    k++;
    fail[i + 1] = k;
  }
  return fail;
}

/**
 * Reads a .heapsnapshot file in chunks. Nodes and edges are parsed straight
 * into typed arrays (only the fields the analysis needs). Strings are not
 * kept: only the indices of `wanted` strings (short, ASCII, nothing to escape)
 * and the names of WeakMap entry edges are recorded. V8 writes every
 * non-ASCII character as \uXXXX, so the file is ASCII and a wanted string is
 * written verbatim.
 */
function readSnapshot(file: string, wanted: ReadonlySet<string>): Snapshot {
  const fd = fs.openSync(file, 'r');
  try {
    const chunk = Buffer.allocUnsafe(CHUNK_SIZE);
    let phase = Phase.Header;
    let header = '';

    // Layout, from the header.
    let nodeFieldCount = 0;
    let edgeFieldCount = 0;
    let nType = -1;
    let nName = -1;
    let nId = -1;
    let nEdges = -1;
    let eType = -1;
    let eName = -1;
    let eTo = -1;
    let nodeCount = 0;
    let edgeCount = 0;
    let nodeTypeNames: string[] = [];
    let edgeTypeNames: string[] = [];
    let nodeType = new Uint8Array(0);
    let nodeName = new Uint32Array(0);
    let nodeId = new Uint32Array(0);
    let firstEdge = new Uint32Array(1);
    let edgeType = new Uint8Array(0);
    let edgeName = new Uint32Array(0);
    let edgeTo = new Uint32Array(0);

    // Number lists.
    let value = 0;
    let inNumber = false;
    let field = 0;
    let ord = 0;

    // Markers between sections.
    const edgesMarker = Buffer.from('"edges":[', 'latin1');
    const edgesFail = failureTable(edgesMarker);
    const stringsMarker = Buffer.from('"strings":[', 'latin1');
    const stringsFail = failureTable(stringsMarker);
    let matched = 0;

    // Strings.
    const found = new Map<string, number>();
    const ephemeronTables = new Map<number, number>();
    const embedderNames: number[] = [];
    const autoIndexedNames: number[] = [];
    const embedderPrefix = Buffer.from(EMBEDDER_PREFIX, 'latin1');
    let prefixChecked = false;
    const cap = Buffer.alloc(SHORT_STRING);
    let capLen = 0;
    let capture = Capture.Short;
    let full: string[] = [];
    let inString = false;
    let escaped = false;
    let stringIndex = 0;

    const checkPrefix = (): void => {
      prefixChecked = true;
      if (
        capLen >= embedderPrefix.length &&
        cap.compare(embedderPrefix, 0, embedderPrefix.length, 0, embedderPrefix.length) === 0
      ) {
        embedderNames.push(stringIndex);
      }
    };
    const finishString = (): void => {
      if (!prefixChecked) checkPrefix();
      let text: string | undefined;
      if (capture === Capture.Short) {
        text = cap.toString('latin1', 0, capLen);
        const known = wanted.has(text);
        if (known) found.set(text, stringIndex);
        if (AUTO_INDEXED.test(text)) autoIndexedNames.push(stringIndex);
        if (known || !EPHEMERON_PREFIX.test(text)) text = undefined;
      } else if (capture === Capture.Full) {
        text = full.join('');
      }
      if (text !== undefined) {
        const decoded = JSON.parse(`"${text}"`) as string;
        const table = EPHEMERON_TABLE.exec(decoded);
        if (table) ephemeronTables.set(stringIndex, Number(table[1]));
      }
      stringIndex++;
    };

    for (;;) {
      const len = fs.readSync(fd, chunk, 0, CHUNK_SIZE, null);
      if (len === 0) break;
      let i = 0;
      while (i < len && phase !== Phase.Done) {
        switch (phase) {
          case Phase.Header: {
            const before = header.length;
            header += chunk.toString('latin1', i, len);
            const at = header.indexOf('"nodes":[');
            if (at < 0) {
              if (header.length > 1 << 20) throw snapshotError('no "nodes" section');
              i = len;
              break;
            }
            i += at + 9 - before;
            const head = JSON.parse(`${header.slice(0, at).replace(/,\s*$/, '')}}`) as {
              snapshot: {
                meta: {
                  node_fields: string[];
                  node_types: [string[], ...unknown[]];
                  edge_fields: string[];
                  edge_types: [string[], ...unknown[]];
                };
                node_count: number;
                edge_count: number;
              };
            };
            const meta = head.snapshot.meta;
            nodeFieldCount = meta.node_fields.length;
            edgeFieldCount = meta.edge_fields.length;
            nType = meta.node_fields.indexOf('type');
            nName = meta.node_fields.indexOf('name');
            nId = meta.node_fields.indexOf('id');
            nEdges = meta.node_fields.indexOf('edge_count');
            eType = meta.edge_fields.indexOf('type');
            eName = meta.edge_fields.indexOf('name_or_index');
            eTo = meta.edge_fields.indexOf('to_node');
            if ([nType, nName, nId, nEdges, eType, eName, eTo].includes(-1)) {
              throw snapshotError('unknown node or edge fields');
            }
            nodeTypeNames = meta.node_types[0];
            edgeTypeNames = meta.edge_types[0];
            nodeCount = head.snapshot.node_count;
            edgeCount = head.snapshot.edge_count;
            nodeType = new Uint8Array(nodeCount);
            nodeName = new Uint32Array(nodeCount);
            nodeId = new Uint32Array(nodeCount);
            firstEdge = new Uint32Array(nodeCount + 1);
            edgeType = new Uint8Array(edgeCount);
            edgeName = new Uint32Array(edgeCount);
            edgeTo = new Uint32Array(edgeCount);
            header = '';
            phase = Phase.Nodes;
            break;
          }
          case Phase.Nodes:
          case Phase.Edges: {
            const nodes: boolean = phase === Phase.Nodes;
            const fieldCount = nodes ? nodeFieldCount : edgeFieldCount;
            const limit = nodes ? nodeCount : edgeCount;
            for (; i < len; i++) {
              const c = chunk[i];
              if (c >= 48 && c <= 57) {
                value = value * 10 + (c - 48);
                inNumber = true;
                continue;
              }
              if (inNumber) {
                if (ord >= limit) throw snapshotError('more entries than announced');
                if (nodes) {
                  if (field === nType) nodeType[ord] = value;
                  else if (field === nName) nodeName[ord] = value;
                  else if (field === nId) nodeId[ord] = value;
                  else if (field === nEdges) firstEdge[ord + 1] = value;
                } else if (field === eType) edgeType[ord] = value;
                else if (field === eName) edgeName[ord] = value;
                else if (field === eTo) edgeTo[ord] = value / nodeFieldCount;
                if (++field === fieldCount) {
                  field = 0;
                  ord++;
                }
                value = 0;
                inNumber = false;
              }
              if (c === 93 /* ] */) {
                if (ord !== limit || field !== 0) throw snapshotError('fewer entries than announced');
                ord = 0;
                matched = 0;
                phase = nodes ? Phase.SeekEdges : Phase.SeekStrings;
                i++;
                break;
              }
            }
            break;
          }
          case Phase.SeekEdges:
          case Phase.SeekStrings: {
            const marker = phase === Phase.SeekEdges ? edgesMarker : stringsMarker;
            const fail = phase === Phase.SeekEdges ? edgesFail : stringsFail;
            for (; i < len; i++) {
              const c = chunk[i];
              while (matched >= 0 && marker[matched] !== c) matched = fail[matched]!;
              matched++;
              if (matched === marker.length) {
                phase = phase === Phase.SeekEdges ? Phase.Edges : Phase.Strings;
                i++;
                break;
              }
            }
            break;
          }
          case Phase.Strings: {
            for (; i < len; i++) {
              const c = chunk[i];
              if (!inString) {
                if (c === 34 /* " */) {
                  inString = true;
                  capLen = 0;
                  capture = Capture.Short;
                  prefixChecked = false;
                } else if (c === 93 /* ] */) {
                  phase = Phase.Done;
                  break;
                }
                continue;
              }
              if (escaped) {
                escaped = false;
              } else if (c === 92 /* \ */) {
                escaped = true;
              } else if (c === 34 /* " */) {
                inString = false;
                finishString();
                continue;
              }
              if (capture === Capture.Short) {
                if (capLen < SHORT_STRING) {
                  cap[capLen++] = c;
                  continue;
                }
                checkPrefix();
                if (EPHEMERON_PREFIX.test(cap.toString('latin1', 0, capLen))) {
                  capture = Capture.Full;
                  full = [cap.toString('latin1', 0, capLen)];
                } else {
                  capture = Capture.None;
                }
              }
              if (capture === Capture.Full) full.push(String.fromCharCode(c));
            }
            break;
          }
          default:
            i = len;
        }
      }
      if (phase === Phase.Done) break;
    }
    if (phase !== Phase.Done) throw snapshotError('truncated file');
    // Edge counts to edge ranges.
    for (let n = 0; n < nodeCount; n++) firstEdge[n + 1] += firstEdge[n];
    if (firstEdge[nodeCount] !== edgeCount) throw snapshotError('edge counts do not add up');
    return {
      nodeCount,
      nodeType,
      nodeName,
      nodeId,
      firstEdge,
      edgeType,
      edgeName,
      edgeTo,
      nodeTypeNames,
      edgeTypeNames,
      stringCount: stringIndex,
      found,
      ephemeronTables,
      embedderNames,
      autoIndexedNames,
    };
  } finally {
    fs.closeSync(fd);
  }
}

function snapshotError(what: string): Error {
  return new Error(`addcleanup: could not read the heap snapshot (${what})`);
}

// ---------------------------------------------------------------------------
// Analysis

// Per-node flags.
const WALL = 1; // never entered: scaffolding, the package's tables, synthetic roots
const PTR = 2; // a watched object
const SOURCE = 4; // some registration's cleanup or arg
const LEAF = 8; // cannot refer to an object: searched but not expanded
const PERSISTENT = 16; // kept alive by the program's persistent state
const FORWARD = 32; // reached from a cleanup or arg (the set F)
const EMBEDDER = 64; // a node of Node's embedder graph: neither a root nor expanded

/** Node types whose nodes can only point at strings. */
const LEAF_TYPES = ['string', 'concatenated string', 'sliced string', 'number', 'symbol', 'bigint'];
/** Edge types that are strong references. */
const STRONG_EDGES = ['context', 'element', 'property', 'internal', 'hidden'];
/**
 * GC roots that are the stack and other transient C++ state, not persistent
 * state: JavaScript frames, C++ handle scopes (including the handles of
 * background compile jobs), objects being moved by the compiler or
 * deoptimizer, the identity maps of the job TurboFan is compiling (which hold
 * the closure being optimized, hence its scope: its own root on Node 26, part
 * of REGISTERED_ROOTS before), cppgc objects on the native stack.
 */
const STACK_ROOTS = [
  '(Stack roots)',
  '(Handle scope)',
  '(Relocatable)',
  '(Identity map)',
  'C++ native stack roots',
];
/**
 * The GC root under which V8 lists the strong roots that C++ code registers
 * for a while (TurboFan's identity maps of the job being compiled, vectors of
 * handles): those entries are auto-indexed ("12 / IdentityMapBase"). Node 20
 * also gives this name to the table of V8's permanent roots, whose entries are
 * named after the root ("array_length_accessor"): those are kept.
 */
const REGISTERED_ROOTS = '(Strong roots)';
const GC_ROOTS = '(GC roots)';

/** Limit of the bit-set table, in 32-bit words (32 MiB). */
const MASK_WORDS = 1 << 23;

function isObject(value: unknown): value is object {
  return (typeof value === 'object' && value !== null) || typeof value === 'function';
}

function analyse(input: CheckInput): Array<{ index: number; reason: LeakReason }> {
  const { ptrs, cleanups, args, exclude } = input;
  const count = ptrs.length;
  if (cleanups.length !== count || args.length !== count) {
    throw new RangeError('addcleanup: ptrs, cleanups and args must have the same length');
  }
  if (count === 0) return [];

  // Marker arrays, held during the snapshot by an object whose property names
  // are unique to this call, so that the snapshot's property edges with those
  // names lead to them. Array i holds, at element index k, the object whose
  // node the snapshot's element edge k points at. Primitives are replaced by
  // 0 (a Smi: no node, no edge): they can neither hold nor be held.
  // (Filled by push: a large array made with new Array(n) would get slow,
  // dictionary elements.)
  const ptrObjects: unknown[] = [];
  const sourceObjects: unknown[] = [];
  for (let i = 0; i < count; i++) {
    const ptr = ptrs[i];
    const cleanup = cleanups[i];
    const arg = args[i];
    ptrObjects.push(isObject(ptr) ? ptr : 0);
    sourceObjects.push(isObject(cleanup) ? cleanup : 0, isObject(arg) ? arg : 0);
  }
  const wallObjects: unknown[] = [input, ptrs, cleanups, args, exclude];
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
  const scaffold: Record<string, unknown[]> = {
    [keys.ptrs]: ptrObjects,
    [keys.sources]: sourceObjects,
    [keys.walls]: wallObjects,
    [keys.probe]: probeObjects,
  };

  const wanted = new Set<string>([...Object.values(keys), GC_ROOTS, REGISTERED_ROOTS, ...STACK_ROOTS, 'map']);
  // The pid in the name tells this process's folders from others' (tests
  // check that none is left behind while other processes run checks too).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `addcleanup-check-${process.pid}-`));
  let snapshot: Snapshot;
  try {
    const file = path.join(dir, 'check.heapsnapshot');
    v8.writeHeapSnapshot(file);
    // A use of the scaffold after the snapshot, so that it is certainly live
    // while the snapshot is taken.
    if (scaffold[keys.ptrs] !== ptrObjects) throw new Error('unreachable');
    snapshot = readSnapshot(file, wanted);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return search(snapshot, keys, ptrObjects, sourceObjects, wallObjects.length);
}

function search(
  g: Snapshot,
  keys: { ptrs: string; sources: string; walls: string; probe: string },
  ptrObjects: readonly unknown[],
  sourceObjects: readonly unknown[],
  wallCount: number,
): Array<{ index: number; reason: LeakReason }> {
  const count = ptrObjects.length;
  const { nodeCount, firstEdge, edgeTo, edgeName, edgeType } = g;
  const propertyType = g.edgeTypeNames.indexOf('property');
  const elementType = g.edgeTypeNames.indexOf('element');
  const internalType = g.edgeTypeNames.indexOf('internal');

  // 1. The scaffold: the object with the four unique property names.
  const keyList = [keys.ptrs, keys.sources, keys.walls, keys.probe];
  const keyOf = new Int8Array(g.stringCount).fill(-1);
  keyList.forEach((key, k) => {
    const index = g.found.get(key);
    if (index === undefined) throw snapshotError('check markers not found');
    keyOf[index] = k;
  });
  const arrays = [-1, -1, -1, -1];
  let scaffoldNode = -1;
  for (let u = 0; u < nodeCount; u++) {
    for (let e = firstEdge[u], end = firstEdge[u + 1]; e < end; e++) {
      if (edgeType[e] !== propertyType) continue;
      const k = keyOf[edgeName[e]];
      if (k < 0) continue;
      if (arrays[k] !== -1 || (scaffoldNode !== -1 && scaffoldNode !== u)) {
        throw snapshotError('check markers found twice');
      }
      arrays[k] = edgeTo[e]!;
      scaffoldNode = u;
    }
  }
  if (arrays.includes(-1)) throw snapshotError('check markers not found');
  const elementsOf = (array: number, length: number): Int32Array => {
    const out = new Int32Array(length).fill(-1);
    for (let e = firstEdge[array], end = firstEdge[array + 1]; e < end; e++) {
      if (edgeType[e] === elementType && edgeName[e] < length) out[edgeName[e]] = edgeTo[e]!;
    }
    return out;
  };
  const ptrNode = elementsOf(arrays[0], count);
  const sourceNode = elementsOf(arrays[1], 2 * count);
  const wallNode = elementsOf(arrays[2], wallCount);
  const globalProxy = elementsOf(arrays[3], 1)[0];
  // Every object handed over must be a node of the snapshot.
  const missing =
    globalProxy < 0 ||
    wallNode.includes(-1) ||
    ptrObjects.some((o, i) => o !== 0 && ptrNode[i] < 0) ||
    sourceObjects.some((o, i) => o !== 0 && sourceNode[i] < 0);
  if (missing) throw snapshotError('an object of the check not found');

  // 2. Flags.
  const flags = new Uint8Array(nodeCount);
  const leafType = new Uint8Array(g.nodeTypeNames.length);
  for (const name of LEAF_TYPES) {
    const t = g.nodeTypeNames.indexOf(name);
    if (t >= 0) leafType[t] = LEAF;
  }
  const syntheticType = g.nodeTypeNames.indexOf('synthetic');
  for (let u = 0; u < nodeCount; u++) {
    const t = g.nodeType[u];
    flags[u] = t === syntheticType ? WALL : leafType[t];
  }
  flags[scaffoldNode] |= WALL;
  for (const a of arrays) flags[a] |= WALL;
  for (const w of wallNode) if (w >= 0) flags[w] |= WALL;
  for (const p of ptrNode) if (p >= 0) flags[p] |= PTR;
  for (const s of sourceNode) if (s >= 0) flags[s] |= SOURCE;

  // Strong edges, WeakMap table -> value edges removed. From here on,
  // edgeType holds 1 for an edge to follow and 0 otherwise.
  const strongType = new Uint8Array(g.edgeTypeNames.length);
  for (const name of STRONG_EDGES) {
    const t = g.edgeTypeNames.indexOf(name);
    if (t >= 0) strongType[t] = 1;
  }
  const ephemeronName = new Uint8Array(g.stringCount);
  for (const index of g.ephemeronTables.keys()) ephemeronName[index] = 1;
  const embedderName = new Uint8Array(g.stringCount);
  for (const index of g.embedderNames) embedderName[index] = 1;
  const mapName = g.found.get('map') ?? -1;
  for (let u = 0; u < nodeCount; u++) {
    // A node named like Node's C++ objects that has no map is one of them,
    // not a V8 object that Node merged its name into (a wrapper).
    let embedder = embedderName[g.nodeName[u]] === 1;
    for (let e = firstEdge[u], end = firstEdge[u + 1]; e < end && embedder; e++) {
      if (edgeType[e] === internalType && edgeName[e] === mapName) embedder = false;
    }
    if (embedder) flags[u] |= EMBEDDER;
    for (let e = firstEdge[u], end = firstEdge[u + 1]; e < end; e++) {
      const t = edgeType[e];
      let follow = strongType[t];
      if (follow && t === internalType && ephemeronName[edgeName[e]]) {
        if (g.ephemeronTables.get(edgeName[e]) === g.nodeId[u]) follow = 0;
      }
      edgeType[e] = follow;
    }
  }

  // 3. The persistent set: breadth-first from the GC roots that are not
  // transient, never expanding walls, embedder nodes, ptrs, sources or
  // leaves (synthetic roots are walls for the search, but expanded here).
  const queue = new Int32Array(nodeCount);
  let tail = 0;
  const rootName = (u: number): string | undefined => {
    for (const [name, index] of g.found) if (g.nodeName[u] === index) return name;
    return undefined;
  };
  let gcRoots = -1;
  let stackRootsSeen = false;
  const visitRoot = (v: number): void => {
    const name = rootName(v);
    if (name !== undefined && STACK_ROOTS.includes(name)) {
      stackRootsSeen = true;
      return;
    }
    if (flags[v] & EMBEDDER) return;
    if (!(flags[v] & PERSISTENT)) {
      flags[v] |= PERSISTENT;
      queue[tail++] = v;
    }
  };
  for (let e = firstEdge[0], end = firstEdge[1]; e < end; e++) {
    if (!edgeType[e]) continue;
    const v = edgeTo[e];
    if (rootName(v) === GC_ROOTS) gcRoots = v;
    else visitRoot(v);
  }
  if (gcRoots < 0) throw snapshotError('no GC roots');
  const autoIndexed = new Uint8Array(g.stringCount);
  for (const index of g.autoIndexedNames) autoIndexed[index] = 1;
  for (let e = firstEdge[gcRoots], end = firstEdge[gcRoots + 1]; e < end; e++) {
    if (!edgeType[e]) continue;
    const v = edgeTo[e];
    if (rootName(v) !== REGISTERED_ROOTS) {
      visitRoot(v);
      continue;
    }
    // The permanent entries of this root, not the temporary registrations.
    for (let k = firstEdge[v], kEnd = firstEdge[v + 1]; k < kEnd; k++) {
      if (edgeType[k] && !autoIndexed[edgeName[k]]) visitRoot(edgeTo[k]);
    }
  }
  if (!stackRootsSeen) throw snapshotError('no stack roots');
  for (let head = 0; head < tail; head++) {
    const u = queue[head];
    const f = flags[u];
    if (f & (PTR | SOURCE | LEAF | EMBEDDER) || (f & WALL && g.nodeType[u] !== syntheticType)) continue;
    for (let e = firstEdge[u], end = firstEdge[u + 1]; e < end; e++) {
      if (!edgeType[e]) continue;
      const v = edgeTo[e];
      if (!(flags[v] & PERSISTENT)) {
        flags[v] |= PERSISTENT;
        queue[tail++] = v;
      }
    }
  }
  if (!(flags[globalProxy] & PERSISTENT)) {
    throw snapshotError('the global object is not retained by the persistent roots');
  }
  // A node is cut when it is a wall, or persistent and neither a watched
  // object nor a cleanup or arg.
  const cut = (u: number): boolean => {
    const f = flags[u];
    return (f & (WALL | EMBEDDER)) !== 0 || ((f & PERSISTENT) !== 0 && (f & (PTR | SOURCE)) === 0);
  };

  // 4. F: forward from every cleanup and arg.
  const fIndex = new Int32Array(nodeCount).fill(-1);
  tail = 0;
  for (const s of sourceNode) {
    if (s >= 0 && !(flags[s] & (WALL | FORWARD))) {
      flags[s] |= FORWARD;
      fIndex[s] = tail;
      queue[tail++] = s;
    }
  }
  for (let head = 0; head < tail; head++) {
    const u = queue[head];
    if (flags[u] & LEAF) continue;
    for (let e = firstEdge[u], end = firstEdge[u + 1]; e < end; e++) {
      if (!edgeType[e]) continue;
      const v = edgeTo[e];
      if (flags[v] & FORWARD || cut(v)) continue;
      flags[v] |= FORWARD;
      fIndex[v] = tail;
      queue[tail++] = v;
    }
  }
  const fCount = tail;
  const fNodes = queue.slice(0, fCount);

  // 5. Backward from the ptrs in F, inside F.
  const inStart = new Uint32Array(fCount + 1);
  for (let f = 0; f < fCount; f++) {
    const u = fNodes[f];
    if (flags[u] & LEAF) continue;
    for (let e = firstEdge[u], end = firstEdge[u + 1]; e < end; e++) {
      if (edgeType[e] && fIndex[edgeTo[e]] >= 0) inStart[fIndex[edgeTo[e]] + 1]++;
    }
  }
  for (let f = 0; f < fCount; f++) inStart[f + 1] += inStart[f];
  const inFrom = new Int32Array(inStart[fCount]);
  const inFill = inStart.slice(0, fCount);
  for (let f = 0; f < fCount; f++) {
    const u = fNodes[f];
    if (flags[u] & LEAF) continue;
    for (let e = firstEdge[u], end = firstEdge[u + 1]; e < end; e++) {
      if (!edgeType[e]) continue;
      const fv = fIndex[edgeTo[e]];
      if (fv >= 0) inFrom[inFill[fv]++] = f;
    }
  }
  const relIndex = new Int32Array(fCount).fill(-1);
  const relNodes = new Int32Array(fCount);
  let relCount = 0;
  for (let i = 0; i < count; i++) {
    const p = ptrNode[i];
    if (p < 0) continue;
    const fp = fIndex[p];
    if (fp >= 0 && relIndex[fp] < 0) {
      relIndex[fp] = relCount;
      relNodes[relCount++] = fp;
    }
  }
  const targetCount = relCount;
  if (targetCount === 0) return [];
  for (let head = 0; head < relCount; head++) {
    const f = relNodes[head];
    for (let k = inStart[f], end = inStart[f + 1]; k < end; k++) {
      const from = inFrom[k];
      if (relIndex[from] < 0) {
        relIndex[from] = relCount;
        relNodes[relCount++] = from;
      }
    }
  }
  // relNodes[0 .. targetCount) are the ptrs: their relative index is their bit.

  // 6. The subgraph of F that can reach a ptr, and its strongly connected
  // components (Tarjan, iterative), numbered sinks first.
  const outStart = new Uint32Array(relCount + 1);
  const outList: number[] = [];
  for (let r = 0; r < relCount; r++) {
    const u = fNodes[relNodes[r]];
    if (!(flags[u] & LEAF)) {
      for (let e = firstEdge[u], end = firstEdge[u + 1]; e < end; e++) {
        if (!edgeType[e]) continue;
        const fv = fIndex[edgeTo[e]];
        if (fv >= 0 && relIndex[fv] >= 0) outList.push(relIndex[fv]);
      }
    }
    outStart[r + 1] = outList.length;
  }
  const outTo = Int32Array.from(outList);
  const order = new Int32Array(relCount).fill(-1);
  const low = new Int32Array(relCount);
  const comp = new Int32Array(relCount).fill(-1);
  const stack = new Int32Array(relCount);
  const frames = new Int32Array(relCount);
  const cursor = new Uint32Array(relCount);
  let sp = 0;
  let counter = 0;
  let compCount = 0;
  for (let root = 0; root < relCount; root++) {
    if (order[root] !== -1) continue;
    let depth = 0;
    frames[depth++] = root;
    order[root] = low[root] = counter++;
    cursor[root] = outStart[root]!;
    stack[sp++] = root;
    while (depth > 0) {
      const v = frames[depth - 1];
      if (cursor[v] < outStart[v + 1]) {
        const w = outTo[cursor[v]++];
        if (order[w] === -1) {
          order[w] = low[w] = counter++;
          cursor[w] = outStart[w]!;
          stack[sp++] = w;
          frames[depth++] = w;
        } else if (comp[w] === -1 && order[w] < low[v]) {
          low[v] = order[w]!; // w is on the stack
        }
        continue;
      }
      if (low[v] === order[v]) {
        let w: number;
        do {
          w = stack[--sp]!;
          comp[w] = compCount;
        } while (w !== v);
        compCount++;
      }
      depth--;
      if (depth > 0) {
        const parent = frames[depth - 1];
        if (low[v] < low[parent]) low[parent] = low[v]!;
      }
    }
  }
  // Members of each component, components in Tarjan order.
  const memberStart = new Uint32Array(compCount + 1);
  for (let r = 0; r < relCount; r++) memberStart[comp[r] + 1]++;
  for (let c = 0; c < compCount; c++) memberStart[c + 1] += memberStart[c];
  const members = new Int32Array(relCount);
  const memberFill = memberStart.slice(0, compCount);
  for (let r = 0; r < relCount; r++) members[memberFill[comp[r]]++] = r;

  // 7. Queries: (source component, ptr bit, registration, reason).
  const relOf = (node: number): number => {
    if (node < 0) return -1;
    const f = fIndex[node];
    return f < 0 ? -1 : relIndex[f];
  };
  const qComp: number[] = [];
  const qBit: number[] = [];
  const qReg: number[] = [];
  const qArg: number[] = [];
  for (let i = 0; i < count; i++) {
    const bit = relOf(ptrNode[i]);
    if (bit < 0 || bit >= targetCount) continue;
    for (let which = 0; which < 2; which++) {
      const source = relOf(sourceNode[2 * i + which]);
      if (source < 0) continue;
      qComp.push(comp[source]);
      qBit.push(bit);
      qReg.push(i);
      qArg.push(which);
    }
  }

  // 8. Bit sets, a group of words at a time: mask[c] = the ptrs component c
  // reaches. Components come sinks first, so each one's successors are final
  // when it is computed.
  const hit = new Uint8Array(2 * count);
  const totalWords = Math.ceil(targetCount / 32);
  const words = Math.max(1, Math.min(totalWords, Math.floor(MASK_WORDS / compCount)));
  const mask = new Int32Array(compCount * words);
  for (let first = 0; first < totalWords; first += words) {
    mask.fill(0);
    const lo = first * 32;
    const hi = Math.min(targetCount, (first + words) * 32);
    for (let b = lo; b < hi; b++) {
      mask[comp[b] * words + ((b >> 5) - first)] |= 1 << (b & 31);
    }
    for (let c = 0; c < compCount; c++) {
      const row = c * words;
      for (let m = memberStart[c], mEnd = memberStart[c + 1]; m < mEnd; m++) {
        const r = members[m];
        for (let k = outStart[r], kEnd = outStart[r + 1]; k < kEnd; k++) {
          const d = comp[outTo[k]];
          if (d === c) continue;
          const from = d * words;
          for (let w = 0; w < words; w++) mask[row + w] |= mask[from + w];
        }
      }
    }
    for (let q = 0; q < qBit.length; q++) {
      const b = qBit[q];
      if (b < lo || b >= hi) continue;
      if (mask[qComp[q] * words + ((b >> 5) - first)] & (1 << (b & 31))) {
        hit[2 * qReg[q] + qArg[q]] = 1;
      }
    }
  }

  const result: Array<{ index: number; reason: LeakReason }> = [];
  for (let i = 0; i < count; i++) {
    if (hit[2 * i + 1]) result.push({ index: i, reason: 'arg' });
    else if (hit[2 * i]) result.push({ index: i, reason: 'cleanup' });
  }
  return result;
}

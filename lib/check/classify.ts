// What the search follows and what it cuts: the snapshot's nodes and edges
// are classified here, before any search (search.ts) runs.
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
//    the ptrs (or the tokens of their FinalizationRegistry cells), cleanups
//    and args while the snapshot is taken. They hold every ptr, cleanup and
//    arg, so entering them would connect every registration to every other;
//    they are the registrations themselves, not something a cleanup or arg
//    refers to. (A registry's cells need no cut: they hold their ptrs
//    weakly, see cells.ts.)
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
import { cellTargets } from './cells';
import { snapshotError, type Snapshot } from './snapshot';

// Per-node flags.
export const WALL = 1; // never entered: scaffolding, the package's tables, synthetic roots
export const PTR = 2; // a watched object
export const SOURCE = 4; // some registration's cleanup or arg
export const LEAF = 8; // cannot refer to an object: searched but not expanded
export const PERSISTENT = 16; // kept alive by the program's persistent state
export const FORWARD = 32; // reached from a cleanup or arg (the set F)
export const EMBEDDER = 64; // a node of Node's embedder graph: neither a root nor expanded

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
export const STACK_ROOTS = [
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
export const REGISTERED_ROOTS = '(Strong roots)';
export const GC_ROOTS = '(GC roots)';

/** The scaffold's unique property names, and what its arrays hold (see index.ts). */
export interface Scaffold {
  keys: { ptrs: string; sources: string; walls: string; probe: string };
  /** Whether ptrObjects holds tokens, whose cells' targets are the ptrs (see cells.ts). */
  byCells: boolean;
  /** Registration i's ptr (or its cell's token), or 0 for a primitive. */
  ptrObjects: readonly unknown[];
  /** Registration i's cleanup at 2i and arg at 2i + 1, or 0 for a primitive. */
  sourceObjects: readonly unknown[];
  wallCount: number;
}

/**
 * The scaffold's nodes in the snapshot, and the nodes of what it holds (-1:
 * none). With cells, ptrNode holds the targets of the tokens' live cells
 * (-1: no live cell).
 */
export interface Located {
  scaffoldNode: number;
  /** The nodes of the ptrs, sources, walls and probe arrays. */
  arrays: number[];
  ptrNode: Int32Array;
  sourceNode: Int32Array;
  wallNode: Int32Array;
  globalProxy: number;
}

/** Finds the scaffold: the one object with the four unique property names. */
export function locate(g: Snapshot, scaffold: Scaffold): Located {
  const { keys, ptrObjects, sourceObjects } = scaffold;
  const { nodeCount, firstEdge, edgeTo, edgeName, edgeType } = g;
  const propertyType = g.edgeTypeNames.indexOf('property');
  const keyOf = new Int8Array(g.stringCount).fill(-1);
  [keys.ptrs, keys.sources, keys.walls, keys.probe].forEach((key, k) => {
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
  const count = ptrObjects.length;
  const given = elementsOf(g, arrays[0], count);
  const ptrNode = scaffold.byCells ? cellTargets(g, given) : given;
  const sourceNode = elementsOf(g, arrays[1], 2 * count);
  const wallNode = elementsOf(g, arrays[2], scaffold.wallCount);
  const globalProxy = elementsOf(g, arrays[3], 1)[0];
  // Every object handed over must be a node of the snapshot.
  const missing =
    globalProxy < 0 ||
    wallNode.includes(-1) ||
    ptrObjects.some((o, i) => o !== 0 && given[i] < 0) ||
    sourceObjects.some((o, i) => o !== 0 && sourceNode[i] < 0);
  if (missing) throw snapshotError('an object of the check not found');
  return { scaffoldNode, arrays, ptrNode, sourceNode, wallNode, globalProxy };
}

/** The nodes at element indices 0 .. length - 1 of an array's node (-1: no such element). */
function elementsOf(g: Snapshot, array: number, length: number): Int32Array {
  const { firstEdge, edgeType, edgeName, edgeTo } = g;
  const elementType = g.edgeTypeNames.indexOf('element');
  const out = new Int32Array(length).fill(-1);
  for (let e = firstEdge[array], end = firstEdge[array + 1]; e < end; e++) {
    if (edgeType[e] === elementType && edgeName[e] < length) out[edgeName[e]] = edgeTo[e]!;
  }
  return out;
}

/** Each node's flags: WALL, PTR, SOURCE and LEAF; EMBEDDER and PERSISTENT come later. */
export function nodeFlags(g: Snapshot, at: Located): Uint8Array {
  const flags = new Uint8Array(g.nodeCount);
  const leafType = new Uint8Array(g.nodeTypeNames.length);
  for (const name of LEAF_TYPES) {
    const t = g.nodeTypeNames.indexOf(name);
    if (t >= 0) leafType[t] = LEAF;
  }
  const syntheticType = g.nodeTypeNames.indexOf('synthetic');
  for (let u = 0; u < g.nodeCount; u++) {
    const t = g.nodeType[u];
    flags[u] = t === syntheticType ? WALL : leafType[t];
  }
  flags[at.scaffoldNode] |= WALL;
  for (const a of at.arrays) flags[a] |= WALL;
  for (const w of at.wallNode) if (w >= 0) flags[w] |= WALL;
  for (const p of at.ptrNode) if (p >= 0) flags[p] |= PTR;
  for (const s of at.sourceNode) if (s >= 0) flags[s] |= SOURCE;
  return flags;
}

/**
 * Marks Node's embedder nodes, and rewrites g.edgeType in place: from here
 * on it holds 1 for an edge to follow (strong, and not a WeakMap table ->
 * value edge) and 0 otherwise.
 */
export function keepStrongEdges(g: Snapshot, flags: Uint8Array): void {
  const { nodeCount, firstEdge, edgeName, edgeType } = g;
  const internalType = g.edgeTypeNames.indexOf('internal');
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
}

/**
 * The persistent set: breadth-first from the GC roots that are not
 * transient, never expanding walls, embedder nodes, ptrs, sources or
 * leaves (synthetic roots are walls for the search, but expanded here).
 */
export function markPersistent(g: Snapshot, flags: Uint8Array, globalProxy: number): void {
  const { firstEdge, edgeTo, edgeType } = g;
  const syntheticType = g.nodeTypeNames.indexOf('synthetic');
  const queue = new Int32Array(g.nodeCount);
  let tail = persistentRoots(g, flags, queue);
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
}

/** Marks the persistent roots and puts them in queue; returns how many. */
function persistentRoots(g: Snapshot, flags: Uint8Array, queue: Int32Array): number {
  const { firstEdge, edgeTo, edgeType, edgeName } = g;
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
  return tail;
}

/**
 * Whether the search must not enter node u: a wall or an embedder node, or
 * persistent and neither a watched object nor a cleanup or arg.
 */
export function isCut(flags: Uint8Array, u: number): boolean {
  const f = flags[u];
  return (f & (WALL | EMBEDDER)) !== 0 || ((f & PERSISTENT) !== 0 && (f & (PTR | SOURCE)) === 0);
}

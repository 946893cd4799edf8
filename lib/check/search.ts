// The search: from every registration's cleanup and arg to its ptr, along the
// edges and through the nodes that classify.ts leaves open.
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
import {
  FORWARD,
  LEAF,
  WALL,
  isCut,
  keepStrongEdges,
  locate,
  markPersistent,
  nodeFlags,
  type Scaffold,
} from './classify';
import type { Snapshot } from './snapshot';

export type LeakReason = 'cleanup' | 'arg';

/** A registration whose ptr its cleanup or arg keeps alive. */
export interface Leak {
  index: number;
  reason: LeakReason;
}

/** Limit of the bit-set table, in 32-bit words (32 MiB). */
const MASK_WORDS = 1 << 23;

/** F: the nodes reached from the cleanups and args, in the order reached. */
interface Forward {
  /** Node -> its index in F, or -1. */
  fIndex: Int32Array;
  /** Index in F -> node. */
  fNodes: Int32Array;
}

/**
 * The part of F that can reach a ptr. Each such node has a relative index;
 * relNodes[0 .. targetCount) are the ptrs: their relative index is their bit.
 */
interface Relevant {
  /** Index in F -> relative index, or -1. */
  relIndex: Int32Array;
  /** Relative index -> index in F. */
  relNodes: Int32Array;
  relCount: number;
  targetCount: number;
}

/**
 * The relevant subgraph, its edges as relative indices, and its strongly
 * connected components numbered sinks first.
 */
interface Components {
  outStart: Uint32Array;
  outTo: Int32Array;
  comp: Int32Array;
  compCount: number;
  /** The members of component c are members[memberStart[c] .. memberStart[c + 1]). */
  memberStart: Uint32Array;
  members: Int32Array;
}

/** Queries: does component comp[q] reach ptr bit bit[q]? If so, registration reg[q] leaks by its arg (arg[q] = 1) or cleanup. */
interface Queries {
  comp: number[];
  bit: number[];
  reg: number[];
  arg: number[];
}

/**
 * Returns, for each registration whose ptr its cleanup or arg reaches (see
 * classify.ts for what "reaches" means), the reason: 'arg' if ptr is
 * reachable from arg, else 'cleanup'. Sorted by index. g.edgeType is
 * overwritten.
 */
export function search(g: Snapshot, scaffold: Scaffold): Leak[] {
  const count = scaffold.ptrObjects.length;
  const at = locate(g, scaffold);
  const flags = nodeFlags(g, at);
  keepStrongEdges(g, flags);
  markPersistent(g, flags, at.globalProxy);
  const f = forward(g, flags, at.sourceNode);
  const rel = relevant(g, flags, f, at.ptrNode);
  if (rel.targetCount === 0) return [];
  const components = condense(g, flags, f, rel);
  const queries = queriesOf(at, f, rel, components.comp);
  const hit = reach(components, rel.targetCount, queries, count);
  const result: Leak[] = [];
  for (let i = 0; i < count; i++) {
    if (hit[2 * i + 1]) result.push({ index: i, reason: 'arg' });
    else if (hit[2 * i]) result.push({ index: i, reason: 'cleanup' });
  }
  return result;
}

/** F: forward from every cleanup and arg, breadth-first, never entering a cut node. */
function forward(g: Snapshot, flags: Uint8Array, sourceNode: Int32Array): Forward {
  const { nodeCount, firstEdge, edgeTo, edgeType } = g;
  const fIndex = new Int32Array(nodeCount).fill(-1);
  const queue = new Int32Array(nodeCount);
  let tail = 0;
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
      if (flags[v] & FORWARD || isCut(flags, v)) continue;
      flags[v] |= FORWARD;
      fIndex[v] = tail;
      queue[tail++] = v;
    }
  }
  return { fIndex, fNodes: queue.slice(0, tail) };
}

/** The edges of F reversed: the predecessors of f are inFrom[inStart[f] .. inStart[f + 1]). */
function reverseEdges(g: Snapshot, flags: Uint8Array, { fIndex, fNodes }: Forward) {
  const { firstEdge, edgeTo, edgeType } = g;
  const fCount = fNodes.length;
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
  return { inStart, inFrom };
}

/** Backward from the ptrs in F, inside F: the part of F that can reach a ptr. */
function relevant(g: Snapshot, flags: Uint8Array, f: Forward, ptrNode: Int32Array): Relevant {
  const fCount = f.fNodes.length;
  const relIndex = new Int32Array(fCount).fill(-1);
  const relNodes = new Int32Array(fCount);
  let relCount = 0;
  for (const p of ptrNode) {
    if (p < 0) continue;
    const fp = f.fIndex[p];
    if (fp >= 0 && relIndex[fp] < 0) {
      relIndex[fp] = relCount;
      relNodes[relCount++] = fp;
    }
  }
  const targetCount = relCount;
  if (targetCount === 0) return { relIndex, relNodes, relCount, targetCount };
  const { inStart, inFrom } = reverseEdges(g, flags, f);
  for (let head = 0; head < relCount; head++) {
    const node = relNodes[head];
    for (let k = inStart[node], end = inStart[node + 1]; k < end; k++) {
      const from = inFrom[k];
      if (relIndex[from] < 0) {
        relIndex[from] = relCount;
        relNodes[relCount++] = from;
      }
    }
  }
  return { relIndex, relNodes, relCount, targetCount };
}

/** The subgraph of F that can reach a ptr, and its strongly connected components. */
function condense(g: Snapshot, flags: Uint8Array, f: Forward, rel: Relevant): Components {
  const { firstEdge, edgeTo, edgeType } = g;
  const { relIndex, relNodes, relCount } = rel;
  const outStart = new Uint32Array(relCount + 1);
  const outList: number[] = [];
  for (let r = 0; r < relCount; r++) {
    const u = f.fNodes[relNodes[r]];
    if (!(flags[u] & LEAF)) {
      for (let e = firstEdge[u], end = firstEdge[u + 1]; e < end; e++) {
        if (!edgeType[e]) continue;
        const fv = f.fIndex[edgeTo[e]];
        if (fv >= 0 && relIndex[fv] >= 0) outList.push(relIndex[fv]);
      }
    }
    outStart[r + 1] = outList.length;
  }
  const outTo = Int32Array.from(outList);
  const { comp, compCount } = tarjan(relCount, outStart, outTo);
  // Members of each component, components in Tarjan order.
  const memberStart = new Uint32Array(compCount + 1);
  for (let r = 0; r < relCount; r++) memberStart[comp[r] + 1]++;
  for (let c = 0; c < compCount; c++) memberStart[c + 1] += memberStart[c];
  const members = new Int32Array(relCount);
  const memberFill = memberStart.slice(0, compCount);
  for (let r = 0; r < relCount; r++) members[memberFill[comp[r]]++] = r;
  return { outStart, outTo, comp, compCount, memberStart, members };
}

/**
 * Strongly connected components (Tarjan, iterative: no recursion, however
 * long the paths), numbered sinks first.
 */
function tarjan(
  n: number,
  outStart: Uint32Array,
  outTo: Int32Array,
): { comp: Int32Array; compCount: number } {
  const order = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const comp = new Int32Array(n).fill(-1);
  const stack = new Int32Array(n);
  const frames = new Int32Array(n);
  const cursor = new Uint32Array(n);
  let sp = 0;
  let counter = 0;
  let compCount = 0;
  for (let root = 0; root < n; root++) {
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
  return { comp, compCount };
}

/** One query per registration whose ptr is relevant, and per cleanup or arg of it that is. */
function queriesOf(
  at: { ptrNode: Int32Array; sourceNode: Int32Array },
  f: Forward,
  rel: Relevant,
  comp: Int32Array,
): Queries {
  const relOf = (node: number): number => {
    if (node < 0) return -1;
    const fi = f.fIndex[node];
    return fi < 0 ? -1 : rel.relIndex[fi];
  };
  const queries: Queries = { comp: [], bit: [], reg: [], arg: [] };
  for (let i = 0; i < at.ptrNode.length; i++) {
    const bit = relOf(at.ptrNode[i]);
    if (bit < 0 || bit >= rel.targetCount) continue;
    for (let which = 0; which < 2; which++) {
      const source = relOf(at.sourceNode[2 * i + which]);
      if (source < 0) continue;
      queries.comp.push(comp[source]);
      queries.bit.push(bit);
      queries.reg.push(i);
      queries.arg.push(which);
    }
  }
  return queries;
}

/**
 * Answers the queries with bit sets, a group of words at a time: mask[c] =
 * the ptrs component c reaches. Components come sinks first, so each one's
 * successors are final when it is computed. Returns hit[2i] (cleanup) and
 * hit[2i + 1] (arg) for each registration i.
 */
function reach(components: Components, targetCount: number, queries: Queries, count: number): Uint8Array {
  const { outStart, outTo, comp, compCount, memberStart, members } = components;
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
    for (let q = 0; q < queries.bit.length; q++) {
      const b = queries.bit[q];
      if (b < lo || b >= hi) continue;
      if (mask[queries.comp[q] * words + ((b >> 5) - first)] & (1 << (b & 31))) {
        hit[2 * queries.reg[q] + queries.arg[q]] = 1;
      }
    }
  }
  return hit;
}

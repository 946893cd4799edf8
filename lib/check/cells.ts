// Finding the watched objects of FinalizationRegistry registrations in the
// snapshot. The JavaScript engine registers each ptr as
// registry.register(ptr, token, token) and keeps no reference to ptr (a
// WeakRef would keep ptr alive until the end of the current job), so it
// cannot hand ptrs to the check; it hands the tokens, and each ptr is the
// target of the one live cell that refers to its token.
//
// WHAT V8 SHOWS OF A CELL (Node 20 and 26, Deno 2: the same shape)
//
// One node named "system / WeakCell" (type "hidden" on Node, "native" on
// Deno) per registration, with a weak edge "target" to ptr, a weak edge
// "unregister_token" to the token, and hidden (strong) edges, named by their
// position, to the held value, the registry and the neighbouring cells of
// the registry's lists. The registry refers to its cells through those lists
// and through its key map (internal edges named by position).
//
// Which cell is a token's: any cell with an edge to the token (as held value
// or as unregister token: the position of the held value's hidden edge is
// not stable, it moves when the cell is cleared) and a "target" edge. A cell
// without a target edge was cleared, its ptr collected (the snapshot's own
// collection may have done it): that registration is not live any more, its
// cleanup is on its way. An unregistered cell is not in the snapshot at all.
//
// WHY THE CELLS CREATE NO FALSE PATH
//
// A cell holds its held value, its registry and other cells strongly, and
// its target weakly: the search never goes from a cell to a ptr. The tokens
// hold nothing. So the registry and its cells lead from a cleanup or arg to
// other cells and tokens, never to a watched object. (And a registry that
// the engine keeps is persistent state anyway: not entered.)
import { snapshotError, type Snapshot } from './snapshot';

/** The name of a FinalizationRegistry cell's node. */
export const WEAK_CELL = 'system / WeakCell';
/** The name of a cell's weak edge to its watched object. */
export const TARGET = 'target';

/**
 * The watched object of each token: tokenNode[i] is the node of token i (or
 * -1); returns, for each i, the node of the target of the live cell that
 * refers to that token, or -1 if it has none.
 */
export function cellTargets(g: Snapshot, tokenNode: Int32Array): Int32Array {
  const ptrNode = new Int32Array(tokenNode.length).fill(-1);
  const cellName = g.found.get(WEAK_CELL);
  const targetName = g.found.get(TARGET);
  if (cellName === undefined || targetName === undefined) return ptrNode;
  const { nodeCount, nodeName, firstEdge, edgeType, edgeName, edgeTo } = g;
  const weakType = g.edgeTypeNames.indexOf('weak');
  // Token node -> its target's node: -2 for a token not yet matched.
  const targetOf = new Int32Array(nodeCount).fill(-1);
  for (const t of tokenNode) if (t >= 0) targetOf[t] = -2;
  for (let u = 0; u < nodeCount; u++) {
    if (nodeName[u] !== cellName) continue;
    const start = firstEdge[u];
    const end = firstEdge[u + 1];
    let target = -1;
    for (let e = start; e < end; e++) {
      if (edgeType[e] === weakType && edgeName[e] === targetName) target = edgeTo[e]!;
    }
    if (target < 0) continue; // cleared: its ptr is dead
    for (let e = start; e < end; e++) {
      const v = edgeTo[e];
      if (targetOf[v] === -1 || targetOf[v] === target) continue;
      if (targetOf[v] !== -2) throw snapshotError('two live cells for one token');
      targetOf[v] = target;
    }
  }
  for (let i = 0; i < tokenNode.length; i++) {
    const t = tokenNode[i];
    if (t >= 0 && targetOf[t] >= 0) ptrNode[i] = targetOf[t]!;
  }
  return ptrNode;
}

// Reading a V8 heap snapshot (the .heapsnapshot JSON text), fed in chunks of
// any size: a snapshot is often larger than the longest string V8 can make,
// so JSON.parse is not an option. Nodes and edges are parsed straight into
// typed arrays (only the fields the analysis needs). Strings are not kept:
// only the indices of `wanted` strings (short, ASCII, nothing to escape) and
// the names of WeakMap entry edges are recorded. V8 writes every non-ASCII
// character as \uXXXX, so the text is ASCII and a wanted string is written
// verbatim. The strings section is scanned by strings.ts.
import { StringScanner } from './strings';

/** The parts of a heap snapshot that the analysis needs, as flat arrays. */
export interface Snapshot {
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
  /** Indices of the strings that start with "Node / " (Node's embedder graph). */
  embedderNames: number[];
  /** Indices of the short strings of the form "<number> / <label>" (auto-indexed edge names). */
  autoIndexedNames: number[];
}

/** How far into the text the nodes must start. */
const MAX_HEADER = 1 << 20;

export function snapshotError(what: string): Error {
  return new Error(`addcleanup: could not read the heap snapshot (${what})`);
}

const enum Phase {
  Header,
  Nodes,
  SeekEdges,
  Edges,
  SeekStrings,
  Strings,
  Done,
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

/** A marker between sections, searched for byte by byte across chunks. */
class Marker {
  private readonly bytes: Buffer;
  private readonly fail: Int32Array;
  private matched = 0;

  constructor(text: string) {
    this.bytes = Buffer.from(text, 'latin1');
    this.fail = failureTable(this.bytes);
  }

  /** Where the marker ends in chunk[i .. len), or -1 (the search goes on in the next chunk). */
  seek(chunk: Uint8Array, i: number, len: number): number {
    const { bytes, fail } = this;
    let matched = this.matched;
    for (; i < len; i++) {
      const c = chunk[i];
      while (matched >= 0 && bytes[matched] !== c) matched = fail[matched]!;
      matched++;
      if (matched === bytes.length) {
        this.matched = 0;
        return i + 1;
      }
    }
    this.matched = matched;
    return -1;
  }
}

/** Where each field the analysis needs is, and how much there is: from the snapshot's header. */
interface Layout {
  nodeFieldCount: number;
  edgeFieldCount: number;
  nType: number;
  nName: number;
  nId: number;
  nEdges: number;
  eType: number;
  eName: number;
  eTo: number;
  nodeCount: number;
  edgeCount: number;
  nodeTypeNames: string[];
  edgeTypeNames: string[];
}

/** Parses the header: the text before `"nodes":[`, with its trailing comma. */
function parseLayout(text: string): Layout {
  const head = JSON.parse(`${text.replace(/,\s*$/, '')}}`) as {
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
  const layout: Layout = {
    nodeFieldCount: meta.node_fields.length,
    edgeFieldCount: meta.edge_fields.length,
    nType: meta.node_fields.indexOf('type'),
    nName: meta.node_fields.indexOf('name'),
    nId: meta.node_fields.indexOf('id'),
    nEdges: meta.node_fields.indexOf('edge_count'),
    eType: meta.edge_fields.indexOf('type'),
    eName: meta.edge_fields.indexOf('name_or_index'),
    eTo: meta.edge_fields.indexOf('to_node'),
    nodeCount: head.snapshot.node_count,
    edgeCount: head.snapshot.edge_count,
    nodeTypeNames: meta.node_types[0],
    edgeTypeNames: meta.edge_types[0],
  };
  const { nType, nName, nId, nEdges, eType, eName, eTo } = layout;
  if ([nType, nName, nId, nEdges, eType, eName, eTo].includes(-1)) {
    throw snapshotError('unknown node or edge fields');
  }
  return layout;
}

/**
 * A heap snapshot parser: write() the text in chunks as they come, then
 * finish(). Sections it does not need (locations, traces, samples) are
 * skipped; everything after the strings is ignored.
 */
export class SnapshotParser {
  private phase = Phase.Header;
  private header = '';
  private layout: Layout | undefined;
  private readonly strings: StringScanner;
  private readonly edgesMarker = new Marker('"edges":[');
  private readonly stringsMarker = new Marker('"strings":[');

  private nodeType = new Uint8Array(0);
  private nodeName = new Uint32Array(0);
  private nodeId = new Uint32Array(0);
  private firstEdge = new Uint32Array(1);
  private edgeType = new Uint8Array(0);
  private edgeName = new Uint32Array(0);
  private edgeTo = new Uint32Array(0);

  // The number being read and where it goes, carried from chunk to chunk.
  private value = 0;
  private inNumber = false;
  private field = 0;
  private ord = 0;

  constructor(wanted: ReadonlySet<string>) {
    this.strings = new StringScanner(wanted);
  }

  /** Whether everything needed has been read (what follows may be dropped unread). */
  get done(): boolean {
    return this.phase === Phase.Done;
  }

  write(chunk: Buffer): void {
    const len = chunk.length;
    let i = 0;
    while (i < len && this.phase !== Phase.Done) {
      switch (this.phase) {
        case Phase.Header:
          i = this.readHeader(chunk, i);
          break;
        case Phase.Nodes:
        case Phase.Edges:
          i = this.readNumbers(chunk, i);
          break;
        case Phase.SeekEdges:
        case Phase.SeekStrings:
          i = this.seekSection(chunk, i);
          break;
        case Phase.Strings: {
          const end = this.strings.scan(chunk, i, len);
          if (end < 0) return;
          this.phase = Phase.Done;
          return;
        }
      }
    }
  }

  finish(): Snapshot {
    if (this.phase !== Phase.Done) throw snapshotError('truncated file');
    const layout = this.layout!;
    const { nodeCount, edgeCount } = layout;
    // Edge counts to edge ranges.
    const firstEdge = this.firstEdge;
    for (let n = 0; n < nodeCount; n++) firstEdge[n + 1] += firstEdge[n];
    if (firstEdge[nodeCount] !== edgeCount) throw snapshotError('edge counts do not add up');
    const { found, ephemeronTables, embedderNames, autoIndexedNames } = this.strings;
    return {
      nodeCount,
      nodeType: this.nodeType,
      nodeName: this.nodeName,
      nodeId: this.nodeId,
      firstEdge,
      edgeType: this.edgeType,
      edgeName: this.edgeName,
      edgeTo: this.edgeTo,
      nodeTypeNames: layout.nodeTypeNames,
      edgeTypeNames: layout.edgeTypeNames,
      stringCount: this.strings.count,
      found,
      ephemeronTables,
      embedderNames,
      autoIndexedNames,
    };
  }

  private readHeader(chunk: Buffer, i: number): number {
    const before = this.header.length;
    this.header += chunk.toString('latin1', i);
    const at = this.header.indexOf('"nodes":[');
    if (at < 0) {
      if (this.header.length > MAX_HEADER) throw snapshotError('no "nodes" section');
      return chunk.length;
    }
    const layout = parseLayout(this.header.slice(0, at));
    this.layout = layout;
    this.nodeType = new Uint8Array(layout.nodeCount);
    this.nodeName = new Uint32Array(layout.nodeCount);
    this.nodeId = new Uint32Array(layout.nodeCount);
    this.firstEdge = new Uint32Array(layout.nodeCount + 1);
    this.edgeType = new Uint8Array(layout.edgeCount);
    this.edgeName = new Uint32Array(layout.edgeCount);
    this.edgeTo = new Uint32Array(layout.edgeCount);
    this.header = '';
    this.phase = Phase.Nodes;
    return i + at + 9 - before;
  }

  /** Reads the numbers of the nodes or the edges list from chunk[i ..); returns where it stopped. */
  private readNumbers(chunk: Uint8Array, i: number): number {
    const layout = this.layout!;
    const { nType, nName, nId, nEdges, eType, eName, eTo, nodeFieldCount } = layout;
    const { nodeType, nodeName, nodeId, firstEdge, edgeType, edgeName, edgeTo } = this;
    const nodes = this.phase === Phase.Nodes;
    const fieldCount = nodes ? nodeFieldCount : layout.edgeFieldCount;
    const limit = nodes ? layout.nodeCount : layout.edgeCount;
    const len = chunk.length;
    let { value, inNumber, field, ord } = this;
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
        this.phase = nodes ? Phase.SeekEdges : Phase.SeekStrings;
        i++;
        break;
      }
    }
    this.value = value;
    this.inNumber = inNumber;
    this.field = field;
    this.ord = ord;
    return i;
  }

  private seekSection(chunk: Uint8Array, i: number): number {
    const edges = this.phase === Phase.SeekEdges;
    const end = (edges ? this.edgesMarker : this.stringsMarker).seek(chunk, i, chunk.length);
    if (end < 0) return chunk.length;
    this.phase = edges ? Phase.Edges : Phase.Strings;
    return end;
  }
}

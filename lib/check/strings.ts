// The strings section of a heap snapshot, scanned byte by byte as chunks
// come (a string may straddle two). The strings themselves are not kept: only
// the indices of those the analysis asks for or recognizes by their form.

/** Strings longer than this are never compared (all names asked for are shorter). */
const SHORT_STRING = 64;
/** How V8 names each of the two edges of a WeakMap entry (with an auto-index first). */
const EPHEMERON_PREFIX = /^\d+ \/ part of key \(/;
const EPHEMERON_TABLE = /\(table @(\d+)\)$/;
/** How Node names the nodes of its embedder graph (its C++ objects). */
const EMBEDDER_PREFIX = 'Node / ';
/** How V8 names a root or edge that has only a description: "<auto index> / <description>". */
const AUTO_INDEXED = /^\d+ \/ /;

const enum Capture {
  /** Keeping the first SHORT_STRING bytes. */
  Short,
  /** Keeping all of it (the name of a WeakMap entry's edge). */
  Full,
  /** Not keeping anything: too long to be of interest. */
  None,
}

/**
 * The strings section, scanned byte by byte: records the index of each
 * wanted string, of Node's embedder names, of auto-indexed names and of the
 * names of WeakMap entry edges, and keeps nothing else.
 */
export class StringScanner {
  readonly found = new Map<string, number>();
  readonly ephemeronTables = new Map<number, number>();
  readonly embedderNames: number[] = [];
  readonly autoIndexedNames: number[] = [];
  /** How many strings have ended so far. */
  count = 0;
  private readonly embedderPrefix = Buffer.from(EMBEDDER_PREFIX, 'latin1');
  private prefixChecked = false;
  private readonly cap = Buffer.alloc(SHORT_STRING);
  private capLen = 0;
  private capture = Capture.Short;
  private full: string[] = [];
  private inString = false;
  private escaped = false;

  constructor(private readonly wanted: ReadonlySet<string>) {}

  /** Scans chunk[i .. len); returns where the section's `]` ends, or -1 if it goes on. */
  scan(chunk: Uint8Array, i: number, len: number): number {
    for (; i < len; i++) {
      const c = chunk[i];
      if (!this.inString) {
        if (c === 34 /* " */) {
          this.inString = true;
          this.capLen = 0;
          this.capture = Capture.Short;
          this.prefixChecked = false;
        } else if (c === 93 /* ] */) {
          return i + 1;
        }
        continue;
      }
      if (this.escaped) {
        this.escaped = false;
      } else if (c === 92 /* \ */) {
        this.escaped = true;
      } else if (c === 34 /* " */) {
        this.inString = false;
        this.finishString();
        continue;
      }
      if (this.capture === Capture.Short) {
        if (this.capLen < SHORT_STRING) {
          this.cap[this.capLen++] = c;
          continue;
        }
        this.endShort();
      }
      if (this.capture === Capture.Full) this.full.push(String.fromCharCode(c));
    }
    return -1;
  }

  /** The string outgrew SHORT_STRING: kept whole if it names a WeakMap entry's edge, else dropped. */
  private endShort(): void {
    this.checkPrefix();
    const start = this.cap.toString('latin1', 0, this.capLen);
    if (EPHEMERON_PREFIX.test(start)) {
      this.capture = Capture.Full;
      this.full = [start];
    } else {
      this.capture = Capture.None;
    }
  }

  private checkPrefix(): void {
    this.prefixChecked = true;
    const { cap, capLen, embedderPrefix } = this;
    if (
      capLen >= embedderPrefix.length &&
      cap.compare(embedderPrefix, 0, embedderPrefix.length, 0, embedderPrefix.length) === 0
    ) {
      this.embedderNames.push(this.count);
    }
  }

  private finishString(): void {
    if (!this.prefixChecked) this.checkPrefix();
    let text: string | undefined;
    if (this.capture === Capture.Short) {
      text = this.cap.toString('latin1', 0, this.capLen);
      const known = this.wanted.has(text);
      if (known) this.found.set(text, this.count);
      if (AUTO_INDEXED.test(text)) this.autoIndexedNames.push(this.count);
      if (known || !EPHEMERON_PREFIX.test(text)) text = undefined;
    } else if (this.capture === Capture.Full) {
      text = this.full.join('');
    }
    if (text !== undefined) {
      const decoded = JSON.parse(`"${text}"`) as string;
      const table = EPHEMERON_TABLE.exec(decoded);
      if (table) this.ephemeronTables.set(this.count, Number(table[1]));
    }
    this.count++;
  }
}

'use strict';
// Model-based random testing of addCleanup (issue 4, item 1). Shared by
// test/model.test.js (a short run inside `npm test`) and test/reliability/model.js (the
// 10^6-operation run and the soak mode). Not a test file itself: mocha only
// loads test/**/*.test.js.
//
// fast-check generates random sequences of operations (fc.commands) and
// replays them against the real package with fc.asyncModelRun. We use
// fast-check's own async model runner rather than a hand-written generator:
// measured on this 2-core machine its overhead is about 3.5 µs per command
// (~290,000 commands/s for no-op commands), negligible next to the gc() calls
// and event-loop turns the sequences contain (whole runs check 5,000-9,000
// operations per second, almost all of it spent inside gc()), and in exchange
// it gives seeds, replay (seed + path) and shrinking of a failing sequence.
//
// THE MODEL. The model cannot know when V8 finds an object dead, so it only
// asserts what is certain, online (at the moment something happens) and at the
// end of each sequence:
//   - A target is CERTAINLY ALIVE while the test holds it (the `held` map), or
//     while the arg or closure of an unfinished registration (not run, not
//     successfully stopped) references it: the package keeps those in its own
//     tables, which are GC roots.
//   - The first stop() of a registration whose target is certainly alive must
//     return true; the first stop() of one that already ran must return false;
//     any later stop() of the same handle must return false; stop() on handles
//     from earlier, finished sequences (stale ids whose slots were reused) must
//     return false. Otherwise (target dropped) either answer is allowed and the
//     model records it: true => that cleanup must never run; false => it was
//     already queued, so it must run exactly once.
//   - A cleanup must never run while its target is certainly alive, never after
//     its stop() returned true, never twice, never synchronously inside
//     addCleanup() or gc(); it gets `this === undefined`, exactly one argument,
//     and its own arg (same primitive, or the same object).
//   - At the end of a sequence every target is dropped and gc() + loop turns
//     are repeated (bounded, like helpers.until) until every registration
//     whose target is not kept alive for ever has run. "Kept alive for ever"
//     is the greatest fixpoint of "held, or referenced by a registration that
//     itself never finishes" (point 7: a target reachable from its own arg or
//     cleanup, directly or through a cycle of registrations). Those are then
//     stopped (true expected while certainly alive) and must never run.
//   - Every cleanup that threw was reported once to the 'uncaughtException'
//     listener, with the very value it threw (point 9); the other cleanups of
//     its batch still ran (they are all checked to run).
// A violation found inside a cleanup (where throwing would itself be an
// uncaught exception) is recorded and raised by the next command. Violations
// found after a sequence was judged (a late run) fail the next sequence and
// the final check.
const vm = require('node:vm');
const fc = require('fast-check');
const { requireGc, turn } = require('./helpers');
const { addCleanup } = require('..');

const gc = requireGc();

// A cleanup registered by a cleanup registers more only up to this depth, so
// the final drain always converges.
const MAX_DEPTH = 3;
const STALE_POOL = 1024;

// ---------------------------------------------------------------------------
// Global state, shared by every sequence of a run.
const G = {
  syncDepth: 0, // > 0 while the test is inside addCleanup() or gc()
  late: [], // violations detected in a sequence that was already judged
  foreign: [], // uncaught exceptions that no registration threw
  stale: [], // handles of finished registrations of earlier sequences
  staleNext: 0,
  nextTag: 1,
  totals: newTotals(),
};

function newTotals() {
  return {
    ops: 0,
    sequences: 0,
    registrations: 0,
    runs: 0,
    stops: 0,
    stopsTrue: 0,
    stopsFalseDropped: 0,
    throws: 0,
    gcs: 0,
    minorGcs: 0,
    neverRun: 0,
    nested: 0,
    drainRounds: 0,
  };
}

// Identity of object args and targets, without keeping them alive.
const tagOf = new WeakMap();
// Thrown value -> registration, to recognise them in the listener.
const errorOwner = new WeakMap();
const stringOwner = new Map();

function tag(obj) {
  const t = G.nextTag++;
  tagOf.set(obj, t);
  return t;
}

// gc() with the "inside a synchronous call" flag raised: a cleanup that runs
// while it is raised ran inside gc() (point 1).
function flaggedGc(minor) {
  if (minor) G.totals.minorGcs++;
  else G.totals.gcs++;
  G.syncDepth++;
  try {
    // A full GC is gc() with no argument: from Node 22 on, gc(undefined) is
    // a minor GC (see test/helpers.js).
    if (minor) gc({ type: 'minor' });
    else gc();
  } finally {
    G.syncDepth--;
  }
}

// Small integer hash: derives the parameters of registrations made by
// cleanups (nested) from one generated number.
function mix(x) {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

// ---------------------------------------------------------------------------
// Targets of varied kinds (point 3). Every factory is a separate function with
// no captured variables, so that no closure context links one target to
// another object.
class Plain {
  constructor() {
    this.a = 1;
  }
}
class WithPrivate {
  #secret = 1;
  peek() {
    return this.#secret;
  }
}
function noop() {}
const proxyHandler = {};
const weakRefTarget = {};
const otherContext = vm.createContext({});
const makeForeign = vm.runInContext('() => ({ foreign: true })', otherContext);
function makeFunction() {
  return function target() {};
}
function makeArrow() {
  return () => 0;
}
const KINDS = [
  ['plain', () => ({})],
  ['plain', () => ({ x: 1, y: 'two' })],
  ['frozen', () => Object.freeze({ x: 1 })],
  ['sealed', () => Object.seal({ x: 1 })],
  ['nonExtensible', () => Object.preventExtensions({ x: 1 })],
  ['nullProto', () => Object.create(null)],
  ['array', () => [1, 2, 3]],
  ['map', () => new Map([[1, 2]])],
  ['set', () => new Set([1])],
  ['function', makeFunction],
  ['arrow', makeArrow],
  ['bound', () => makeFunction().bind(null)],
  ['class', () => new Plain()],
  ['private', () => new WithPrivate()],
  ['proxy', () => new Proxy({}, proxyHandler)],
  ['arrayBuffer', () => new ArrayBuffer(16)],
  ['typedArray', () => new Float64Array(4)],
  ['buffer', () => Buffer.alloc(8)],
  ['promise', () => new Promise(noop)],
  ['weakRef', () => new WeakRef(weakRefTarget)],
  ['date', () => new Date(0)],
  ['regexp', () => /model/g],
  ['boxed', () => Object('boxed')],
  ['foreignContext', makeForeign],
  ['largeArray', () => new Array(20000)], // large-object space
];

function makeTarget(kind) {
  return KINDS[kind % KINDS.length][1]();
}

// Args of varied kinds. Shared arg objects live for the whole run.
const SHARED_ARGS = [{}, [], Object.freeze({ shared: true }), makeFunction(), new Map()];
for (const o of SHARED_ARGS) tag(o);
const PRIMITIVES = [undefined, null, 0, -0, NaN, 1.5, -7, 2 ** 53, '', 'text', true, false, 10n, -(2n ** 70n)];

function freshObjectArg(pick) {
  switch (pick % 5) {
    case 0:
      return {};
    case 1:
      return [pick];
    case 2:
      return Object.freeze({ pick });
    case 3:
      return makeArrow();
    default:
      return new Uint8Array(2);
  }
}

// ---------------------------------------------------------------------------
// One registration as the model sees it. Holds no target: only ids.
class Registration {
  constructor(run, id, targetId, depth, action, actionPick) {
    this.run = run;
    this.id = id;
    this.targetId = targetId;
    this.depth = depth;
    this.action = action;
    this.actionPick = actionPick;
    this.handle = null;
    this.argDesc = '';
    this.argIsObject = false;
    this.argValue = undefined; // primitive arg
    this.argTag = 0; // object arg
    this.argTargetId = -1; // the arg is itself a target
    this.refs = []; // targets its arg or closure references
    this.stopResult = undefined; // result of the first stop()
    this.runs = 0;
    this.mustRun = false; // first stop() returned false before it ran
    this.finished = false;
    this.thrown = undefined; // 'error', or the thrown string
    this.caught = 0;
    this.openPos = -1;
  }

  toString() {
    return (
      `registration #${this.id} (target t${this.targetId}, depth ${this.depth}, arg ${this.argDesc}, ` +
      `refs [${this.refs.map((t) => 't' + t).join(',')}], stop=${this.stopResult}, runs=${this.runs}, ` +
      `mustRun=${this.mustRun}, action=${actionName(this.action)})`
    );
  }
}

// What a cleanup does when it runs (point 11 re-entrancy, point 9 throws).
function actionName(a) {
  if (a < 840) return 'none';
  if (a < 865) return 'throwError';
  if (a < 875) return 'throwString';
  if (a < 900) return 'addDropped';
  if (a < 910) return 'addHeld';
  if (a < 925) return 'addShared';
  if (a < 950) return 'stopOther';
  if (a < 955) return 'stopSelf';
  if (a < 965) return 'gcMinor';
  if (a < 967) return 'gcFull';
  if (a < 977) return 'addThenThrow';
  if (a < 987) return 'nextTickAdd';
  return 'adoptArg';
}

// The cleanup functions. Separate factories so that each closure captures
// only what it is meant to: `rec`, or `rec` plus the object it deliberately
// keeps alive (point 7).
function plainCleanup(rec) {
  return function modelCleanup(arg) {
    'use strict';
    onRun(rec, this, arguments.length, arg);
  };
}
function rootingCleanup(rec, keep) {
  return function rootingModelCleanup(arg) {
    'use strict';
    if (keep === undefined) rec.run.fail(`${rec}: captured object vanished`);
    onRun(rec, this, arguments.length, arg);
  };
}
function forbiddenCleanup(run, what) {
  return function forbidden() {
    run.fail(`the cleanup of a refused registration (${what}) ran`);
  };
}

// ---------------------------------------------------------------------------
// The state of one sequence: the model, and the handles to the real objects.
class ModelRun {
  constructor(seq) {
    this.seq = seq;
    this.records = [];
    this.unfinished = new Set();
    this.open = []; // the unfinished registrations, for random picks
    this.held = new Map(); // target id -> the target (the test's strong refs)
    this.heldIds = []; // held ids, for random picks
    this.heldPos = new Map(); // target id -> index in heldIds
    this.rootRefs = []; // target id -> number of unfinished refs to it
    this.targetInfo = []; // target id -> { kind, keys, extensible, frozen }
    this.nextTargetId = 0;
    this.chainRefs = 0;
    this.violations = [];
    this.closed = false;
    this.abandoned = false;
    this.draining = false;
    this.ops = 0;
    this.log = []; // the last events, for failure reports
  }

  note(msg) {
    if (this.log.length >= 40) this.log.shift();
    this.log.push(msg);
  }

  fail(msg) {
    // A sequence that already failed is abandoned: its model is no longer
    // kept in step with the package, so what its cleanups do later is noise.
    if (this.abandoned) return;
    const full = `sequence ${this.seq}: ${msg}`;
    if (this.closed) G.late.push(full);
    else this.violations.push(full);
  }

  assertOk() {
    if (this.violations.length === 0 && G.late.length === 0 && G.foreign.length === 0) return;
    const lines = [...this.violations, ...G.late.map((l) => `(late) ${l}`), ...G.foreign.map((f) => `(foreign uncaught exception) ${f}`)];
    throw new Error(
      `addCleanup model violated:\n  ${lines.slice(0, 20).join('\n  ')}` +
        `\nlast events:\n  ${this.log.join('\n  ')}`,
    );
  }

  certainlyAlive(tid) {
    return this.held.has(tid) || (this.rootRefs[tid] | 0) > 0;
  }

  // --- targets held by the test -------------------------------------------
  hold(tid, obj) {
    if (this.held.has(tid)) return;
    this.held.set(tid, obj);
    this.heldPos.set(tid, this.heldIds.length);
    this.heldIds.push(tid);
  }

  pickHeld(pick) {
    if (this.heldIds.length === 0) return -1;
    return this.heldIds[pick % this.heldIds.length];
  }

  drop(tid) {
    const obj = this.held.get(tid);
    this.checkUnmodified(tid, obj);
    this.held.delete(tid);
    const pos = this.heldPos.get(tid);
    const last = this.heldIds.pop();
    if (last !== tid) {
      this.heldIds[pos] = last;
      this.heldPos.set(last, pos);
    }
    this.heldPos.delete(tid);
  }

  dropAll() {
    while (this.heldIds.length > 0) this.drop(this.heldIds[this.heldIds.length - 1]);
  }

  // Point 3: addCleanup never modifies ptr.
  checkUnmodified(tid, obj) {
    const info = this.targetInfo[tid];
    if (
      Reflect.ownKeys(obj).length !== info.keys ||
      Object.isExtensible(obj) !== info.extensible ||
      Object.isFrozen(obj) !== info.frozen
    ) {
      this.fail(`target t${tid} (${info.kind}) was modified by addCleanup`);
    }
  }

  newTarget(kind) {
    const obj = makeTarget(kind);
    const tid = this.nextTargetId++;
    tagOf.set(obj, G.nextTag++);
    this.targetInfo[tid] = {
      kind: KINDS[kind % KINDS.length][0],
      keys: Reflect.ownKeys(obj).length,
      extensible: Object.isExtensible(obj),
      frozen: Object.isFrozen(obj),
    };
    return { obj, tid };
  }

  // --- registrations ---------------------------------------------------------
  adopt(rec) {
    this.records.push(rec);
    this.unfinished.add(rec);
    rec.openPos = this.open.length;
    this.open.push(rec);
    for (const t of rec.refs) this.rootRefs[t] = (this.rootRefs[t] | 0) + 1;
    G.totals.registrations++;
  }

  finish(rec) {
    if (rec.finished) return;
    rec.finished = true;
    this.unfinished.delete(rec);
    const last = this.open.pop();
    if (last !== rec) {
      this.open[rec.openPos] = last;
      last.openPos = rec.openPos;
    }
    for (const t of rec.refs) this.rootRefs[t]--;
  }

  // Registrations that will never finish: the greatest set whose targets are
  // held, or referenced by the arg/closure of a member (those references are
  // kept for ever by the package's tables).
  blockedForever() {
    const cand = new Set();
    for (const r of this.unfinished) if (!r.mustRun) cand.add(r);
    let changed = true;
    while (changed && cand.size > 0) {
      changed = false;
      const rooted = new Set();
      for (const r of cand) for (const t of r.refs) rooted.add(t);
      for (const r of cand) {
        if (!this.held.has(r.targetId) && !rooted.has(r.targetId)) {
          cand.delete(r);
          changed = true;
        }
      }
    }
    return cand;
  }

  // Final phase of a sequence: drop everything, drain, compare.
  async verify() {
    this.draining = true;
    this.assertOk();
    this.dropAll();
    // Point 7: registrations kept alive by their own arg/closure (possibly
    // through a cycle) never run; stopping them must cancel them. A stop()
    // that returns false (allowed once a cycle is broken) means "queued": it
    // must then run, hence the next drain. Cleanups of the drain may register
    // more (depth-limited), hence the loop.
    for (let pass = 0; ; pass++) {
      const blocked = await this.drain(30 + this.chainRefs);
      if (blocked.size === 0) break;
      if (pass > MAX_DEPTH + 2) this.fail(`${blocked.size} registrations could not be stopped, e.g. ${[...blocked][0]}`);
      for (const rec of blocked) checkStop(this, rec, 'final');
      G.totals.neverRun += blocked.size;
    }
    if (this.unfinished.size !== 0) this.fail(`${this.unfinished.size} registrations unfinished after the final drain`);
    for (const rec of this.records) {
      const done = rec.runs + (rec.stopResult === true ? 1 : 0);
      if (done !== 1) this.fail(`${rec} finished ${done} times (ran ${rec.runs}, stop=${rec.stopResult})`);
      if (rec.thrown !== undefined && rec.caught !== 1) {
        this.fail(`${rec} threw, but the 'uncaughtException' listener saw it ${rec.caught} times`);
      }
      if (rec.thrown !== undefined && typeof rec.thrown === 'string') stringOwner.delete(rec.thrown);
    }
    this.assertOk();
    for (const rec of this.records) {
      G.stale[G.staleNext] = rec.handle;
      G.staleNext = (G.staleNext + 1) % STALE_POOL;
    }
    this.closed = true;
  }

  // gc() + loop turns until every unfinished registration is blocked for ever
  // (bounded, like helpers.until); returns the blocked set.
  async drain(rounds) {
    for (let i = 0; ; i++) {
      this.assertOk();
      const blocked = this.blockedForever();
      if (blocked.size === this.unfinished.size) {
        G.totals.drainRounds += i;
        return blocked;
      }
      if (i >= rounds) {
        const lost = [...this.unfinished].filter((r) => !blocked.has(r));
        this.fail(
          `${lost.length} cleanups never ran after ${rounds} rounds of gc() and loop turns ` +
            `(lost, or their targets stayed alive), e.g.:\n    ${lost.slice(0, 5).join('\n    ')}`,
        );
        this.assertOk();
      }
      // One turn so that nothing of this job keeps objects alive, a full gc,
      // then two turns: Node runs the deferred finalizers in a native
      // immediate, and the queue delivers on the next loop iteration.
      await turn();
      flaggedGc(false);
      await turn();
      await turn();
    }
  }

  // After a failure: release everything so that later sequences are not
  // disturbed. (After a successful verify() this does nothing: the run is
  // closed but not abandoned, so a late run of one of its cleanups is still
  // reported.)
  close() {
    if (this.closed) return;
    this.closed = true;
    this.abandoned = true;
    this.held.clear();
    this.heldIds.length = 0;
    this.heldPos.clear();
    for (const rec of this.unfinished) {
      try {
        rec.handle.stop();
      } catch {
        // ignored: this sequence already failed
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Operations on the real package, each checked against the model.

// spec: { kind, argKind, argPick, closure, closurePick, action, actionPick }
function register(run, obj, tid, spec, depth) {
  const rec = new Registration(run, G.totals.registrations, tid, depth, spec.action, spec.actionPick);
  const arg = makeArg(run, rec, obj, spec.argKind, spec.argPick);
  const cleanup = makeCleanup(run, rec, obj, spec.closure, spec.closurePick);
  G.syncDepth++;
  try {
    rec.handle = addCleanup(obj, cleanup, arg);
  } finally {
    G.syncDepth--;
  }
  run.adopt(rec);
  if (rec.refs.length > 0) run.chainRefs++;
  run.note(`add ${rec}`);
  return rec;
}

function describePrimitive(v) {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (Object.is(v, -0)) return '-0';
  return String(v);
}

function makeArg(run, rec, obj, argKind, pick) {
  if (argKind < 500) {
    const v = PRIMITIVES[pick % (PRIMITIVES.length + 2)];
    // Two more choices: a fresh symbol and a fresh string, kept by the model
    // as primitives.
    let value = v;
    if (pick % (PRIMITIVES.length + 2) === PRIMITIVES.length) value = Symbol(`arg${rec.id}`);
    else if (pick % (PRIMITIVES.length + 2) === PRIMITIVES.length + 1) value = `arg-${rec.id}-${pick}`;
    rec.argValue = value;
    rec.argDesc = describePrimitive(value);
    return value;
  }
  rec.argIsObject = true;
  if (argKind < 750) {
    const o = freshObjectArg(pick);
    rec.argTag = tag(o);
    rec.argDesc = 'fresh object';
    return o;
  }
  if (argKind < 850) {
    const o = SHARED_ARGS[pick % SHARED_ARGS.length];
    rec.argTag = tagOf.get(o);
    rec.argDesc = 'shared object';
    return o;
  }
  if (argKind < 950) {
    // Another held target as arg: it stays alive at least until this
    // registration finishes (a chain), and the cleanup gets that very object.
    const other = run.pickHeld(pick);
    const o = other < 0 ? undefined : run.held.get(other);
    if (o !== undefined && o !== obj) {
      rec.argTag = tagOf.get(o);
      rec.argTargetId = other;
      rec.refs.push(other);
      rec.argDesc = `target t${other}`;
      return o;
    }
    const f = freshObjectArg(pick);
    rec.argTag = tag(f);
    rec.argDesc = 'fresh object';
    return f;
  }
  if (argKind < 985) {
    // A wrapper referencing a held target (not ptr itself, which is refused).
    const other = run.pickHeld(pick);
    const o = other < 0 ? undefined : run.held.get(other);
    const w = { ref: o };
    rec.argTag = tag(w);
    rec.argDesc = o === undefined ? 'wrapper' : `wrapper of t${other}`;
    if (o !== undefined) rec.refs.push(other);
    return w;
  }
  // Point 7: the arg references ptr itself, so the cleanup can never run.
  const w = { ref: obj };
  rec.argTag = tag(w);
  rec.refs.push(rec.targetId);
  rec.argDesc = 'wrapper of its own target';
  return w;
}

function makeCleanup(run, rec, obj, closure, pick) {
  if (closure < 990) return plainCleanup(rec);
  if (closure < 996) {
    const other = run.pickHeld(pick);
    if (other < 0) return plainCleanup(rec);
    rec.refs.push(other);
    return rootingCleanup(rec, run.held.get(other));
  }
  // Point 7: the cleanup's closure holds ptr.
  rec.refs.push(rec.targetId);
  return rootingCleanup(rec, obj);
}

// A new target (held by the test or dropped at once) with one registration.
function addOnNew(run, spec, hold, depth) {
  const { obj, tid } = run.newTarget(spec.kind);
  if (hold) run.hold(tid, obj);
  register(run, obj, tid, spec, depth);
}

// One more registration on a target the test still holds (several cleanups
// per object, point 2).
function addOnHeld(run, pick, spec, depth) {
  const tid = run.pickHeld(pick);
  if (tid < 0) return addOnNew(run, spec, !run.draining, depth);
  register(run, run.held.get(tid), tid, spec, depth);
}

function checkStop(run, rec, where) {
  const first = rec.stopResult === undefined;
  const alive = run.certainlyAlive(rec.targetId);
  const ran = rec.runs > 0;
  let r;
  G.syncDepth++;
  try {
    r = rec.handle.stop();
  } catch (error) {
    run.fail(`${where}: stop() threw ${error && error.stack}`);
    return;
  } finally {
    G.syncDepth--;
  }
  G.totals.stops++;
  run.note(`${where}: stop ${rec} -> ${r}`);
  if (typeof r !== 'boolean') return run.fail(`${where}: stop() returned ${typeof r}`);
  if (!first) {
    if (r) run.fail(`${where}: a repeated stop() of ${rec} returned true`);
    return;
  }
  rec.stopResult = r;
  if (r) {
    G.totals.stopsTrue++;
    if (ran) run.fail(`${where}: stop() returned true after the cleanup ran: ${rec}`);
    run.finish(rec);
  } else if (!ran) {
    if (alive) {
      run.fail(`${where}: first stop() returned false while the target was certainly alive ` +
        `(held=${run.held.has(rec.targetId)}, rooted=${run.rootRefs[rec.targetId] | 0}): ${rec}`);
    }
    // Queued already: it must still run, exactly once.
    G.totals.stopsFalseDropped++;
    rec.mustRun = true;
  }
}

function checkArg(rec, arg) {
  if (rec.argIsObject) {
    return (typeof arg === 'object' || typeof arg === 'function') && arg !== null && tagOf.get(arg) === rec.argTag;
  }
  return Object.is(arg, rec.argValue);
}

// Every model cleanup ends up here.
function onRun(rec, self, argc, arg) {
  const run = rec.run;
  G.totals.runs++;
  if (G.syncDepth > 0) run.fail(`${rec} ran synchronously inside addCleanup(), stop() or gc()`);
  if (self !== undefined) run.fail(`${rec} ran with this !== undefined`);
  if (argc !== 1) run.fail(`${rec} ran with ${argc} arguments`);
  if (!checkArg(rec, arg)) run.fail(`${rec} ran with the wrong arg`);
  rec.runs++;
  if (rec.runs > 1) run.fail(`${rec} ran twice`);
  if (rec.stopResult === true) run.fail(`${rec} ran after its stop() returned true`);
  if (run.certainlyAlive(rec.targetId)) {
    run.fail(`${rec} ran while its target was certainly alive ` +
      `(held=${run.held.has(rec.targetId)}, rooted=${run.rootRefs[rec.targetId] | 0})`);
  }
  run.finish(rec);
  if (run.closed || rec.depth >= MAX_DEPTH) return;
  run.note(`ran ${rec}`);
  const name = actionName(rec.action);
  if (name === 'none') return;
  let thrown;
  try {
    thrown = runAction(run, rec, name, arg);
  } catch (error) {
    run.fail(`the action ${name} of ${rec} failed: ${error && error.stack}`);
    return;
  }
  if (thrown !== undefined) {
    G.totals.throws++;
    // Only weakly: an Error's captured stack trace references the functions
    // on the stack, including a cleanup closure that may hold a target, so
    // keeping the error would keep that target alive. errorOwner maps that
    // very object, which is how the listener checks identity.
    rec.thrown = typeof thrown === 'string' ? thrown : 'error';
    if (typeof thrown === 'string') stringOwner.set(thrown, rec);
    else errorOwner.set(thrown, rec);
    throw thrown; // point 9: reported to the 'uncaughtException' listener
  }
}

// Returns a value to throw, or undefined.
function runAction(run, rec, name, arg) {
  const p = rec.actionPick;
  const depth = rec.depth + 1;
  switch (name) {
    case 'throwError':
      return new Error(`model cleanup #${rec.id} throws`);
    case 'throwString':
      return `model cleanup #${rec.id} throws a string`;
    case 'addDropped':
      G.totals.nested++;
      addOnNew(run, nestedSpec(p), false, depth);
      return undefined;
    case 'addHeld':
      G.totals.nested++;
      addOnNew(run, nestedSpec(p), !run.draining, depth);
      return undefined;
    case 'addShared':
      G.totals.nested++;
      if (run.draining) addOnNew(run, nestedSpec(p), false, depth);
      else addOnHeld(run, p, nestedSpec(p), depth);
      return undefined;
    case 'stopOther':
      checkStop(run, run.records[p % run.records.length], `cleanup #${rec.id}`);
      return undefined;
    case 'stopSelf':
      checkStop(run, rec, `cleanup #${rec.id} (own handle)`);
      return undefined;
    case 'gcMinor':
      flaggedGc(true);
      return undefined;
    case 'gcFull':
      flaggedGc(false);
      return undefined;
    case 'addThenThrow':
      G.totals.nested++;
      addOnNew(run, nestedSpec(p), false, depth);
      return new TypeError(`model cleanup #${rec.id} registered, then throws`);
    case 'nextTickAdd':
      // Point 10: a tick queued by a cleanup runs after the batch; it may
      // register too.
      process.nextTick(tickAdd, run, p, depth);
      return undefined;
    case 'adoptArg':
      // The arg is a target: the test takes it back (it is alive: we have it).
      if (rec.argTargetId >= 0 && !run.draining) run.hold(rec.argTargetId, arg);
      return undefined;
    default:
      return undefined;
  }
}

function tickAdd(run, p, depth) {
  if (run.closed) return;
  G.totals.nested++;
  try {
    addOnNew(run, nestedSpec(p), false, depth);
  } catch (error) {
    run.fail(`nextTick registration failed: ${error && error.stack}`);
  }
}

function nestedSpec(p) {
  const a = mix(p + 1);
  const b = mix(a);
  const c = mix(b);
  return {
    kind: a % KINDS.length,
    argKind: b % 1000,
    argPick: c,
    closure: (c >>> 10) % 1000 < 995 ? 0 : 995, // rarely capture another target
    closurePick: a >>> 3,
    action: (a >>> 8) % 1000,
    actionPick: mix(c),
  };
}

// ---------------------------------------------------------------------------
// Point 4 checks, cheap: bad input throws and registers nothing.
const INVALID = ['ptr-undefined', 'ptr-null', 'ptr-number', 'ptr-string', 'ptr-bigint', 'ptr-symbol', 'ptr-boolean', 'cleanup-number', 'cleanup-object', 'arg-is-ptr'];
function invalidAdd(run, variant, pick) {
  const what = INVALID[variant % INVALID.length];
  let ptr;
  let cleanup = forbiddenCleanup(run, what);
  let arg = pick;
  let code = 'ERR_INVALID_ARG_TYPE';
  let names = '"ptr"';
  switch (what) {
    case 'ptr-undefined': ptr = undefined; break;
    case 'ptr-null': ptr = null; break;
    case 'ptr-number': ptr = pick; break;
    case 'ptr-string': ptr = `s${pick}`; break;
    case 'ptr-bigint': ptr = BigInt(pick); break;
    case 'ptr-symbol': ptr = Symbol('ptr'); break;
    case 'ptr-boolean': ptr = pick % 2 === 0; break;
    case 'cleanup-number': ptr = {}; cleanup = pick; names = '"cleanup"'; break;
    case 'cleanup-object': ptr = {}; cleanup = {}; names = '"cleanup"'; break;
    default: {
      const tid = run.pickHeld(pick);
      ptr = tid < 0 ? {} : run.held.get(tid);
      arg = ptr;
      code = 'ERR_INVALID_ARG_VALUE';
      names = 'never run';
    }
  }
  let error;
  G.syncDepth++;
  try {
    addCleanup(ptr, cleanup, arg);
  } catch (e) {
    error = e;
  } finally {
    G.syncDepth--;
  }
  if (!(error instanceof TypeError) || error.code !== code || !String(error.message).includes(names)) {
    run.fail(`addCleanup with ${what} did not throw TypeError ${code} naming ${names}: ${error}`);
  }
}

// ---------------------------------------------------------------------------
// The commands (fc.commands). Each one counts itself, acts on the real package
// through the functions above, and raises any violation recorded so far.
class Cmd {
  check() {
    return true;
  }
}

class AddNew extends Cmd {
  constructor(spec, hold) {
    super();
    this.spec = spec;
    this.hold = hold;
  }
  run(m) {
    m.ops++;
    addOnNew(m, this.spec, this.hold, 0);
    m.assertOk();
  }
  toString() {
    return `addNew(${KINDS[this.spec.kind][0]}, ${this.hold ? 'held' : 'dropped'}, ${specString(this.spec)})`;
  }
}

class AddShared extends Cmd {
  constructor(pick, spec) {
    super();
    this.pick = pick;
    this.spec = spec;
  }
  run(m) {
    m.ops++;
    addOnHeld(m, this.pick, this.spec, 0);
    m.assertOk();
  }
  toString() {
    return `addShared(${this.pick}, ${specString(this.spec)})`;
  }
}

class Stop extends Cmd {
  constructor(pick, live) {
    super();
    this.pick = pick;
    this.live = live;
  }
  run(m) {
    m.ops++;
    // stopLive picks among the registrations that have not finished (most of
    // them still cancellable), stop among all, including finished ones
    // (repeated and stale stops).
    const list = this.live && m.open.length > 0 ? m.open : m.records;
    if (list.length > 0) checkStop(m, list[this.pick % list.length], 'command');
    m.assertOk();
  }
  toString() {
    return `stop${this.live ? 'Live' : ''}(${this.pick})`;
  }
}

class StopStale extends Cmd {
  constructor(pick) {
    super();
    this.pick = pick;
  }
  run(m) {
    m.ops++;
    if (G.stale.length > 0) {
      const h = G.stale[this.pick % G.stale.length];
      const r = h.stop();
      G.totals.stops++;
      if (r !== false) m.fail(`stop() on a handle of a finished registration (earlier sequence) returned ${r}`);
    }
    m.assertOk();
  }
  toString() {
    return `stopStale(${this.pick})`;
  }
}

class Drop extends Cmd {
  constructor(pick) {
    super();
    this.pick = pick;
  }
  run(m) {
    m.ops++;
    const tid = m.pickHeld(this.pick);
    if (tid >= 0) {
      m.note(`drop t${tid}`);
      m.drop(tid);
    }
    m.assertOk();
  }
  toString() {
    return `drop(${this.pick})`;
  }
}

class DropAll extends Cmd {
  run(m) {
    m.ops++;
    m.note('drop all');
    m.dropAll();
    m.assertOk();
  }
  toString() {
    return 'dropAll';
  }
}

class Gc extends Cmd {
  constructor(minor) {
    super();
    this.minor = minor;
  }
  run(m) {
    m.ops++;
    m.note(this.minor ? 'minor gc' : 'full gc');
    flaggedGc(this.minor);
    m.assertOk();
  }
  toString() {
    return this.minor ? 'gc(minor)' : 'gc()';
  }
}

class Turns extends Cmd {
  constructor(n) {
    super();
    this.n = n;
  }
  async run(m) {
    m.ops++;
    m.note(`turns(${this.n})`);
    for (let i = 0; i < this.n; i++) await turn();
    m.assertOk();
  }
  toString() {
    return `turns(${this.n})`;
  }
}

class Microtasks extends Cmd {
  async run(m) {
    m.ops++;
    await null;
    await null;
    m.assertOk();
  }
  toString() {
    return 'microtasks';
  }
}

class Invalid extends Cmd {
  constructor(variant, pick) {
    super();
    this.variant = variant;
    this.pick = pick;
  }
  run(m) {
    m.ops++;
    invalidAdd(m, this.variant, this.pick);
    m.assertOk();
  }
  toString() {
    return `invalid(${INVALID[this.variant % INVALID.length]})`;
  }
}

class Churn extends Cmd {
  constructor(n) {
    super();
    this.n = n;
  }
  run(m) {
    m.ops++;
    // Allocation pressure: lets V8 run its own scavenges at random points.
    let keep = null;
    for (let i = 0; i < this.n; i++) keep = { i, next: keep && i % 64 ? keep : null };
    m.assertOk();
  }
  toString() {
    return `churn(${this.n})`;
  }
}

function specString(s) {
  return `arg:${s.argKind}/${s.argPick % 1000} closure:${s.closure} action:${actionName(s.action)}`;
}

const specArb = fc.record({
  kind: fc.nat(KINDS.length - 1),
  argKind: fc.nat(999),
  argPick: fc.nat(),
  closure: fc.nat(999),
  closurePick: fc.nat(),
  action: fc.nat(999),
  actionPick: fc.nat(),
});

// Weights: mostly registrations, drops and stops, with enough gc() and turns
// that cleanups are delivered all through a sequence (not only at its end).
// (Weights in 1/500ths.)
const commandArb = fc.oneof(
  { weight: 100, arbitrary: specArb.map((s) => new AddNew(s, true)) },
  { weight: 60, arbitrary: specArb.map((s) => new AddNew(s, false)) },
  { weight: 70, arbitrary: fc.tuple(fc.nat(), specArb).map(([p, s]) => new AddShared(p, s)) },
  { weight: 40, arbitrary: fc.nat().map((p) => new Stop(p, false)) },
  { weight: 40, arbitrary: fc.nat().map((p) => new Stop(p, true)) },
  { weight: 10, arbitrary: fc.nat().map((p) => new StopStale(p)) },
  { weight: 75, arbitrary: fc.nat().map((p) => new Drop(p)) },
  { weight: 1, arbitrary: fc.constant(null).map(() => new DropAll()) },
  { weight: 6, arbitrary: fc.constant(null).map(() => new Gc(true)) },
  { weight: 1, arbitrary: fc.constant(null).map(() => new Gc(false)) },
  { weight: 30, arbitrary: fc.integer({ min: 1, max: 3 }).map((n) => new Turns(n)) },
  { weight: 15, arbitrary: fc.constant(null).map(() => new Microtasks()) },
  { weight: 4, arbitrary: fc.tuple(fc.nat(), fc.nat()).map(([v, p]) => new Invalid(v, p)) },
  { weight: 5, arbitrary: fc.integer({ min: 100, max: 5000 }).map((n) => new Churn(n)) },
);

function commandsArb(maxCommands, replayPath) {
  return fc.commands([commandArb], {
    maxCommands,
    size: 'max',
    replayPath,
  });
}

// ---------------------------------------------------------------------------
// The 'uncaughtException' listener (point 9). Installed for the duration of a
// run; other listeners (mocha's) are set aside and get every exception that no
// model cleanup threw.
function installListener() {
  const saved = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  function onUncaught(value, origin) {
    let rec;
    if (typeof value === 'string') rec = stringOwner.get(value);
    else if ((typeof value === 'object' && value !== null) || typeof value === 'function') rec = errorOwner.get(value);
    if (rec === undefined) {
      G.foreign.push(String(value && value.stack ? value.stack : value));
      for (const l of saved) l.call(process, value, origin);
      return;
    }
    // Found through errorOwner/stringOwner: the very value the cleanup threw.
    rec.caught++;
    if (rec.thrown === undefined) rec.run.fail(`the listener got a value ${rec} did not throw`);
    if (origin !== 'uncaughtException') rec.run.fail(`${rec}: origin ${origin}`);
  }
  process.on('uncaughtException', onUncaught);
  return function restore() {
    process.removeListener('uncaughtException', onUncaught);
    for (const l of saved) process.on('uncaughtException', l);
  };
}

// ---------------------------------------------------------------------------
// Runs sequences until `ops` operations have been checked (or `seconds`
// elapsed, when given). fast-check is called in batches of `batchRuns`
// sequences, each batch with its own seed derived from `seed`, so that a run
// of any length is reproducible and a failing batch prints its own seed and
// path. Resolves with the totals; rejects with fast-check's report (seed,
// path, shrunk counterexample) on failure.
//
// Shrinking re-runs shorter sequences, each with its final drain; a failure
// of the "never ran" kind costs a full bounded drain per attempt. Once
// `shrinkBudgetMs` has passed since the first failure, further candidates are
// treated as passing without being run, which ends the shrinking at the
// smallest failing sequence found so far.
async function runModel({
  ops = 200000,
  seconds = 0,
  seed = defaultSeed(),
  path,
  replayPath,
  maxCommands = 2000,
  batchRuns = 20,
  shrink = true,
  shrinkBudgetMs = 60000,
  onProgress,
  progressMs = 10000,
  log = () => {},
} = {}) {
  G.totals = newTotals();
  G.late.length = 0;
  G.foreign.length = 0;
  const restore = installListener();
  const t0 = Date.now();
  const cpu0 = process.cpuUsage();
  const elapsed = () => {
    const c = process.cpuUsage(cpu0);
    return { ms: Date.now() - t0, cpuMs: Math.round((c.user + c.system) / 1000) };
  };
  let lastProgress = t0;
  let firstFailure = 0;
  let seq = 0;
  try {
    log(`model: base seed ${seed} (replay: ADDCLEANUP_SEED=${seed})`);
    const property = fc.asyncProperty(commandsArb(maxCommands, replayPath), async (cmds) => {
      if (firstFailure !== 0 && Date.now() - firstFailure > shrinkBudgetMs) return;
      const run = new ModelRun(seq++);
      try {
        await fc.asyncModelRun(() => ({ model: run, real: run }), cmds);
        await run.verify();
      } catch (error) {
        if (firstFailure === 0) firstFailure = Date.now();
        throw error;
      } finally {
        run.close();
        if (firstFailure === 0) {
          G.totals.ops += run.ops;
          G.totals.sequences++;
        }
      }
      const now = Date.now();
      if (onProgress && now - lastProgress >= progressMs) {
        lastProgress = now;
        onProgress({ ...G.totals, ...elapsed() });
      }
    });
    for (let batch = 0; ; batch++) {
      const e = elapsed().ms;
      if (seconds > 0 ? e >= seconds * 1000 || (ops > 0 && G.totals.ops >= ops) : G.totals.ops >= ops) break;
      const batchSeed = path !== undefined ? seed : (seed + Math.imul(batch, 0x9e3779b1)) | 0;
      const details = await fc.check(property, {
        seed: batchSeed,
        path,
        // Sequences average about maxCommands / 2 operations: the last batch
        // is cut down so as not to overshoot a small op count by much.
        numRuns: path !== undefined ? 1 : seconds > 0 ? batchRuns : Math.max(1, Math.min(batchRuns, Math.ceil((ops - G.totals.ops) / (maxCommands / 2)))),
        endOnFailure: !shrink,
      });
      if (details.failed) {
        const error = details.errorInstance;
        const err = new Error(
          `addCleanup model: FAILED (batch ${batch} of base seed ${seed}; fast-check seed ${details.seed}, ` +
            `path "${details.counterexamplePath}")\n` +
            `replay: ADDCLEANUP_SEED=${details.seed} ADDCLEANUP_PATH=${details.counterexamplePath} ` +
            `ADDCLEANUP_REPLAY_PATH='<the replayPath shown in the counterexample>' node --expose-gc test/reliability/model.js\n` +
            `${fc.defaultReportMessage(details)}\n\n` +
            `Error of the shrunk counterexample:\n${error && error.message ? error.message : error}`,
        );
        err.details = details;
        throw err;
      }
      if (path !== undefined) break;
    }
    // Late runs (a cleanup of an already judged sequence running again, or
    // after its stop() returned true) would be reported here.
    for (let i = 0; i < 4; i++) {
      await turn();
      flaggedGc(false);
      await turn();
      await turn();
    }
    if (G.late.length || G.foreign.length) {
      throw new Error(
        `addCleanup model (base seed ${seed}): violations after the sequences were judged:\n  ` +
          [...G.late, ...G.foreign.map((f) => `uncaught exception not thrown by a model cleanup: ${f}`)].join('\n  '),
      );
    }
    return { ...G.totals, ...elapsed(), seed };
  } finally {
    restore();
  }
}

function defaultSeed() {
  const env = process.env.ADDCLEANUP_SEED;
  if (env !== undefined && env !== '') return Number(env) | 0;
  return (Date.now() ^ (Math.random() * 0x100000000)) | 0;
}

module.exports = { runModel, defaultSeed, KINDS };

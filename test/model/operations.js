'use strict';
// Operations on the real package, each checked against the model (see
// ./index.js for THE MODEL): registering, stopping, and what a model cleanup
// checks and does when it runs.
const { addCleanup } = require('../..');
const { MAX_DEPTH, G, tagOf, errorOwner, stringOwner, tag, flaggedGc, mix, Registration, actionName } = require('./state');
const { KINDS, SHARED_ARGS, PRIMITIVES, freshObjectArg } = require('./targets');

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

module.exports = { addOnNew, addOnHeld, checkStop, INVALID, invalidAdd };

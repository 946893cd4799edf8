'use strict';
// The model's shared state (see ./index.js for THE MODEL): the counters and
// tables that every sequence of a run shares, the gc() that the model counts,
// and one registration as the model sees it. One instance of each, required
// by the other files of test/model/.
const { requireGc } = require('../helpers');

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

module.exports = {
  MAX_DEPTH,
  STALE_POOL,
  G,
  newTotals,
  tagOf,
  errorOwner,
  stringOwner,
  tag,
  flaggedGc,
  mix,
  Registration,
  actionName,
};

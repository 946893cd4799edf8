'use strict';
// One sequence's model (see ./index.js for THE MODEL): what the test holds,
// which registrations are unfinished and what they keep alive, and the final
// drain that judges the sequence.
const { turn } = require('../helpers');
const { MAX_DEPTH, STALE_POOL, G, tagOf, stringOwner, flaggedGc } = require('./state');
const { KINDS, makeTarget } = require('./targets');
const { checkStop } = require('./operations');

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

module.exports = { ModelRun };

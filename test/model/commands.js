'use strict';
// The fast-check side of the model (see ./index.js for THE MODEL): one class
// per command, and the arbitraries that generate sequences of them. The order
// and weights of the arbitraries decide what a seed + path replays.
const fc = require('fast-check');
const { turn } = require('../helpers');
const { G, flaggedGc, actionName } = require('./state');
const { KINDS } = require('./targets');
const { addOnNew, addOnHeld, checkStop, INVALID, invalidAdd } = require('./operations');

// ---------------------------------------------------------------------------
// The commands (fc.commands). Each one counts itself, acts on the real package
// through the operations of ./operations.js, and raises any violation recorded so far.
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

module.exports = { commandsArb };

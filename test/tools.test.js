'use strict';
// The tools beyond Go: collect() from 'addcleanup/testing',
// drainCleanups(), cleanupStats(), and debug mode (ADDCLEANUP_DEBUG=1).
//
// Every test counts calls exactly and can fail. Baselines: other test files
// may leave dead objects behind, so tests that compare counters first run
// collect() to flush them, then work with differences from a snapshot.
// Debug mode is read once at load time, so it is tested in child processes.
const assert = require('node:assert/strict');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const {
  requireGc,
  turn,
  afterFinalizers,
  until,
  settle,
  inScope,
  thrown,
  withOnlyListener,
  runNode,
  runFixture,
  parseResult,
  assertCleanExit,
  needs,
  ROOT,
} = require('./helpers');
const { addCleanup, drainCleanups, cleanupStats } = require('..');
const testing = require('addcleanup/testing');

const gc = requireGc();

const FIXTURES = path.join(__dirname, 'fixtures');
const STAT_KEYS = ['executed', 'failed', 'pending', 'queued', 'running', 'stopped'];

// Drains the microtask queue of the current turn (a few hops) without
// letting the event loop move on.
async function microtasks(hops = 5) {
  for (let i = 0; i < hops; i++) await Promise.resolve();
}

// Busy-waits: the only way to make a cleanup (or the loop) slow for sure.
function busy(ms) {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

// Runs every cleanup that is due (earlier tests' garbage included), so that
// the counters do not move afterwards unless this test makes them move.
async function flush() {
  await testing.collect();
  const base = cleanupStats();
  assert.equal(base.queued, 0, 'nothing may be queued after collect()');
  return base;
}

// Registers `n` cleanups on objects allocated in inScope()'s frame, so that
// nothing in the test keeps them alive.
function registerDropped(n, cleanup, argOf = (i) => i) {
  inScope(() => {
    for (let i = 0; i < n; i++) addCleanup({ i }, cleanup, argOf(i));
  });
}

// gc() + ONE turn, until exactly `n` more cleanups than in `base` are queued.
// After one setImmediate turn Node has run its deferred Node-API finalizers
// (native immediates run first in the check phase), so the objects are in
// the addon's queue, but the queue only delivers in the next poll phase: this
// is the "found dead, cleanup not yet run" state.
async function deadAndQueued(n, base, what = 'the objects') {
  for (let i = 0; i < 10; i++) {
    gc();
    await afterFinalizers();
    const s = cleanupStats();
    assert.equal(s.executed, base.executed, `${what}: a cleanup ran before the queued state was observed`);
    if (s.queued - base.queued === n) return s;
    assert.equal(s.queued, base.queued, `${what}: only part of them were found dead in one gc()`);
  }
  throw new Error(`${what} were never found dead`);
}

// A copy of the stats with some fields changed, for deepEqual.
function statsWith(base, changes) {
  return { ...base, ...changes };
}

// Runs `node <fixture> ...args` WITHOUT --expose-gc.
function runWithoutExposeGc(fixture, args = [], timeoutMs = 30000) {
  return runNode([path.join(FIXTURES, fixture), ...args], { exposeGc: false, timeoutMs });
}

// The child's `RESULT <json>` line; the child must not report an error.
function resultOf(r) {
  const value = parseResult(r);
  assert.equal(value.error, undefined, `the child failed: ${value.error}`);
  return value;
}

// ---------------------------------------------------------------------------
describe('collect() from addcleanup/testing', function () {
  it('returns exactly 1,234 for 1,234 dead objects, runs each cleanup once, and leaves live ones alone', async function () {
    await flush();
    const counts = new Uint8Array(1234);
    let liveRan = 0;
    const live = [];
    for (let i = 0; i < 10; i++) {
      const obj = { live: i };
      live.push(obj);
      addCleanup(obj, () => liveRan++, i);
    }
    registerDropped(1234, (i) => counts[i]++);
    assert.equal(await testing.collect(), 1234);
    assert.ok(counts.every((c) => c === 1), 'every cleanup must have run exactly once');
    assert.equal(liveRan, 0, 'a registration of a live object ran');
    // Nothing is left: a second call finds nothing new.
    assert.equal(await testing.collect(), 0);
    assert.equal(live.length, 10); // keeps `live` reachable up to here
  });

  it('returns 0 when nothing dies (live registrations only)', async function () {
    await flush();
    let ran = 0;
    const live = [];
    for (let i = 0; i < 5; i++) {
      const obj = {};
      live.push(obj);
      addCleanup(obj, () => ran++, null);
    }
    assert.equal(await testing.collect(), 0);
    assert.equal(ran, 0);
    assert.equal(live.length, 5);
  });

  it('counts a chain: each cleanup\'s arg holds the only reference to the next watched object (needs one round per link)', async function () {
    await flush();
    const order = [];
    const LENGTH = 6;
    inScope(() => {
      const objs = [];
      for (let k = 0; k < LENGTH; k++) objs.push({ k });
      // Object k+1 is reachable only through object k's arg, which the
      // package holds until k's cleanup has run: it can die one round later.
      for (let k = 0; k < LENGTH; k++) addCleanup(objs[k], (a) => order.push(a.k), { k, next: objs[k + 1] });
    });
    assert.equal(await testing.collect(), LENGTH);
    assert.deepEqual(order, [0, 1, 2, 3, 4, 5]);
  });

  it('is bounded by timeoutMs when cleanups keep making new garbage, and counts what ran during the call', async function () {
    await flush();
    let ran = 0;
    let stopChain = false;
    // Every cleanup registers a new object that is garbage at once: without
    // the timeout, collect() would never see two quiet rounds.
    const link = () => {
      ran++;
      if (!stopChain) inScope(() => addCleanup({}, link, null));
    };
    // Long enough for several rounds: 200 ms, or 20 rounds' worth where one
    // gc() and two loop turns take longer (an emulated arm64 Node).
    const roundStart = performance.now();
    gc();
    await turn();
    await turn();
    const timeoutMs = Math.max(200, 20 * (performance.now() - roundStart));
    registerDropped(1, link);
    const n = await testing.collect({ timeoutMs });
    // Resolution and this continuation run in one macrotask: no cleanup can
    // run in between, so `ran` is exactly what ran during the call.
    assert.equal(n, ran);
    assert.ok(n >= 2, `expected several rounds of the endless chain, got ${n}`);
    stopChain = true;
    await testing.collect();
  });

  it('ESM: import("addcleanup/testing") gives the same collect, which counts registrations made through require()', async function () {
    const esm = await import('addcleanup/testing');
    assert.equal(esm.collect, testing.collect);
    await flush();
    let ran = 0;
    registerDropped(7, () => ran++);
    assert.equal(await esm.collect(), 7);
    assert.equal(ran, 7);
  });

  for (const kind of ['cjs', 'esm']) {
    it(`works in a child started WITHOUT --expose-gc (${kind}) and leaves no global gc behind`, async function () {
      const r = await runWithoutExposeGc('tools-collect-nogc.js', [kind]);
      assertCleanExit(r);
      const out = resultOf(r);
      assert.equal(out.execArgvHasExposeGc, false, 'the child must not have --expose-gc');
      assert.equal(out.gcBefore, 'undefined');
      // 300 dropped objects + a chain of 4; the 5 live ones never run.
      assert.equal(out.first, 304);
      assert.equal(out.ranAfterFirst, 300);
      assert.deepEqual(out.chainOrder, [0, 1, 2, 3]);
      assert.equal(out.gcAfter, 'undefined', 'collect() added a global gc');
      assert.equal(out.gcOwn, false);
      assert.equal(out.gcInNewContext, 'undefined', 'the --expose-gc flag was left on');
      assert.equal(out.second, 0);
      assert.equal(out.third, 10, 'the cached gc function must keep working');
      assert.equal(out.ranTotal, 310);
      assert.equal(out.gcAtEnd, 'undefined');
    });
  }

  it('refuses bad options synchronously (ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE)', function () {
    for (const [options, code, name] of [
      [null, 'ERR_INVALID_ARG_TYPE', 'options'],
      [5, 'ERR_INVALID_ARG_TYPE', 'options'],
      ['x', 'ERR_INVALID_ARG_TYPE', 'options'],
      [{ timeoutMs: '1' }, 'ERR_INVALID_ARG_TYPE', 'options.timeoutMs'],
      [{ timeoutMs: -1 }, 'ERR_INVALID_ARG_VALUE', 'options.timeoutMs'],
      [{ timeoutMs: NaN }, 'ERR_INVALID_ARG_VALUE', 'options.timeoutMs'],
    ]) {
      const error = thrown(() => testing.collect(options));
      assert.ok(error instanceof TypeError, `collect(${String(options)})`);
      assert.equal(error.code, code);
      assert.ok(error.message.includes(name), `${error.message} should name ${name}`);
    }
  });
});

// ---------------------------------------------------------------------------
describe('drainCleanups()', function () {
  it('with nothing queued resolves true, not synchronously but within one turn', async function () {
    await flush();
    let value;
    const p = drainCleanups();
    assert.ok(p instanceof Promise);
    p.then((v) => (value = v));
    await microtasks();
    assert.equal(value, undefined, 'it must let the loop turn once before answering');
    // drainCleanups' own setImmediate was queued before turn()'s, so by the
    // time turn() resolves, the promise has resolved too.
    await turn();
    assert.equal(value, true);
  });

  it('resolves only after a slow batch has finished (3 cleanups busy for 50 ms each)', async function () {
    await flush();
    const events = [];
    registerDropped(3, (i) => {
      events.push(`start ${i}`);
      busy(50);
      events.push(`end ${i}`);
    });
    // Called in the same job as gc(), before Node has run the finalizers:
    // after its first turn the three are queued, so it must wait for the
    // batch (≥ 150 ms of cleanups) to end.
    gc();
    const done = drainCleanups().then((v) => events.push(`drained ${v}`));
    events.push('called');
    await done;
    assert.equal(events.length, 8, events.join(', '));
    assert.equal(events[0], 'called');
    assert.equal(events[7], 'drained true');
    // The cleanups ran one after another, each from start to end.
    const ids = [];
    for (let k = 1; k < 7; k += 2) {
      const id = events[k].split(' ')[1];
      assert.equal(events[k], `start ${id}`);
      assert.equal(events[k + 1], `end ${id}`);
      ids.push(id);
    }
    assert.deepEqual(ids.sort(), ['0', '1', '2']);
  });

  it('`gc(); await drainCleanups()` in one job: every cleanup released by that gc() has run when it resolves', async function () {
    await flush();
    let ran = 0;
    registerDropped(5, () => {
      busy(2);
      ran++;
    });
    // Called in the same job as gc(): the finalizers have not run yet. Its
    // first turn lets them queue the cleanups, then it waits for the batch.
    gc();
    let ranAtResolve;
    const value = await drainCleanups().then((v) => {
      ranAtResolve = ran;
      return v;
    });
    assert.equal(value, true);
    assert.equal(ranAtResolve, 5);
  });

  it('waits across turns for a backlog delivered in several slices (3,000 cleanups)', async function () {
    needs(this, 'a turn between finalizer and delivery');
    const base = await flush();
    const N = 3000;
    let ran = 0;
    // ~10 µs each: a batch of 1024 takes longer than the queue's 4 ms slice,
    // so the backlog is delivered over several loop turns.
    registerDropped(N, () => {
      busy(0.01);
      ran++;
    });
    await deadAndQueued(N, base, 'the backlog');
    const seenBetween = [];
    let resolved = false;
    const tick = () => {
      if (resolved) return;
      seenBetween.push(ran);
      setImmediate(tick);
    };
    setImmediate(tick);
    let ranAtResolve;
    const value = await drainCleanups().then((v) => {
      resolved = true;
      ranAtResolve = ran;
      return v;
    });
    assert.equal(value, true);
    assert.equal(ranAtResolve, N, 'it resolved before the backlog was delivered');
    assert.ok(
      seenBetween.some((r) => r > 0 && r < N),
      `the backlog was not split over several turns (ticks saw ${seenBetween.join(',')}): the test did not exercise waiting`,
    );
  });

  it('resolves false when timeoutMs passes while the cleanups cannot run (loop blocked), and true later', async function () {
    needs(this, 'timers before finalizers');
    await flush();
    let ran = 0;
    registerDropped(2, () => ran++);
    // Found dead by this gc(): inside it where finalizers run in the GC (the
    // queue's wake-up then fires in the next poll phase, and delivers in the
    // check phase after it), or in this turn's check phase where they are
    // deferred. No await before the timeout can pass.
    gc();
    let ranAtResolve;
    const p = drainCleanups({ timeoutMs: 1 }).then((v) => {
      ranAtResolve = ran;
      return v;
    });
    // Block the loop for longer than the timeout: the next loop iteration
    // starts with the timers phase, where the overdue 1 ms timer fires,
    // before the phases where the queue could run the cleanups.
    busy(20);
    assert.equal(await p, false);
    assert.equal(ranAtResolve, 0, 'it timed out, so the cleanups cannot have run yet');
    assert.equal(await drainCleanups(), true);
    assert.equal(ran, 2);
  });

  it('does not force a GC: dropped objects whose collection needs a major GC are not cleaned up', async function () {
    await flush();
    let ran = 0;
    // Built in inScope(): only `hold` may reference the objects (a loop
    // variable of this async function could stay in its suspended frame).
    const hold = inScope(() => {
      const objs = [];
      for (let i = 0; i < 20; i++) {
        const obj = { i };
        objs.push(obj);
        addCleanup(obj, () => ran++, i);
      }
      return objs;
    });
    // Two full GCs while held: the objects move to the old generation, so
    // that only a major GC (which nothing but gc() would run here) could find
    // them dead.
    gc();
    gc();
    const pendingHeld = cleanupStats().pending;
    hold.length = 0;
    assert.equal(await drainCleanups(), true);
    assert.equal(ran, 0, 'drainCleanups() must not collect garbage by itself');
    assert.equal(cleanupStats().pending, pendingHeld, 'the dropped objects must still count as pending');
    // With a GC, the same call does run them.
    gc();
    assert.equal(await drainCleanups(), true);
    assert.equal(ran, 20);
  });

  it('its timeout timer is unref\'d (does not count as a ref\'d Timeout), unlike a plain setTimeout', async function () {
    needs(this, 'a turn between finalizer and delivery');
    const base = await flush();
    registerDropped(2, () => {});
    await deadAndQueued(2, base, 'the two objects');
    const refTimeouts = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    // Control: a plain timer does show up, so the measurement works.
    const before = refTimeouts();
    const control = setTimeout(() => {}, 60000);
    assert.equal(refTimeouts(), before + 1);
    clearTimeout(control);
    assert.equal(refTimeouts(), before);
    // The drain's timer is created synchronously in the call.
    const p = drainCleanups({ timeoutMs: 60000 });
    assert.equal(refTimeouts(), before, 'drainCleanups() created a ref\'d timer');
    assert.equal(await p, true);
    assert.equal(refTimeouts(), before);
  });

  it('does not keep a process alive: a child with an hour-long drainCleanups() timeout exits on its own with code 0', async function () {
    const r = await runFixture('tools-drain-exit.js', [], { timeoutMs: 30000 });
    assertCleanExit(r);
    const out = resultOf(r);
    assert.deepEqual(out, {
      first: true,
      ranAtFirst: 3,
      second: true,
      stats: { pending: 1, queued: 0, running: 0, executed: 3, stopped: 0, failed: 0 },
      refTimeouts: 0,
    });
    assert.match(r.stdout, /^EXIT 0$/m);
  });

  it('refuses bad options synchronously (ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE); accepts {}, undefined timeoutMs, 0 and Infinity', async function () {
    for (const [options, code, name] of [
      [null, 'ERR_INVALID_ARG_TYPE', 'options'],
      [5, 'ERR_INVALID_ARG_TYPE', 'options'],
      ['x', 'ERR_INVALID_ARG_TYPE', 'options'],
      [true, 'ERR_INVALID_ARG_TYPE', 'options'],
      [{ timeoutMs: '1' }, 'ERR_INVALID_ARG_TYPE', 'options.timeoutMs'],
      [{ timeoutMs: 10n }, 'ERR_INVALID_ARG_TYPE', 'options.timeoutMs'],
      [{ timeoutMs: null }, 'ERR_INVALID_ARG_TYPE', 'options.timeoutMs'],
      [{ timeoutMs: -1 }, 'ERR_INVALID_ARG_VALUE', 'options.timeoutMs'],
      [{ timeoutMs: NaN }, 'ERR_INVALID_ARG_VALUE', 'options.timeoutMs'],
    ]) {
      const error = thrown(() => drainCleanups(options));
      assert.ok(error instanceof TypeError, `drainCleanups(${String(options)})`);
      assert.equal(error.code, code);
      assert.ok(error.message.includes(name), `${error.message} should name ${name}`);
    }
    await flush();
    for (const options of [undefined, {}, { timeoutMs: undefined }, { timeoutMs: 0 }, { timeoutMs: Infinity }]) {
      // With nothing queued, the first turn answers (a 0 ms timer may win
      // the race instead: either answer is a boolean, never a throw).
      assert.equal(typeof (await drainCleanups(options)), 'boolean');
    }
    assert.equal(await drainCleanups({ timeoutMs: Infinity }), true);
  });
});

// ---------------------------------------------------------------------------
describe('cleanupStats()', function () {
  it('returns a fresh plain object with exactly the six numeric counters', function () {
    const a = cleanupStats();
    const b = cleanupStats();
    assert.notEqual(a, b, 'each call must return its own object');
    assert.deepEqual(Object.keys(a).sort(), STAT_KEYS);
    for (const key of STAT_KEYS) assert.equal(typeof a[key], 'number', key);
    a.pending = -1; // the caller owns it: writing to it changes nothing
    assert.notEqual(cleanupStats().pending, -1);
  });

  it('moves through a registration\'s life: pending, queued (after gc() + one turn), executed; stop() moves pending to stopped', async function () {
    needs(this, 'a turn between finalizer and delivery');
    const base = await flush();
    const log = [];
    const keep = {};
    const kept = addCleanup(keep, () => log.push('kept'), null);
    registerDropped(3, (i) => log.push(i));
    assert.deepEqual(cleanupStats(), statsWith(base, { pending: base.pending + 4 }));

    // Found dead: out of pending, into queued, not run yet.
    const queued = await deadAndQueued(3, base, 'the three objects');
    assert.deepEqual(queued, statsWith(base, { pending: base.pending + 1, queued: 3 }));
    assert.deepEqual(log, []);

    // Next poll phase: delivered.
    await turn();
    assert.deepEqual(cleanupStats(), statsWith(base, { pending: base.pending + 1, executed: base.executed + 3 }));
    assert.deepEqual(log.sort(), [0, 1, 2]);

    assert.equal(kept.stop(), true);
    const afterStop = statsWith(base, { executed: base.executed + 3, stopped: base.stopped + 1 });
    assert.deepEqual(cleanupStats(), afterStop);
    // A stop() that cancels nothing is not counted.
    assert.equal(kept.stop(), false);
    assert.deepEqual(cleanupStats(), afterStop);
    await settle(2);
    assert.deepEqual(cleanupStats(), afterStop);
    assert.deepEqual(log.sort(), [0, 1, 2]);
    void keep;
  });

  it('counts a cleanup that throws in executed and failed (uncaughtException listener installed)', async function () {
    const base = await flush();
    await withOnlyListener('uncaughtException', async (seen) => {
      let okRan = 0;
      inScope(() => {
        addCleanup(
          {},
          () => {
            throw new Error('tools: cleanup failed');
          },
          null,
        );
        addCleanup({}, () => okRan++, null);
      });
      await until(() => seen.length === 1 && okRan === 1, { what: 'the throwing and the normal cleanup' });
      await settle(1);
      assert.equal(seen.length, 1);
      assert.equal(seen[0].value.message, 'tools: cleanup failed');
      assert.deepEqual(
        cleanupStats(),
        statsWith(base, { executed: base.executed + 2, failed: base.failed + 1 }),
      );
    });
  });

  it('inside a batch of 3, each cleanup sees the batch\'s not-yet-run cleanups as queued (the 2nd sees the 3rd)', async function () {
    needs(this, 'a turn between finalizer and delivery');
    const base = await flush();
    const views = [];
    registerDropped(3, () => {
      const s = cleanupStats();
      views.push({ pending: s.pending, queued: s.queued, executed: s.executed });
    });
    // All three found dead by one gc(), so they are delivered as one batch.
    await deadAndQueued(3, base, 'the batch');
    await turn();
    assert.deepEqual(views, [
      { pending: base.pending, queued: 2, executed: base.executed + 1 },
      { pending: base.pending, queued: 1, executed: base.executed + 2 },
      { pending: base.pending, queued: 0, executed: base.executed + 3 },
    ]);
    assert.deepEqual(cleanupStats(), statsWith(base, { executed: base.executed + 3 }));
  });

  it('is per thread: a worker sees only its own registrations, and the main thread\'s counters do not move', async function () {
    await flush();
    // Main-thread registrations the worker must not see.
    const mine = [{}, {}];
    for (const obj of mine) addCleanup(obj, () => {}, null);
    const base = cleanupStats();

    const worker = new Worker(path.join(FIXTURES, 'tools-stats-worker.js'));
    const report = await new Promise((resolve, reject) => {
      let message;
      worker.on('message', (m) => (message = m));
      worker.on('error', reject);
      worker.on('exit', (code) => (code === 0 ? resolve(message) : reject(new Error(`worker exited with ${code}`))));
    });
    const zero = { pending: 0, queued: 0, running: 0, executed: 0, stopped: 0, failed: 0 };
    assert.deepEqual(report.start, zero);
    assert.deepEqual(report.registered, { ...zero, pending: 45 });
    assert.equal(report.stopResult, true);
    assert.deepEqual(report.stopped, { ...zero, pending: 44, stopped: 1 });
    assert.equal(report.collected, 40);
    assert.deepEqual(report.end, { ...zero, pending: 4, executed: 40, stopped: 1 });
    assert.equal(report.ran, 40);

    assert.deepEqual(cleanupStats(), base, 'the worker\'s activity showed in the main thread\'s counters');
    assert.equal(mine.length, 2);
  });
});

// ---------------------------------------------------------------------------
describe('debug mode (ADDCLEANUP_DEBUG=1, in child processes)', function () {
  const PATH_CASES = {
    property: 'arg.owner',
    'nested property': 'arg.owner.self',
    'array element': 'arg.list[2]',
    'arg is an array': 'arg[1]',
    'symbol key': 'arg[Symbol(k)]',
    'non-identifier key': 'arg["my-key"]',
    'Map value': "arg.byName.get('x')",
    'Map value, number key': 'arg.byId.get(42)',
    'Map key': 'arg.m.keys()[1]',
    'Set entry': 'arg.s.values()[1]',
    'depth 8': 'arg.a.a.a.a.a.a.a.a',
    'within the object bound': 'arg.list[100].x',
    'behind a cycle': 'arg.inner.again.owner',
  };
  const ACCEPTED_CASES = [
    'depth 9',
    'beyond 10,000 objects',
    'getter only',
    'getter on a nested object',
    'Proxy arg',
    'nested Proxy',
    'Proxy around a Map',
    'cycle',
  ];

  let on;
  let off;
  before(async function () {
    // One child per mode runs every case (the fixture lists them).
    const [rOn, rOff] = await Promise.all([
      runFixture('tools-debug-paths.js', [], { env: { ADDCLEANUP_DEBUG: '1' }, timeoutMs: 30000 }),
      runFixture('tools-debug-paths.js', [], { env: { ADDCLEANUP_DEBUG: '0' }, timeoutMs: 30000 }),
    ]);
    assertCleanExit(rOn);
    assertCleanExit(rOff);
    on = resultOf(rOn);
    off = resultOf(rOff);
    const all = ['arg itself', ...Object.keys(PATH_CASES), ...ACCEPTED_CASES].sort();
    assert.deepEqual(Object.keys(on).sort(), all, 'the fixture and the test disagree on the cases');
  });

  for (const [name, where] of Object.entries(PATH_CASES)) {
    it(`refuses an arg that references ptr and names the path: ${name} -> ${where}`, function () {
      const r = on[name];
      assert.equal(r.accepted, false, `${name}: accepted`);
      assert.equal(r.isTypeError, true);
      assert.equal(r.code, 'ERR_INVALID_ARG_VALUE');
      assert.ok(
        r.message.includes(`references ptr at ${where}:`),
        `${name}: message does not name ${where}: ${r.message}`,
      );
      assert.equal(r.registered, 0, 'a refused registration must register nothing');
      assert.deepEqual(r.userCode, [], 'the search ran user code');
    });
  }

  it('arg === ptr is still refused with its own message', function () {
    assert.equal(on['arg itself'].accepted, false);
    assert.equal(on['arg itself'].code, 'ERR_INVALID_ARG_VALUE');
    assert.match(on['arg itself'].message, /must not be ptr itself/);
  });

  it('stops at depth 8 and after 10,000 objects: ptr at depth 9 or behind 20,000 objects is not reported', function () {
    for (const name of ['depth 9', 'beyond 10,000 objects']) {
      assert.equal(on[name].accepted, true, `${name}: ${on[name].message}`);
      assert.equal(on[name].registered, 1);
    }
  });

  it('never runs getters, Proxy traps or patched Map/Set entry readers: ptr reachable only that way is not reported', function () {
    for (const name of ['getter only', 'getter on a nested object', 'Proxy arg', 'nested Proxy', 'Proxy around a Map']) {
      assert.equal(on[name].accepted, true, `${name}: ${on[name].message}`);
      assert.deepEqual(on[name].userCode, [], `${name}: user code ran during the search`);
    }
    // The Map/Set cases above ran with Map.prototype.forEach, .get, etc.
    // patched to log: none of them was called.
    for (const name of ['Map value', 'Map key', 'Set entry']) assert.deepEqual(on[name].userCode, [], name);
  });

  it('a cyclic arg does not hang the search (and is accepted)', function () {
    assert.equal(on.cycle.accepted, true);
    assert.equal(on.cycle.registered, 1);
  });

  it('with debug mode off there is no path search: every arg except ptr itself is accepted', function () {
    for (const [name, r] of Object.entries(off)) {
      if (name === 'arg itself') {
        assert.equal(r.accepted, false);
        assert.equal(r.code, 'ERR_INVALID_ARG_VALUE');
      } else {
        assert.equal(r.accepted, true, `${name} was refused with debug mode off: ${r.message}`);
        assert.equal(r.registered, 1);
      }
    }
  });

  function slowWarnings(out) {
    return out.warnings.filter((w) => w.code === 'ADDCLEANUP_SLOW_CLEANUP');
  }

  it('warns ADDCLEANUP_SLOW_CLEANUP for a cleanup slower than ADDCLEANUP_DEBUG_SLOW_MS, with the addCleanup() call\'s file:line', async function () {
    const r = await runFixture('tools-debug-slow.js', ['slow', '120'], {
      env: { ADDCLEANUP_DEBUG: '1', ADDCLEANUP_DEBUG_SLOW_MS: '50' },
      timeoutMs: 30000,
    });
    assertCleanExit(r);
    const out = resultOf(r);
    assert.deepEqual(out.ran, ['fast', 'slow']);
    const slow = slowWarnings(out);
    assert.equal(slow.length, 1, `expected one slow-cleanup warning (the no-op one must not warn): ${JSON.stringify(out.warnings)}`);
    const w = slow[0];
    assert.equal(w.name, 'AddCleanupWarning');
    assert.match(w.message, /^A cleanup ran for \d+(\.\d)? ms \(threshold 50 ms\)/);
    assert.ok(out.line > 0, 'the fixture lost its marker line');
    const [, registeredAt] = w.message.split('\nRegistered at:\n');
    assert.ok(registeredAt, `no registration stack in: ${w.message}`);
    // The first frame is the caller of addCleanup(), not the package.
    const firstFrame = registeredAt.split('\n')[0];
    assert.ok(
      firstFrame.includes(`${out.file}:${out.line}:`),
      `the first frame should be ${out.file}:${out.line}, got: ${firstFrame}`,
    );
    assert.ok(!registeredAt.includes(`${path.sep}dist${path.sep}`), `package frames in the stack: ${registeredAt}`);
  });

  it('the slow-cleanup threshold defaults to 100 ms', async function () {
    const r = await runFixture('tools-debug-slow.js', ['slow', '150'], {
      env: { ADDCLEANUP_DEBUG: '1', ADDCLEANUP_DEBUG_SLOW_MS: '' },
      timeoutMs: 30000,
    });
    assertCleanExit(r);
    const slow = slowWarnings(resultOf(r));
    assert.equal(slow.length, 1);
    assert.match(slow[0].message, /\(threshold 100 ms\)/);
  });

  it('warns ADDCLEANUP_QUEUE_DELAY when a batch waited in the queue longer than the threshold (loop blocked after the gc)', async function () {
    needs(this, 'a turn between finalizer and delivery');
    const r = await runFixture('tools-debug-slow.js', ['delay', '150'], {
      env: { ADDCLEANUP_DEBUG: '1', ADDCLEANUP_DEBUG_SLOW_MS: '50' },
      timeoutMs: 30000,
    });
    assertCleanExit(r);
    const out = resultOf(r);
    assert.deepEqual(out.ran, ['fast0', 'fast1', 'fast2']);
    const delays = out.warnings.filter((w) => w.code === 'ADDCLEANUP_QUEUE_DELAY');
    // One batch, one warning.
    assert.equal(delays.length, 1, JSON.stringify(out.warnings));
    assert.equal(delays[0].name, 'AddCleanupWarning');
    assert.match(delays[0].message, /^Cleanups waited \d+ ms in the queue .*\(threshold 50 ms\)/);
  });

  for (const mode of ['slow', 'delay']) {
    it(`with debug mode off: no warnings at all (${mode === 'slow' ? 'a 120 ms cleanup' : 'a batch delayed 150 ms'}, threshold 50 ms)`, async function () {
      // Delaying a batch needs a turn between its finalizers and its delivery.
      if (mode === 'delay') needs(this, 'a turn between finalizer and delivery');
      const r = await runFixture('tools-debug-slow.js', [mode], {
        env: { ADDCLEANUP_DEBUG: '0', ADDCLEANUP_DEBUG_SLOW_MS: '50' },
        timeoutMs: 30000,
      });
      assertCleanExit(r);
      const out = resultOf(r);
      assert.equal(out.ran.length, mode === 'slow' ? 2 : 3);
      assert.deepEqual(out.warnings, []);
      assert.ok(!r.stderr.includes('ADDCLEANUP_'), r.stderr);
    });
  }
});

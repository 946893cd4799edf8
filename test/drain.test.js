'use strict';
// drainCleanups(): waits until nothing is queued or being delivered, within
// its timeout, and never keeps the process alive.
const assert = require('node:assert/strict');
const {
  requireGc,
  turn,
  until,
  inScope,
  thrown,
  runFixture,
  assertCleanExit,
  needs,
  microtasks,
  busy,
  flush,
  registerDropped,
  deadAndQueued,
  resultOf,
} = require('./helpers');
const { addCleanup, drainCleanups, cleanupStats } = require('..');

const gc = requireGc();

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
    // With collections, they do run: all 20, each once. (Bounded rounds, not
    // one gc(): Bun hands one collection's finalizers over in several turns
    // and scans the stack conservatively; CI saw 19 of 20 after one gc().)
    await until(() => ran === 20, { what: 'the 20 cleanups after gc()' });
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

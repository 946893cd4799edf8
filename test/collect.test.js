'use strict';
// collect() from 'addcleanup/testing': full collections until a round runs
// nothing new, with exact counts, with or without --expose-gc.
const assert = require('node:assert/strict');
const path = require('node:path');
const {
  requireGc,
  turn,
  until,
  inScope,
  thrown,
  runNode,
  assertCleanExit,
  needs,
  flush,
  registerDropped,
  resultOf,
} = require('./helpers');
const { addCleanup } = require('..');
const testing = require('addcleanup/testing');

const gc = requireGc();

const FIXTURES = path.join(__dirname, 'fixtures');

// Runs `node <fixture> ...args` WITHOUT --expose-gc.
function runWithoutExposeGc(fixture, args = [], timeoutMs = 30000) {
  return runNode([path.join(FIXTURES, fixture), ...args], { exposeGc: false, timeoutMs });
}

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

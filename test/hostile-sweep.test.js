'use strict';
// Hostile calls on the raw native binding, part 1: the sweep. Every function
// the binding exports is called with every kind of wrong value and in every
// way (test/fixtures/hostile-calls.js, in a child process so that a crash
// fails one test instead of killing mocha), and the exact outcome of each
// call is asserted from what native/addon.cc promises (listed at the top of
// test/hostile.test.js, which holds the other hostile scenarios).
const assert = require('node:assert/strict');
const { types } = require('node:util');
const { runFixture, assertCleanExit, assertNoCrashOutput, needs, runClean } = require('./helpers');
const { makeValues } = require('./fixtures/hostile-util');

// ---------------------------------------------------------------------------
// The sweep: expected outcome of every call of test/fixtures/hostile-calls.js

const KNOWN = ['setup', 'register', 'stop', 'reap', 'triggerUncaughtException', 'counts'];
const SHAPES = ['one', 'extra', 'thisNull', 'thisObject', 'thisPrimitive', 'new'];
// Names and types only: the values themselves are made again in the child.
const VALUES = makeValues().map(({ name, value }) => ({
  name,
  type: value === null ? 'null' : typeof value,
  // counts(out) fills and returns a Float64Array of 2+ elements and refuses
  // any other typed array (native/addon.cc).
  // (util.types: no Proxy trap is triggered.)
  countsOut:
    types.isFloat64Array(value) && value.length >= 2 ? 'fills' : types.isTypedArray(value) ? 'refuses' : undefined,
  // reap takes any Uint32Array, even a detached one (nothing to reap).
  reapTakes: types.isUint32Array(value),
}));
const objectLike = (type) => type === 'object' || type === 'function';

// During the sweep the child keeps exactly 3 live registrations and nothing
// queued, so counts() has one right answer.
const COUNTS = 'returns {"array":[{"number":3},{"number":0}]}';
const RETURNS_NEW_OBJECT = 'returns {"type":"object"}'; // `new` on a primitive result
const typeError = (arg) => `throws TypeError ERR_INVALID_ARG_TYPE "${arg}"`;

function expectedOutcome(fn, type, shape, countsOut, reapTakes) {
  const viaNew = (plain) => (shape === 'new' && !plain.startsWith('throws') && plain !== COUNTS ? RETURNS_NEW_OBJECT : plain);
  switch (fn) {
    case 'setup':
      if (shape === 'none') return typeError('deliver');
      return type === 'function' ? 'throws Error ERR_ADDCLEANUP_ALREADY_SET_UP' : typeError('deliver');
    case 'register':
      if (shape === 'none') return typeError('ptr');
      return objectLike(type) ? viaNew('returns an id') : typeError('ptr');
    case 'stop':
      if (shape === 'none') return typeError('id');
      return type === 'number' ? viaNew('returns {"boolean":false}') : typeError('id');
    case 'reap':
      if (shape === 'none') return typeError('slots');
      return reapTakes ? viaNew('returns "undefined"') : typeError('slots');
    case 'counts':
      if (shape !== 'none' && countsOut === 'fills') return 'returns {"typedArray":"Float64Array","values":["3","0"]}';
      if (shape !== 'none' && countsOut === 'refuses') return typeError('out');
      return COUNTS;
    case 'triggerUncaughtException':
      return viaNew('returns "undefined"');
    default:
      throw new Error(`no expectation for ${fn}`);
  }
}

// One comparable line per outcome: what was returned, or which error (class,
// code and the quoted argument name in its message).
function normalize(fn, outcome) {
  if (outcome === undefined) return 'missing (the child never made this call)';
  if ('threw' in outcome) {
    const t = outcome.threw;
    if (t.notAnError) return `throws a non-Error (${t.notAnError})`;
    const arg = /"(\w+)"/.exec(t.message ?? '')?.[1];
    return `throws ${t.name} ${t.code}${arg ? ` "${arg}"` : ''}`;
  }
  const r = outcome.returned;
  if (fn === 'register' && typeof r?.number === 'number' && Number.isSafeInteger(r.number) && r.number >= 0) {
    return 'returns an id';
  }
  return `returns ${JSON.stringify(r)}`;
}

// `shapes`: the ways of calling to check (all by default).
function assertSweep(outcomes, fn, shapes = SHAPES) {
  const actual = {};
  const expected = {};
  const none = `${fn}|none|`;
  actual[none] = normalize(fn, outcomes[none]);
  expected[none] = expectedOutcome(fn, 'undefined', 'none');
  for (const { name, type, countsOut, reapTakes } of VALUES) {
    for (const shape of shapes) {
      const key = `${fn}|${shape}|${name}`;
      actual[key] = normalize(fn, outcomes[key]);
      expected[key] = expectedOutcome(fn, type, shape, countsOut, reapTakes);
    }
  }
  assert.deepEqual(actual, expected);
}

for (const target of ['main', 'fresh']) {
  const label =
    target === 'main'
      ? 'the package\'s own instance (set up by the package)'
      : 'a fresh instance (process.dlopen, setup not called before the sweep)';

  describe(`hostile: every binding function, every kind of value, every way of calling it: ${label}`, function () {
    before(function () {
      needs(this, 'the native binding');
      needs(this, 'new with a revoked Proxy');
    });

    let run;
    const sweep = async () => (await (run ??= runClean('hostile-calls.js', [target]))).report;

    it('the child survives all calls and exports at least setup/register/stop/reap/triggerUncaughtException/counts, all functions', async function () {
      const { extras } = await sweep();
      for (const name of KNOWN) assert.ok(extras.names.includes(name), `the binding no longer exports ${name}`);
    });

    if (target === 'fresh') {
      it('a second load of the addon: require() hands back the cached instance, process.dlopen a separate one', async function () {
        const { extras } = await sweep();
        assert.equal(extras.requireIsCached, true);
        assert.equal(extras.freshIsDistinct, true);
        assert.deepEqual(extras.firstSetup, { returned: 'undefined' }, 'setup(function) on the fresh instance');
      });
    }

    it('setup: TypeError ERR_INVALID_ARG_TYPE for anything but a function (none, extra args, any this, new); a second setup throws ERR_ADDCLEANUP_ALREADY_SET_UP', async function () {
      assertSweep((await sweep()).outcomes, 'setup');
    });

    it('register: an id for every object and function (Proxies, revoked Proxies, typed arrays, other contexts...), TypeError ERR_INVALID_ARG_TYPE for every primitive; each id stops once', async function () {
      const { outcomes, extras } = await sweep();
      assertSweep(outcomes, 'register');
      const objects = VALUES.filter((v) => objectLike(v.type)).length;
      // Five non-`new` ways of calling per object: each id stopped at once.
      assert.equal(extras.registerStops.length, objects * 5);
      assert.ok(extras.registerStops.every((stopped) => stopped === true), 'an id returned by register did not stop');
      // `new register(obj)` registered too (its id was lost): still pending.
      assert.equal(extras.newRegistered, objects);
      assert.deepEqual(extras.countsAfterRegister, [3 + objects, 0]);
    });

    it('stop: false for every number (NaN, ±Infinity, -0, fractions, negatives, 2^53, 1e308, stale generations), TypeError ERR_INVALID_ARG_TYPE for everything else; live registrations untouched', async function () {
      const { outcomes, extras } = await sweep();
      assertSweep(outcomes, 'stop');
      assert.deepEqual(extras.stopRound0, [true, true, true]);
      assert.deepEqual(extras.stopRound1, [true, true, true]);
      assert.deepEqual(extras.staleStops, [false, false, false, false, false, false], 'a stopped id stopped again');
      assert.deepEqual(extras.countsBefore, [3, 0]);
      assert.deepEqual(extras.countsAfterStops, [3, 0], 'a hostile stop() cancelled a live registration');
      assert.equal(new Set(extras.liveIds).size, 3);
      for (const id of extras.liveIds) assert.ok(Number.isSafeInteger(id) && id >= 0, `bad id ${id}`);
    });

    it('reap: undefined for every Uint32Array (detached included), TypeError ERR_INVALID_ARG_TYPE for everything else; live registrations untouched', async function () {
      const { outcomes, extras } = await sweep();
      assertSweep(outcomes, 'reap');
      assert.deepEqual(extras.countsAfterReaps, [3, 0], 'a hostile reap() freed a live registration');
      assert.deepEqual(extras.reapOfLive, { returned: 'undefined' });
    });

    it('counts: [pending, queued] whatever it is given and however it is called but with new; a Float64Array(2+) first argument is filled and returned, any other typed array is refused with TypeError ERR_INVALID_ARG_TYPE', async function () {
      assertSweep(
        (await sweep()).outcomes,
        'counts',
        SHAPES.filter((shape) => shape !== 'new'),
      );
    });

    it('counts called with new: the same outcomes as called plainly', async function () {
      needs(this, 'new on a Node-API function');
      const { outcomes } = await sweep();
      const withNew = Object.fromEntries(Object.entries(outcomes).filter(([key]) => key.startsWith('counts|new|')));
      assert.equal(Object.keys(withNew).length, VALUES.length);
      for (const { name, type, countsOut, reapTakes } of VALUES) {
        assert.deepEqual(normalize('counts', withNew[`counts|new|${name}`]), expectedOutcome('counts', type, 'new', countsOut, reapTakes), name);
      }
    });

    it('triggerUncaughtException: with a listener, every value (even revoked Proxies, symbols, undefined) is reported exactly once, as itself, and the call returns', async function () {
      const { outcomes, extras } = await sweep();
      assertSweep(outcomes, 'triggerUncaughtException');
      const wrong = Object.entries(extras.triggerReports).filter(
        ([, r]) => !(r.calls === 1 && r.same === true && r.origin === 'uncaughtException'),
      );
      assert.deepEqual(wrong, [], 'values not reported exactly once, as themselves');
      assert.equal(Object.keys(extras.triggerReports).length, 1 + VALUES.length * SHAPES.length);
    });

    it('functions this test does not know by name (if any) return or throw an Error', async function () {
      const { outcomes, extras } = await sweep();
      const unknown = extras.names.filter((name) => !KNOWN.includes(name));
      for (const name of unknown) {
        for (const [key, outcome] of Object.entries(outcomes)) {
          if (key.startsWith(`${name}|`)) {
            assert.ok(!outcome.threw?.notAnError, `${key} threw a non-Error`);
          }
        }
      }
    });

    it('after all that, the instance still works: live registrations are intact and stop, and a death is delivered exactly once', async function () {
      const { extras } = await sweep();
      assert.deepEqual(extras.countsAtEnd, extras.countsAfterRegister);
      assert.deepEqual(extras.liveStops, [true, true, true]);
      assert.equal(extras.deliveredAtEnd, true, 'a death after the sweep was never delivered');
      assert.ok(extras.deliveredCounts.every((n) => n === 1), `delivered ${extras.deliveredCounts} times`);
      assert.equal(extras.valuesKept, VALUES.length);
    });
  });
}


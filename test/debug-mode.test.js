'use strict';
// Debug mode (ADDCLEANUP_DEBUG=1): read once at load time, so it is tested in
// child processes.
const assert = require('node:assert/strict');
const path = require('node:path');
const { requireGc, turn, runFixture, assertCleanExit, needs, resultOf } = require('./helpers');
const { addCleanup } = require('..');

requireGc();

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

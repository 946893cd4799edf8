'use strict';
// checkCleanups() through the public API (the analysis itself is pinned in
// test/check-leaks.test.js, check-cuts.test.js and check-exact.test.js): it
// reports exactly the live registrations whose own cleanup or arg keeps ptr
// alive, and in debug mode says where they were made.
const assert = require('node:assert/strict');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { addCleanup, checkCleanups } = require('..');
const { inScope, runFixture, assertCleanExit, needs, RUNTIME } = require('./helpers');

describe('checkCleanups()', function () {
  before(function () {
    needs(this, 'v8 heap snapshot');
  });

  this.timeout(120000);

  it('reports a closure and an arg that keep ptr alive, and nothing else', async function () {
    const handles = [];
    inScope(() => {
      const viaClosure = { kind: 'closure' };
      handles.push(addCleanup(viaClosure, () => viaClosure.kind, 0));
    });
    inScope(() => {
      const viaArg = { kind: 'arg' };
      handles.push(addCleanup(viaArg, () => {}, { owner: viaArg }));
    });
    const fine = { kind: 'fine' }; // alive because this test holds it
    handles.push(addCleanup(fine, (n) => n, 1));
    try {
      const found = await checkCleanups();
      assert.deepEqual(
        found.map((entry) => entry.reason).sort(),
        ['arg', 'cleanup'],
        JSON.stringify(found),
      );
      // Debug mode is off here: no stacks.
      for (const entry of found) assert.equal(entry.stack, undefined);
    } finally {
      for (const handle of handles) handle.stop();
    }
    // Once stopped, nothing is left to report.
    assert.deepEqual(await checkCleanups(), []);
  });

  it('in debug mode, each report carries the stack of its addCleanup call', async function () {
    const result = await runFixture('check-api-debug.js', [], { env: { ADDCLEANUP_DEBUG: '1' } });
    assertCleanExit(result);
    const found = JSON.parse(result.stdout.trim().split('\n').pop());
    assert.equal(found.length, 1);
    assert.equal(found[0].reason, 'cleanup');
    assert.match(found[0].stack, /at registerLeaky \(.*check-api-debug\.js:\d+:\d+\)/);
  });

  it("inside a worker thread, reports the worker's own registrations, not the main thread's", async function () {
    // A leaky registration on the main thread, which the worker must not see.
    const handle = inScope(() => {
      const ptr = { kind: 'main' };
      return addCleanup(ptr, () => ptr.kind, 0);
    });
    try {
      const worker = new Worker(path.join(__dirname, 'fixtures', 'check-worker.js'));
      const messages = [];
      const errors = [];
      worker.on('message', (message) => messages.push(message));
      worker.on('error', (error) => errors.push(error));
      // A hang guard, not a timing assertion: a worker that never exits is
      // terminated, so that the test fails instead of keeping mocha alive.
      const guard = setTimeout(() => worker.terminate(), 60000);
      const exitCode = await new Promise((resolve) => worker.on('exit', resolve));
      clearTimeout(guard);
      assert.deepEqual(errors, []);
      assert.equal(exitCode, 0);
      assert.equal(messages.length, 1, JSON.stringify(messages));
      assert.equal(messages[0].error, undefined, messages[0].error);
      assert.deepEqual(
        messages[0].found.map((entry) => entry.reason).sort(),
        ['arg', 'cleanup'],
        JSON.stringify(messages[0].found),
      );
      // The main thread's own check still sees its own registration.
      assert.deepEqual(await checkCleanups(), [{ reason: 'cleanup' }]);
    } finally {
      handle.stop();
    }
  });
});

describe('checkCleanups() on each runtime', function () {
  it('rejects with ERR_ADDCLEANUP_CHECK_UNSUPPORTED naming the runtime on Bun (even with nothing registered), and resolves elsewhere', async function () {
    const ptr = {};
    const handle = addCleanup(ptr, () => {}, 1);
    try {
      if (RUNTIME.startsWith('Bun ')) {
        for (const attempt of [() => checkCleanups(), () => (handle.stop(), checkCleanups())]) {
          const error = await attempt().then(
            () => assert.fail('checkCleanups() resolved on Bun'),
            (e) => e,
          );
          assert.equal(error.code, 'ERR_ADDCLEANUP_CHECK_UNSUPPORTED');
          assert.ok(error.message.includes(`Bun ${globalThis.Bun.version}`), error.message);
        }
      } else {
        assert.deepEqual(await checkCleanups(), []);
      }
    } finally {
      handle.stop();
    }
  });
});

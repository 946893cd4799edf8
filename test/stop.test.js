'use strict';
// How stop() does its work (lib/core.ts, native/registry.h). With
// SharedArrayBuffer (the default), stop() reads and writes the registration's
// state word without calling into the addon, and the addon deletes the
// references of stopped registrations in one `reap` call on the next turn of
// the loop. Without SharedArrayBuffer there are no words, and
// stop() calls the addon at once. Every test here runs in both modes: npm test
// runs this file, and the last test below runs it (with go, delivery,
// lifetime, batches and api tests) again in a child whose SharedArrayBuffer
// global was deleted before the package loaded.
const assert = require('node:assert/strict');
const path = require('node:path');
const { requireGc, turn, turns, until, settle, inScope, runNode, assertCleanExit, needs } = require('./helpers');
const { addCleanup, cleanupStats } = require('..');
const { engine: binding } = require('../dist/engine/index');

const gc = requireGc();
const SPAN = 2 ** 32;
const shared = typeof SharedArrayBuffer === 'function' && binding.stateWords;
const mode = !binding.stateWords
  ? 'the JS engine (unregisters at once)'
  : shared
    ? 'state words (SharedArrayBuffer)'
    : 'no SharedArrayBuffer: the stop binding';

// The addon's own count of registrations it still watches: unlike
// cleanupStats(), reading it does not reap.
const nativePending = () => binding.counts()[0];

// The slots of the live registrations watching `objs` (binding.live() lists
// every pending registration with its object), in the order of `objs`.
function slotsOf(objs) {
  const [slots, targets] = binding.live();
  return objs.map((obj) => slots.filter((_, i) => targets[i] === obj));
}

describe(`stop(): ${mode}`, function () {
  it(`stop() of 1,000 registrations: each returns true once; the addon lets go of them ${shared ? 'on the next turn of the loop, by itself' : 'at once'}; cleanupStats() is exact at once`, async function () {
    needs(this, 'the native binding');
    await settle(2);
    const before = nativePending();
    const objs = [];
    const handles = [];
    let ran = 0;
    for (let i = 0; i < 1000; i++) {
      objs.push({ i });
      handles.push(addCleanup(objs[i], () => ran++, i));
    }
    assert.equal(nativePending(), before + 1000);
    assert.ok(handles.every((h) => h.stop() === true));
    assert.ok(handles.every((h) => h.stop() === false));
    assert.equal(
      nativePending(),
      shared ? before + 1000 : before,
      'when the addon let go of the stopped registrations',
    );
    await turn();
    assert.equal(nativePending(), before, 'the stopped registrations were not reaped after a turn');
    // Their slots are free again: new registrations take them.
    const again = objs.map((obj) => addCleanup(obj, () => ran++, 'again'));
    assert.equal(nativePending(), before + 1000);
    assert.ok(slotsOf(objs).every((slots) => slots.length === 1));
    assert.equal(cleanupStats().pending, before + 1000);
    assert.ok(again.every((h) => h.stop()));
    assert.equal(cleanupStats().pending, before, 'cleanupStats() does not count stopped registrations');
    assert.equal(nativePending(), before, 'cleanupStats() reaps at once');
    objs.length = 0;
    await settle(3);
    assert.equal(ran, 0);
  });

  it('stopped, then the objects die in the same turn (their finalizers run before the reap): no cleanup runs, every slot comes back', async function () {
    await settle(2);
    const before = nativePending();
    let ran = 0;
    inScope(() => {
      for (let i = 0; i < 2000; i++) addCleanup({ i }, () => ran++, i).stop();
    });
    gc();
    await turns(2);
    await settle(3);
    assert.equal(ran, 0, 'a stopped cleanup ran');
    assert.equal(nativePending(), before);
    assert.deepEqual([cleanupStats().pending, cleanupStats().queued], [before, 0]);
  });

  it('a long synchronous run of 100,000 stops between two turns: all reaped on the next turn, nothing runs', async function () {
    await settle(2);
    const before = nativePending();
    const objs = [];
    const handles = [];
    for (let i = 0; i < 100000; i++) {
      objs.push({ i });
      handles.push(addCleanup(objs[i], () => assert.fail('a stopped cleanup ran'), i));
    }
    let stopped = 0;
    for (const h of handles) if (h.stop()) stopped++;
    assert.equal(stopped, 100000);
    await turn();
    assert.equal(nativePending(), before);
    objs.length = 0;
    await settle(2);
  });

  it('stop() after the object died and its cleanup was queued: false, and the cleanup runs once (Go semantics, whichever mode)', async function () {
    let ran = 0;
    const handle = inScope(() => addCleanup({}, () => ran++, 'queued'));
    // gc() finds it dead; Node runs the finalizer (which queues the cleanup)
    // in an immediate; the queue then delivers on a later turn. Stop between
    // the two: after the finalizer ran, before the cleanup did.
    gc();
    await new Promise((resolve) => setImmediate(resolve));
    if (cleanupStats().queued === 1) {
      assert.equal(handle.stop(), false);
      await until(() => ran === 1, { what: 'the queued cleanup' });
    } else {
      // Delivered within that turn already: stop() is false all the same.
      await until(() => ran === 1, { what: 'the cleanup' });
      assert.equal(handle.stop(), false);
    }
    await settle(2);
    assert.equal(ran, 1);
  });

  it('ids whose slots were reused by later registrations stop nothing', async function () {
    const objs = [{}, {}, {}];
    const first = objs.map((obj) => addCleanup(obj, () => {}, 1));
    const firstSlots = slotsOf(objs).flat();
    assert.deepEqual(
      first.map((h) => h.stop()),
      [true, true, true],
    );
    await turn(); // reaped: the slots are free
    const second = objs.map((obj) => addCleanup(obj, () => {}, 2));
    assert.deepEqual(slotsOf(objs).flat().sort(), firstSlots.sort(), 'precondition: the slots were reused');
    assert.deepEqual(
      first.map((h) => h.stop()),
      [false, false, false],
    );
    assert.deepEqual(
      second.map((h) => h.stop()),
      [true, true, true],
    );
  });
});

if (shared) {
  describe('stop() without SharedArrayBuffer (the global deleted before the package loads)', function () {
    it('the same suites pass in a child where SharedArrayBuffer does not exist: stop, go, delivery, lifetime, batches and api tests', async function () {
      needs(this, 'node --require in child processes');
      this.timeout(180000);
      const mocha = path.join(path.dirname(require.resolve('mocha/package.json')), 'bin', 'mocha.js');
      const files = ['stop', 'go', 'delivery', 'lifetime', 'batches', 'api'].map((name) => path.join(__dirname, `${name}.test.js`));
      // The global deleted before anything loads (Node 20's
      // --no-harmony-sharedarraybuffer does the same; later Nodes refuse it).
      const preload = path.join(__dirname, 'fixtures', 'no-shared-array-buffer.js');
      const result = await runNode(
        ['--require', preload, mocha, '--no-config', '--timeout', '60000', '--reporter', 'spec', ...files],
        {
          timeoutMs: 170000,
        },
      );
      assertCleanExit(result);
      assert.match(
        result.stdout,
        /stop\(\): (no SharedArrayBuffer|the JS engine)/,
        'the child did not run in the mode without SharedArrayBuffer',
      );
      assert.match(result.stdout, /\d+ passing/);
      assert.doesNotMatch(result.stdout, /\d+ failing/);
      // Skipped only where this runtime lacks what a test needs, saying so
      // (needs() in test/helpers.js).
      const pending = Number(/(\d+) pending/.exec(result.stdout)?.[1] ?? 0);
      assert.equal(pending, (result.stdout.match(/ \[skipped on [^:\]]+: /g) ?? []).length, result.stdout);
    });
  });
}

describe('stop(): globals replaced after the package loaded', function () {
  it('SharedArrayBuffer and Int32Array replaced by look-alikes after load: new state pages are still right, every stop() works, no stopped cleanup runs', async function () {
    const { runFixture, parseResult } = require('./helpers');
    const result = await runFixture('stop-replaced-globals.js');
    assertCleanExit(result);
    assert.deepEqual(parseResult(result), { stopped: 5000, counted: 5000, ran: 0, pending: 0, queued: 0 });
  });
});

'use strict';
// Point 3, objects owned by another native addon: objects
// that a second addon has napi_wrap'ped, objects carrying that addon's own
// napi_add_finalizer finalizers, and napi_create_external values. addcleanup
// watches them with Node-API weak references of its own, so the two addons
// share one object: neither may disturb the other. Before death the object is
// unmodified and the other addon can still unwrap it; after death every
// finalizer of the other addon and every unstopped cleanup runs exactly once.
//
// The other addon is test/addon (plain C Node-API, test-only), built on
// demand by tools/build-test-addon.js into test/addon/build/. Its
// finalizers log the tag of every call in per-environment state; tags are
// unique across this file, because those logs are cumulative.
const assert = require('node:assert/strict');
const { addCleanup } = require('..');
const { ensureTestAddon } = require('../tools/build-test-addon');
const { inScope, until, settle } = require('./helpers');

let addon;

let nextTag = 1;
const newTag = () => nextTag++;

// How many times the test addon's finalizer of `kind` ('wrap', 'extra',
// 'external') ran for `tag`.
function finalizedCount(kind, tag) {
  return addon.finalized()[kind].filter((t) => t === tag).length;
}

// Everything about an object that addCleanup must leave unchanged.
function shape(obj) {
  return {
    descriptors: Object.getOwnPropertyDescriptors(obj),
    keys: Reflect.ownKeys(obj),
    proto: Object.getPrototypeOf(obj),
    extensible: Object.isExtensible(obj),
    sealed: Object.isSealed(obj),
    frozen: Object.isFrozen(obj),
  };
}

// Counts calls per arg, so that "exactly once" and "never" are both visible.
function makeCounter() {
  const calls = new Map();
  const cleanup = (arg) => calls.set(arg, (calls.get(arg) ?? 0) + 1);
  cleanup.count = (arg) => calls.get(arg) ?? 0;
  cleanup.total = () => [...calls.values()].reduce((a, b) => a + b, 0);
  return cleanup;
}

describe('other native addons: objects they own', function () {
  before('build (if needed) and load the test addon', async function () {
    // A fresh clone has no test/addon/build yet: node-gyp configure + one C
    // file takes a few seconds, far more on a loaded CI machine.
    this.timeout(300000);
    addon = require(await ensureTestAddon());
  });

  it('a napi_wrap\'ped class instance is unmodified by addCleanup, stays unwrappable, and its wrap finalizer and the cleanup each run once after death', async function () {
    const tag = newTag();
    const cleanup = makeCounter();
    // The holder is the only reference; the object is made in another frame.
    const holder = inScope(() => ({ obj: new addon.Wrapped(tag) }));
    const before = shape(holder.obj);
    const handle = addCleanup(holder.obj, cleanup, 'wrapped');
    assert.deepEqual(shape(holder.obj), before, 'addCleanup changed the wrapped object');
    assert.ok(holder.obj instanceof addon.Wrapped);
    assert.equal(addon.unwrapValue(holder.obj), tag, 'the other addon can no longer unwrap its object');

    // Alive: nothing runs, however many collections happen.
    await settle(3);
    assert.equal(cleanup.total(), 0);
    assert.equal(finalizedCount('wrap', tag), 0);
    assert.equal(addon.unwrapValue(holder.obj), tag);
    assert.deepEqual(shape(holder.obj), before);

    holder.obj = null;
    await until(() => cleanup.count('wrapped') === 1 && finalizedCount('wrap', tag) === 1, {
      what: 'cleanup and wrap finalizer of a dead wrapped object',
    });
    // More collections and turns: neither may run a second time.
    await settle(3);
    assert.equal(cleanup.total(), 1);
    assert.equal(finalizedCount('wrap', tag), 1);
    assert.equal(handle.stop(), false, 'stop() after the cleanup ran must return false');
  });

  it('an existing object wrapped AFTER addCleanup (plain and frozen) is unwrappable and both sides run once after death', async function () {
    const tags = [newTag(), newTag()];
    const cleanup = makeCounter();
    const holder = inScope(() => ({ objs: [{ plain: true }, Object.freeze({ frozen: true })] }));
    const shapes = holder.objs.map(shape);
    holder.objs.forEach((obj, i) => addCleanup(obj, cleanup, i));
    // The other addon wraps objects that addcleanup already watches.
    holder.objs.forEach((obj, i) => addon.wrap(obj, tags[i]));
    holder.objs.forEach((obj, i) => {
      assert.equal(addon.unwrapValue(obj), tags[i]);
      assert.deepEqual(shape(obj), shapes[i], `object ${i} changed`);
    });
    assert.equal(Object.isFrozen(holder.objs[1]), true);

    await settle(2);
    assert.equal(cleanup.total(), 0, 'a cleanup ran while its object was alive');

    holder.objs = null;
    await until(
      () => cleanup.count(0) === 1 && cleanup.count(1) === 1 && tags.every((t) => finalizedCount('wrap', t) === 1),
      { what: 'cleanups and wrap finalizers of wrapped plain/frozen objects' },
    );
    await settle(3);
    assert.equal(cleanup.total(), 2);
    assert.deepEqual(tags.map((t) => finalizedCount('wrap', t)), [1, 1]);
  });

  it('an object with the other addon\'s own napi_add_finalizer finalizers, interleaved with several addCleanups (same function and arg twice, one stopped): each unstopped cleanup and each finalizer runs once', async function () {
    const extra = [newTag(), newTag(), newTag()];
    const cleanup = makeCounter();
    const holder = inScope(() => ({ obj: { some: 'data' } }));
    const before = shape(holder.obj);
    // Interleaved, so that neither addon's weak references sit all at one end
    // of the object's list of finalizers.
    addon.addFinalizer(holder.obj, extra[0]);
    const a = addCleanup(holder.obj, cleanup, 'a');
    addon.addFinalizer(holder.obj, extra[1]);
    const b1 = addCleanup(holder.obj, cleanup, 'b');
    const b2 = addCleanup(holder.obj, cleanup, 'b'); // same function and arg again
    const c = addCleanup(holder.obj, cleanup, 'c');
    addon.addFinalizer(holder.obj, extra[2]);
    assert.deepEqual(shape(holder.obj), before, 'the object was modified');

    // Stopping one registration must not touch the other addon's finalizers
    // on the same object, nor the other registrations.
    assert.equal(c.stop(), true);
    assert.equal(c.stop(), false);
    assert.deepEqual(shape(holder.obj), before);

    await settle(2);
    assert.equal(cleanup.total(), 0);
    assert.deepEqual(extra.map((t) => finalizedCount('extra', t)), [0, 0, 0]);

    holder.obj = null;
    await until(
      () =>
        cleanup.count('a') === 1 &&
        cleanup.count('b') === 2 &&
        extra.every((t) => finalizedCount('extra', t) === 1),
      { what: 'cleanups and extra finalizers' },
    );
    await settle(3);
    assert.equal(cleanup.count('a'), 1);
    assert.equal(cleanup.count('b'), 2, 'the same function and arg registered twice runs twice');
    assert.equal(cleanup.count('c'), 0, 'the stopped cleanup ran');
    assert.deepEqual(extra.map((t) => finalizedCount('extra', t)), [1, 1, 1]);
    for (const h of [a, b1, b2, c]) assert.equal(h.stop(), false);
  });

  it('a napi_create_external value is unmodified by addCleanup, its pointer still readable, and its finalizer and the cleanup each run once after death', async function () {
    const tag = newTag();
    const cleanup = makeCounter();
    const holder = inScope(() => ({ ext: addon.createExternal(tag) }));
    assert.equal(typeof holder.ext, 'object');
    const before = shape(holder.ext);
    addCleanup(holder.ext, cleanup, 'ext');
    assert.deepEqual(shape(holder.ext), before, 'addCleanup changed the external');
    assert.equal(addon.externalValue(holder.ext), tag, 'the external\'s native pointer changed');

    await settle(2);
    assert.equal(cleanup.total(), 0);
    assert.equal(finalizedCount('external', tag), 0);

    holder.ext = null;
    await until(() => cleanup.count('ext') === 1 && finalizedCount('external', tag) === 1, {
      what: 'cleanup and finalizer of a dead external',
    });
    await settle(3);
    assert.equal(cleanup.total(), 1);
    assert.equal(finalizedCount('external', tag), 1);
  });

  it('one wrapped instance with two extra finalizers of the other addon and four addCleanups, two of them stopped: every finalizer once, exactly the unstopped cleanups once', async function () {
    const wrapTag = newTag();
    const extra = [newTag(), newTag()];
    const cleanup = makeCounter();
    const holder = inScope(() => ({ obj: new addon.Wrapped(wrapTag) }));
    const before = shape(holder.obj);

    const h1 = addCleanup(holder.obj, cleanup, 'w1');
    addon.addFinalizer(holder.obj, extra[0]);
    const h2 = addCleanup(holder.obj, cleanup, 'w2');
    const h3 = addCleanup(holder.obj, cleanup, 'w3');
    addon.addFinalizer(holder.obj, extra[1]);
    const h4 = addCleanup(holder.obj, cleanup, 'w4');

    assert.equal(h2.stop(), true);
    assert.equal(h4.stop(), true);
    assert.deepEqual(shape(holder.obj), before);
    assert.equal(addon.unwrapValue(holder.obj), wrapTag);

    holder.obj = null;
    await until(
      () =>
        cleanup.count('w1') === 1 &&
        cleanup.count('w3') === 1 &&
        finalizedCount('wrap', wrapTag) === 1 &&
        extra.every((t) => finalizedCount('extra', t) === 1),
      { what: 'all finalizers and unstopped cleanups' },
    );
    await settle(3);
    assert.deepEqual(['w1', 'w2', 'w3', 'w4'].map((arg) => cleanup.count(arg)), [1, 0, 1, 0]);
    assert.equal(finalizedCount('wrap', wrapTag), 1);
    assert.deepEqual(extra.map((t) => finalizedCount('extra', t)), [1, 1]);
    for (const h of [h1, h2, h3, h4]) assert.equal(h.stop(), false);
  });

  it('an external with two extra finalizers of the other addon and three addCleanups, one stopped: its finalizers once each, exactly the unstopped cleanups once', async function () {
    const extTag = newTag();
    const extra = [newTag(), newTag()];
    const cleanup = makeCounter();
    const holder = inScope(() => ({ ext: addon.createExternal(extTag) }));
    const before = shape(holder.ext);

    addon.addFinalizer(holder.ext, extra[0]);
    const e1 = addCleanup(holder.ext, cleanup, 'e1');
    const e2 = addCleanup(holder.ext, cleanup, 'e2');
    addon.addFinalizer(holder.ext, extra[1]);
    const e3 = addCleanup(holder.ext, cleanup, 'e3');
    assert.equal(e2.stop(), true);
    assert.deepEqual(shape(holder.ext), before);
    assert.equal(addon.externalValue(holder.ext), extTag);

    holder.ext = null;
    await until(
      () =>
        cleanup.count('e1') === 1 &&
        cleanup.count('e3') === 1 &&
        finalizedCount('external', extTag) === 1 &&
        extra.every((t) => finalizedCount('extra', t) === 1),
      { what: 'the external\'s finalizers and unstopped cleanups' },
    );
    await settle(3);
    assert.deepEqual(['e1', 'e2', 'e3'].map((arg) => cleanup.count(arg)), [1, 0, 1]);
    assert.equal(finalizedCount('external', extTag), 1);
    assert.deepEqual(extra.map((t) => finalizedCount('extra', t)), [1, 1]);
    for (const h of [e1, e2, e3]) assert.equal(h.stop(), false);
  });

  it('when every registration on a wrapped object is stopped, the other addon\'s finalizers still run once and no cleanup does', async function () {
    const wrapTag = newTag();
    const extraTag = newTag();
    const cleanup = makeCounter();
    const holder = inScope(() => ({ obj: new addon.Wrapped(wrapTag) }));
    addon.addFinalizer(holder.obj, extraTag);
    const handles = [addCleanup(holder.obj, cleanup, 1), addCleanup(holder.obj, cleanup, 2)];
    assert.deepEqual(handles.map((h) => h.stop()), [true, true]);
    assert.equal(addon.unwrapValue(holder.obj), wrapTag);

    holder.obj = null;
    await until(() => finalizedCount('wrap', wrapTag) === 1 && finalizedCount('extra', extraTag) === 1, {
      what: 'the other addon\'s finalizers',
    });
    await settle(3);
    assert.equal(cleanup.total(), 0, 'a stopped cleanup ran');
    assert.equal(finalizedCount('wrap', wrapTag), 1);
    assert.equal(finalizedCount('extra', extraTag), 1);
  });

  it('napi_remove_wrap by the other addon after addCleanup cancels only its wrap finalizer; the cleanup and its extra finalizer still run once', async function () {
    const wrapTag = newTag();
    const extraTag = newTag();
    const cleanup = makeCounter();
    const holder = inScope(() => ({ obj: new addon.Wrapped(wrapTag) }));
    const before = shape(holder.obj);
    addCleanup(holder.obj, cleanup, 'unwrapped');
    addon.addFinalizer(holder.obj, extraTag);
    assert.equal(addon.removeWrap(holder.obj), wrapTag);
    assert.throws(() => addon.unwrapValue(holder.obj), /napi_unwrap/, 'the wrap was not removed');
    assert.deepEqual(shape(holder.obj), before);

    holder.obj = null;
    await until(() => cleanup.count('unwrapped') === 1 && finalizedCount('extra', extraTag) === 1, {
      what: 'cleanup and extra finalizer of an unwrapped object',
    });
    await settle(3);
    assert.equal(cleanup.total(), 1);
    assert.equal(finalizedCount('extra', extraTag), 1);
    assert.equal(finalizedCount('wrap', wrapTag), 0, 'a removed wrap\'s finalizer ran');
  });

  it('300 wrapped instances, each with an extra finalizer and a cleanup, every other one stopped, all dying in one GC: each finalizer once, exactly the unstopped cleanups once', async function () {
    const N = 300;
    const first = nextTag;
    nextTag += 2 * N; // wrap tags first..first+N-1, extra tags after them
    const cleanup = makeCounter();
    const handles = inScope(() => {
      const list = [];
      for (let i = 0; i < N; i++) {
        const obj = new addon.Wrapped(first + i);
        addon.addFinalizer(obj, first + N + i);
        list.push(addCleanup(obj, cleanup, i));
      }
      return list; // handles do not keep their objects alive
    });
    for (let i = 0; i < N; i += 2) assert.equal(handles[i].stop(), true);

    const inRange = (tags, lo) => tags.filter((t) => t >= lo && t < lo + N);
    await until(
      () => {
        const done = addon.finalized();
        return (
          cleanup.total() === N / 2 &&
          inRange(done.wrap, first).length === N &&
          inRange(done.extra, first + N).length === N
        );
      },
      { what: `${N} wrapped objects finalized and ${N / 2} cleanups run` },
    );
    await settle(3);
    const done = addon.finalized();
    // Each tag exactly once: N distinct tags and N calls.
    assert.equal(new Set(inRange(done.wrap, first)).size, N);
    assert.equal(inRange(done.wrap, first).length, N);
    assert.equal(new Set(inRange(done.extra, first + N)).size, N);
    assert.equal(inRange(done.extra, first + N).length, N);
    for (let i = 0; i < N; i++) {
      assert.equal(cleanup.count(i), i % 2 === 0 ? 0 : 1, `cleanup ${i}`);
    }
  });
});

'use strict';
// The implementations under test, behind one interface, so that every figure
// runs exactly the same code around them.
//
//   const impl = IMPLS[name].create(onCleanup);
//   const handle = impl.register(obj, arg); // later, onCleanup(arg) runs once
//   impl.stop(handle);                      // -> boolean (only if hasStop)
//   impl.finishStops?.();                   // does now the work stop() deferred
//
// `onCleanup(arg)` is one shared function per process; `arg` is the
// registration's index (a small integer), which lets the figures check that
// every cleanup ran exactly once with the right argument.
//
// `load()` requires the package (it may throw: a native addon that did not
// install); `create()` is cheap and may be called once per process.
const path = require('node:path');

const ROOT = path.join(__dirname, '..');

// The package through its public API only, with `env` set before it loads.
// Each child is a fresh process, so setting a variable before the first
// require is what a user's environment would do.
// `root`: the checkout whose build is loaded (this one by default).
function publicApi(env = {}, root = () => ROOT) {
  return () => {
    Object.assign(process.env, env);
    const { addCleanup, cleanupStats } = require(root());
    const { finalizersInGc } = require(path.join(root(), 'dist', 'engine', 'index.js')).engine;
    return (onCleanup) => ({
      finalizersInGc,
      register: (obj, arg) => addCleanup(obj, onCleanup, arg),
      stop: (handle) => handle.stop(),
      // stop() leaves the deletion of its native references to the next
      // loop turn; cleanupStats() does it at once (it needs exact counts).
      finishStops: () => cleanupStats(),
    });
  };
}

const IMPLS = {
  // The package under test, on the native engine.
  addcleanup: {
    label: 'addcleanup',
    hasStop: true,
    load: publicApi({ ADDCLEANUP_ENGINE: 'native' }),
  },

  // The package on its JS engine (FinalizationRegistry), what users get
  // where no prebuilt binary matches and none was built.
  'addcleanup-js': {
    label: 'addcleanup JS engine',
    hasStop: true,
    load: publicApi({ ADDCLEANUP_ENGINE: 'js' }),
  },

  // The anchor of every ratio: the strongest FinalizationRegistry a user
  // could write for what Go's Stop needs. The held value carries the cleanup
  // and its arg, as a generic AddCleanup built on FR must, and is its own
  // unregister token (legal: a token may be any object, and the held value
  // is only held strongly by the registry), so one object per registration
  // is both what the user keeps as the handle and what stop() unregisters.
  'fr-token': {
    label: 'FR+token',
    hasStop: true,
    load() {
      return (onCleanup) => {
        const fr = new FinalizationRegistry((r) => r.f(r.a));
        return {
          register(obj, arg) {
            const r = { f: onCleanup, a: arg };
            fr.register(obj, r, r);
            return r;
          },
          stop: (r) => fr.unregister(r),
        };
      };
    },
  },

  // FR+token as it is often written: a separate fresh token object per
  // registration, held by the user as the handle, besides the held value.
  'fr-token-separate': {
    label: 'FR+separate token',
    hasStop: true,
    load() {
      return (onCleanup) => {
        const fr = new FinalizationRegistry((h) => h.cleanup(h.arg));
        return {
          register(obj, arg) {
            const token = {};
            fr.register(obj, { cleanup: onCleanup, arg }, token);
            return token;
          },
          stop: (token) => fr.unregister(token),
        };
      };
    },
  },

  // V8's floor: FinalizationRegistry without a token (so no way to cancel),
  // a bare id as the held value, nothing for the user to hold.
  'fr-raw': {
    label: 'FR-raw',
    hasStop: false,
    load() {
      return (onCleanup) => {
        const fr = new FinalizationRegistry(onCleanup);
        return {
          register(obj, arg) {
            fr.register(obj, arg);
            return undefined;
          },
          stop: null,
        };
      };
    },
  },

  // The old native peer (npm "weak-napi"): weak(obj, callback) returns a weak
  // reference (a Proxy) and calls callback() with no argument after obj is
  // collected. A closure per registration carries the arg, which is what a
  // user of its API has to do. It has no way to cancel.
  'weak-napi': {
    label: 'weak-napi',
    hasStop: false,
    optional: true,
    load() {
      const weak = require('weak-napi');
      return (onCleanup) => ({
        register: (obj, arg) => weak(obj, () => onCleanup(arg)),
        stop: null,
      });
    },
  },

  // The floor of any design with one Node-API reference per watched object:
  // test/addon's watch(), one napi_add_finalizer whose finalizer only counts
  // (no cleanup, no arg, no handle, no table), in the finalizer mode the
  // package's addon uses: ADDCLEANUP_TEST_ADDON_FINALIZERS_IN_GC=1 makes the
  // test addon declare its Node-API version by addcleanup's rule (inside the
  // GC on Node >= 20.10, deferred elsewhere or with
  // ADDCLEANUP_DEFERRED_FINALIZERS=1). It runs no user callback: its
  // "delivery" is the last finalizer's run (`deaths`), and it has no stop().
  'napi-ref': {
    label: 'Node-API ref',
    hasStop: false,
    optional: true,
    experiments: ['register', 'memory', 'gcpause', 'delivery', 'steady'],
    load() {
      process.env.ADDCLEANUP_TEST_ADDON_FINALIZERS_IN_GC = '1';
      const addon = require(require('../tools/build-test-addon').testAddonPath());
      return () => ({
        register: (obj) => addon.watch(obj),
        stop: null,
        deaths: () => addon.watchedCount(),
        finalizersInGc: addon.finalizersInGc,
      });
    },
  },

  // The floor of this API: napi-ref plus what every registration must give
  // back, a handle the user keeps, here an object of the Cleanup handle's
  // shape (one private field: 32 bytes on 64-bit Node). The handle is a young
  // object that survives, so every scavenge until it is promoted copies it:
  // this variant shows what that alone costs beside napi-ref. It still holds
  // no cleanup and no arg (16 more bytes per registration in the package).
  'napi-ref-handle': {
    label: 'Node-API ref + handle',
    hasStop: false,
    optional: true,
    experiments: ['register', 'memory', 'gcpause', 'delivery', 'steady'],
    load() {
      const floor = IMPLS['napi-ref'].load();
      class Handle {
        #id;
        constructor(id) {
          this.#id = id;
        }
      }
      return (onCleanup) => {
        const impl = floor(onCleanup);
        const watch = impl.register;
        return { ...impl, register: (obj, arg) => (watch(obj), new Handle(arg)) };
      };
    },
  },

  // The package with a subscriber on its tracing channel (issue 13): what
  // tracing costs per cleanup. The subscriber listens to all five events and
  // does the least a metrics exporter would: in `start` it adds waitedMs to
  // a count, a sum and a maximum. Its own work is thus a few nanoseconds;
  // the figure is what the package adds (the context object, a clock read
  // per run, runStores and the publishes).
  'addcleanup-traced': {
    label: 'addcleanup traced',
    hasStop: false,
    experiments: ['register', 'delivery', 'churn'],
    load() {
      const { addCleanup } = require(ROOT);
      const channel = require('node:diagnostics_channel').tracingChannel('addcleanup:cleanup');
      const waited = { count: 0, sum: 0, max: 0 };
      const nothing = () => {};
      channel.subscribe({
        start({ waitedMs }) {
          waited.count++;
          waited.sum += waitedMs;
          if (waitedMs > waited.max) waited.max = waitedMs;
        },
        end: nothing,
        asyncStart: nothing,
        asyncEnd: nothing,
        error: nothing,
      });
      return (onCleanup) => ({ register: (obj, arg) => addCleanup(obj, onCleanup, arg), stop: null });
    },
  },

  // Another build of the package, for a change's cost measured in the same
  // run as this one's: ADDCLEANUP_BENCH_BASELINE names its checkout (built,
  // with the engine boundary: lib/engine/), e.g. a git worktree of the
  // commit before the change. --impls=addcleanup,addcleanup-baseline.
  'addcleanup-baseline': {
    label: 'addcleanup baseline',
    hasStop: true,
    optional: true,
    load: publicApi({ ADDCLEANUP_ENGINE: 'native' }, () => {
      const root = process.env.ADDCLEANUP_BENCH_BASELINE;
      if (!root) throw new Error('set ADDCLEANUP_BENCH_BASELINE to a built checkout of the package');
      return path.resolve(root);
    }),
  },

  // The package in debug mode (ADDCLEANUP_DEBUG=1): the cost of its checks.
  // Not in the default run; ask for it with --impls=addcleanup,addcleanup-debug.
  'addcleanup-debug': {
    label: 'addcleanup debug',
    hasStop: true,
    optional: true,
    load: publicApi({ ADDCLEANUP_ENGINE: 'native', ADDCLEANUP_DEBUG: '1' }),
  },
};

// The default run: the package on both engines, the three ways to write it
// on FinalizationRegistry and the Node-API floor (the --json contract).
// weak-napi, the traced and the debug-mode variants run when asked for.
const NAMES = ['addcleanup', 'fr-token', 'fr-token-separate', 'fr-raw', 'napi-ref', 'addcleanup-js'];
const ALL_NAMES = Object.keys(IMPLS);

module.exports = { IMPLS, NAMES, ALL_NAMES, ROOT };

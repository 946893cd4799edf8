'use strict';
// The floor of anything built on one Node-API reference with a finalizer per
// watched object, beside addcleanup and FinalizationRegistry (with a token,
// as in the main bench) and without one (FR-raw), for three figures:
// registration of an already allocated object (ns per call), RSS per live
// registration (the objects themselves excluded), and the longest event-loop
// block when N watched objects die in one gc().
//
//   napi-empty   test/addon's watch(): napi_add_finalizer whose finalizer only
//                counts, its reference not even deleted. The test addon is a
//                plain Node-API 8 module: its finalizers are deferred by Node
//                into one native immediate per collection, the block that
//                addcleanup's engine avoids by having its finalizers called
//                inside the GC (native/runtime.h).
//   addcleanup   the package, through its public API
//   fr-token     FinalizationRegistry, register(obj, { cleanup, arg }, token)
//   fr-plain     FinalizationRegistry without a token, register(obj, i)
//
//   node bench/floor.js [--n=1000000] [--rounds=3]
//
// Each figure runs in a fresh `node --expose-gc` child. Not part of npm test.
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { median } = require('./stats');
const { IMPLS } = require('./impls');
const { commandLine } = require('../tools/cli');

const VARIANTS = ['napi-empty', 'addcleanup', 'fr-token', 'fr-plain'];

let implementation;

function child(variant, n) {
  const now = () => performance.now();
  let done;
  let register;
  let release = () => {};
  if (variant === 'napi-empty') {
    const addon = require(require('../tools/build-test-addon').ADDON_PATH);
    register = (obj) => addon.watch(obj);
    done = () => addon.watchedCount();
    release = () => addon.releaseWatched();
  } else {
    // addcleanup and FR+token exactly as the main bench runs them. A
    // FinalizationRegistry that becomes unreachable never calls back: the
    // implementation is kept in a module variable until the process ends.
    let ran = 0;
    implementation = IMPLS[variant].load()(() => ran++);
    register = implementation.register;
    done = () => ran;
  }
  // Packed arrays; the objects are allocated and promoted before anything
  // is measured, so that both figures are the registrations' alone (unlike
  // the main bench's registration figure, allocation is not included).
  const slots = (k) => Array.from({ length: k }, () => undefined);
  const registerAll = (objs, handles, k) => {
    for (let i = 0; i < k; i++) handles[i] = register(objs[i], i);
  };
  // In its own frame: the 2,000 warm-up objects are garbage once it returns,
  // and they die in a gc() below (their cleanups are counted with the rest).
  const warmUp = () => {
    const objs = Array.from({ length: 2000 }, (_, i) => ({ i }));
    registerAll(objs, slots(2000), 2000);
  };
  warmUp();
  let held = { objs: Array.from({ length: n }, (_, i) => ({ i })), handles: slots(n) };
  gc();
  gc();
  const rss0 = process.memoryUsage().rss;
  const r0 = now();
  registerAll(held.objs, held.handles, n);
  const registerNs = ((now() - r0) * 1e6) / n;
  gc(); // promotes them; nothing dies
  gc();
  const rssPerReg = (process.memoryUsage().rss - rss0) / n;
  held = null;
  const t0 = now();
  gc();
  const t1 = now();
  let last = now();
  let maxGap = 0;
  let turns = 0;
  const tick = () => {
    const t = now();
    maxGap = Math.max(maxGap, t - last);
    last = t;
    if (done() < n + 2000 && ++turns < 100000) return setImmediate(tick);
    release();
    const allRan = done() >= n + 2000; // the warm-up's objects die in the killing gc() too
    console.log(JSON.stringify({ variant, n, registerNs, rssPerReg, gcMs: t1 - t0, maxBlockMs: maxGap, allRan }));
    process.exit(0);
  };
  setImmediate(tick);
}

async function main({ n, rounds }) {
  await require('../tools/build-test-addon').ensureTestAddon();
  const results = Object.fromEntries(VARIANTS.map((v) => [v, []]));
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < VARIANTS.length; k++) {
      const variant = VARIANTS[(k + r) % VARIANTS.length];
      const out = spawnSync(process.execPath, ['--expose-gc', __filename, `--child=${variant}`, `--n=${n}`], {
        cwd: path.join(__dirname, '..'),
        encoding: 'utf8',
      });
      const line = out.stdout.trim().split('\n').pop();
      const result = JSON.parse(line);
      if (!result.allRan) throw new Error(`${variant}: not every finalizer or cleanup ran`);
      results[variant].push(result);
    }
  }
  const figures = [
    ['registerNs', 'registration of an allocated object (ns per call)'],
    ['rssPerReg', 'RSS per live registration (bytes)'],
    ['maxBlockMs', 'longest loop block after one gc() killed them all (ms)'],
  ];
  console.log(`N = ${n.toLocaleString('en-US')} watched objects, medians of ${rounds} rounds`);
  for (const [key, label] of figures) {
    console.log(label);
    for (const v of VARIANTS) {
      const values = results[v].map((r) => r[key]);
      console.log(`  ${v.padEnd(11)} ${median(values).toFixed(1).padStart(8)}   (${values.map((x) => x.toFixed(0)).join(', ')})`);
    }
  }
}

// --child=<variant> is how main() starts each measurement.
const { values, fail } = commandLine({
  name: 'bench/floor.js',
  usage: 'usage: node bench/floor.js [--n=1000000] [--rounds=3]',
  options: {
    n: { type: 'string', default: '1000000' },
    rounds: { type: 'string', default: '3' },
    child: { type: 'string' },
  },
});
const [n, rounds] = ['n', 'rounds'].map((name) => {
  const v = Number(values[name]);
  if (!Number.isInteger(v) || v < 1) fail(`--${name} needs a positive integer (got ${values[name]})`);
  return v;
});
if (values.child !== undefined) child(values.child, n);
else {
  main({ n, rounds }).catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}

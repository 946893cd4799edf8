'use strict';
// The floor of the longest event-loop block when N watched objects die in one
// gc(), for anything built on Node-API finalizers, beside addcleanup and
// FinalizationRegistry (with a token, as in the main bench):
//
//   napi-empty   test/addon's watch(): napi_add_finalizer whose finalizer only
//                counts, its reference not even deleted (the least a Node-API
//                finalizer can cost: what remains is Node's own loop over
//                its pending finalizers, in one native immediate)
//   addcleanup   the package (the block is that same immediate; its own queue
//                then delivers in 4 ms slices)
//   fr-token     FinalizationRegistry, register(obj, { cleanup, arg }, token)
//
//   node bench/floor.js [--n=1000000] [--rounds=3]
//
// Each figure runs in a fresh `node --expose-gc` child. Not part of npm test.
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { median } = require('./stats');
const { IMPLS } = require('./impls');

const VARIANTS = ['napi-empty', 'addcleanup', 'fr-token'];

let implementation;

function child(variant, n) {
  const now = () => performance.now();
  let done;
  let register;
  let release = () => {};
  if (variant === 'napi-empty') {
    const addon = require(require('../scripts/build-test-addon').ADDON_PATH);
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
  let held = { objs: new Array(n), handles: new Array(n) };
  for (let i = 0; i < n; i++) {
    held.objs[i] = { i };
    held.handles[i] = register(held.objs[i], i);
  }
  gc(); // promotes them; nothing dies
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
    if (done() < n && ++turns < 100000) return setImmediate(tick);
    release();
    console.log(JSON.stringify({ variant, n, gcMs: t1 - t0, maxBlockMs: maxGap, allRan: done() >= n }));
    process.exit(0);
  };
  setImmediate(tick);
}

async function main() {
  const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
  const n = Number(args.n ?? 1e6);
  const rounds = Number(args.rounds ?? 3);
  await require('../scripts/build-test-addon').ensureTestAddon();
  const results = Object.fromEntries(VARIANTS.map((v) => [v, []]));
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < VARIANTS.length; k++) {
      const variant = VARIANTS[(k + r) % VARIANTS.length];
      const out = spawnSync(process.execPath, ['--expose-gc', __filename, '--child', variant, String(n)], {
        cwd: path.join(__dirname, '..'),
        encoding: 'utf8',
      });
      const line = out.stdout.trim().split('\n').pop();
      const result = JSON.parse(line);
      if (!result.allRan) throw new Error(`${variant}: not every finalizer or cleanup ran`);
      results[variant].push(result.maxBlockMs);
    }
  }
  console.log(
    `longest loop block after one gc() killed N = ${n.toLocaleString('en-US')} watched objects (ms, median of ${rounds})`,
  );
  for (const v of VARIANTS) {
    const m = median(results[v]);
    console.log(
      `  ${v.padEnd(11)} ${m.toFixed(1).padStart(8)}   (${results[v].map((x) => x.toFixed(0)).join(', ')})`,
    );
  }
}

if (process.argv[2] === '--child') child(process.argv[3], Number(process.argv[4]));
else {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}

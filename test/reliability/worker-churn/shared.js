'use strict';
// What the main thread and each worker of the worker churn share: the layout
// of the worker's Int32Array on a SharedArrayBuffer, which the main thread
// reads even after it terminated the worker.

// Fields of the shared Int32Array. VIOLATIONS lists the counters that must
// stay 0.
const F = {
  REGISTERED: 0, // dying registrations made (wave and re-entrant ones)
  RAN: 1, // dying cleanups run
  STOPPED_TRUE: 2, // stop() calls on dying registrations that returned true
  THROWN: 3, // cleanups that threw
  CAUGHT: 4, // errors seen by the worker's 'uncaughtException' listener
  RE_ADD: 5, // addCleanup() calls made from inside a cleanup
  RE_STOP: 6, // stop() calls made from inside a cleanup
  RE_GC: 7, // gc() calls made from inside a cleanup
  PHASE: 8, // what the worker is doing (PHASES below)
  MESSAGES: 9, // progress messages posted
  LIVE: 10, // registrations on objects kept alive
  STOPPED_LIVE: 11, // registrations stopped while their object was alive
  WAVE: 12, // current wave
  // Violations:
  V_STOPPED_RAN: 13, // a stopped registration's cleanup ran
  V_DUP: 14, // a cleanup ran twice
  V_THREAD: 15, // a cleanup ran on another thread
  V_ARGS: 16, // wrong arg, `this` or argument count
  V_LIVE_RAN: 17, // the cleanup of a live object ran
  V_STOP_LIVE: 18, // stop() of a live pending registration did not return true (or a second stop() did not return false)
  V_SYNC: 19, // a cleanup ran inside addCleanup(), gc() or another cleanup
  V_STOP_AFTER_RUN: 20, // stop() returned true after the cleanup had run
  V_CAUGHT: 21, // the listener saw an error no cleanup threw (or one twice)
  V_OTHER: 22, // anything else (an unexpected exception in the worker's script)
  LENGTH: 23,
};
const VIOLATIONS = [
  'V_STOPPED_RAN',
  'V_DUP',
  'V_THREAD',
  'V_ARGS',
  'V_LIVE_RAN',
  'V_STOP_LIVE',
  'V_SYNC',
  'V_STOP_AFTER_RUN',
  'V_CAUGHT',
  'V_OTHER',
];
// F.PHASE holds an index into PHASES.
const PHASES = ['booting', 'setup', 'registering', 'in the loop', 'inside a cleanup', 'final drain', 'done'];
const [P_BOOT, P_SETUP, P_REGISTER, P_LOOP, P_CLEANUP, P_DRAIN, P_DONE] = PHASES.keys();

const turn = () => new Promise((resolve) => setImmediate(resolve));

module.exports = { F, VIOLATIONS, PHASES, P_BOOT, P_SETUP, P_REGISTER, P_LOOP, P_CLEANUP, P_DRAIN, P_DONE, turn };

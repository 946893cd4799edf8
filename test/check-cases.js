'use strict';
// The registrations that the tests of findUnreachableCleanups (lib/check/,
// the exact analysis behind checkCleanups()) are made of, and check(), which
// runs the analysis on them. Used by test/check-leaks.test.js (what is
// reported), test/check-cuts.test.js (what is not) and
// test/check-exact.test.js (agreement with a naive search, scale, input).
//
// Given the live registrations (ptr, cleanup, arg), the analysis reports
// those whose ptr is reachable from their own arg (reason 'arg') or cleanup
// (reason 'cleanup') along strong references, so that they can never run;
// registrations that are fine must not be reported.
//
// "Reachable" is taken as lib/check/classify.ts defines it: through objects
// that only the stack, the watched objects and the registrations keep alive.
// Objects that the program's persistent state (globals, module scopes, Node's
// timers and handles...) keeps alive by itself are not entered: a ptr alive
// through them is alive anyway, not because of its cleanup.
//
// Every call takes a heap snapshot of this process, so each test makes few
// calls. Each call also registers some fine neighbours where that is useful,
// and every test compares the WHOLE result with deepEqual: the expected
// indices and reasons, nothing else.
//
// The objects of each registration are made by a function of their own
// (below, at module level): a closure made in a function scope keeps every
// context-allocated variable of that scope alive (V8 shares one context per
// scope), so two cases made in one scope would leak into each other.
//
// The module under test is dist/check/index.js (compiled from lib/check/).
// ADDCLEANUP_CHECK_MODULE may name another compiled copy (development).
const path = require('node:path');

const MODULE = process.env.ADDCLEANUP_CHECK_MODULE
  ? path.resolve(process.env.ADDCLEANUP_CHECK_MODULE)
  : path.join(__dirname, '..', 'dist', 'check', 'index');
const { findUnreachableCleanups } = require(MODULE);

// Runs the analysis on registrations given as { ptr, cleanup, arg } objects.
function check(registrations, exclude = []) {
  return findUnreachableCleanups({
    ptrs: registrations.map((r) => r.ptr),
    cleanups: registrations.map((r) => r.cleanup),
    args: registrations.map((r) => r.arg),
    exclude,
  });
}

// Module-level functions: their scope is this module's, which the module
// cache keeps alive (through its exports), so they reach nothing of a case.
const noop = () => {};
function release(resource) {
  return resource;
}
function use(value) {
  return value;
}
class Private {
  #held;
  constructor(value) {
    this.#held = value;
  }
  get held() {
    return this.#held;
  }
}

// --- registrations that keep their ptr reachable through arg ---------------
function argOwner() {
  const ptr = { kind: 'ptr' };
  return { ptr, cleanup: noop, arg: { owner: ptr } };
}
function argNestedArrays() {
  const ptr = { kind: 'ptr' };
  return { ptr, cleanup: noop, arg: [1, [2, ptr]] };
}
function argMapValue() {
  const ptr = { kind: 'ptr' };
  return { ptr, cleanup: noop, arg: new Map([[{ key: true }, ptr]]) };
}
function argMapKey() {
  const ptr = { kind: 'ptr' };
  return { ptr, cleanup: noop, arg: new Map([[ptr, 'value']]) };
}
function argSet() {
  const ptr = { kind: 'ptr' };
  return { ptr, cleanup: noop, arg: new Set([ptr]) };
}
function argPrivateField() {
  const ptr = { kind: 'ptr' };
  return { ptr, cleanup: noop, arg: new Private(ptr) };
}

// --- registrations that keep their ptr reachable through cleanup -----------
function cleanupCaptures() {
  const ptr = { kind: 'ptr' };
  return { ptr, cleanup: () => use(ptr), arg: 'fd' };
}
function cleanupBound() {
  const ptr = { kind: 'ptr' };
  return { ptr, cleanup: release.bind(null, ptr), arg: 7 };
}
// V8 allocates `ptr` in this scope's context because `other` captures it; the
// cleanup, made in the same scope, gets the same context although it never
// mentions ptr. Returns `other` only for tests that need to hold it.
function cleanupSharesScope() {
  const ptr = { kind: 'ptr' };
  const other = () => ptr;
  const cleanup = () => {};
  return { ptr, cleanup, arg: undefined, other };
}
// A watched function used as its own cleanup.
function cleanupIsPtr() {
  const ptr = function watched() {};
  return { ptr, cleanup: ptr, arg: null };
}
// Both paths: 'arg' wins.
function bothPaths() {
  const ptr = { kind: 'ptr' };
  return { ptr, cleanup: () => use(ptr), arg: { owner: ptr } };
}

// --- fine registrations -----------------------------------------------------
function fine() {
  const ptr = { kind: 'ptr' };
  return { ptr, cleanup: () => {}, arg: { fd: 3 } };
}
function finePrimitiveArgs(arg) {
  const ptr = { kind: 'ptr' };
  return { ptr, cleanup: release, arg };
}
function fineWeakRef() {
  const ptr = { kind: 'ptr' };
  return { ptr, cleanup: noop, arg: new WeakRef(ptr) };
}
function fineWeakMapKey() {
  const ptr = { kind: 'ptr' };
  return { ptr, cleanup: noop, arg: new WeakMap([[ptr, { value: true }]]) };
}
function fineWeakSet() {
  const ptr = { kind: 'ptr' };
  return { ptr, cleanup: noop, arg: new WeakSet([ptr]) };
}
function fineGlobal(name) {
  const ptr = { kind: 'ptr' };
  globalThis[name] = ptr;
  return { ptr, cleanup: () => {}, arg: { unrelated: true } };
}

module.exports = {
  findUnreachableCleanups,
  check,
  noop,
  release,
  use,
  argOwner,
  argNestedArrays,
  argMapValue,
  argMapKey,
  argSet,
  argPrivateField,
  cleanupCaptures,
  cleanupBound,
  cleanupSharesScope,
  cleanupIsPtr,
  bothPaths,
  fine,
  finePrimitiveArgs,
  fineWeakRef,
  fineWeakMapKey,
  fineWeakSet,
  fineGlobal,
};

'use strict';
// What the model registers on and passes as args: targets of many kinds and
// args of many kinds (see ./index.js for THE MODEL).
const vm = require('node:vm');
const { tag } = require('./state');

// ---------------------------------------------------------------------------
// Targets of varied kinds (point 3). Every factory is a separate function with
// no captured variables, so that no closure context links one target to
// another object.
class Plain {
  constructor() {
    this.a = 1;
  }
}
class WithPrivate {
  #secret = 1;
  peek() {
    return this.#secret;
  }
}
function noop() {}
const proxyHandler = {};
const weakRefTarget = {};
const otherContext = vm.createContext({});
const makeForeign = vm.runInContext('() => ({ foreign: true })', otherContext);
function makeFunction() {
  return function target() {};
}
function makeArrow() {
  return () => 0;
}
const KINDS = [
  ['plain', () => ({})],
  ['plain', () => ({ x: 1, y: 'two' })],
  ['frozen', () => Object.freeze({ x: 1 })],
  ['sealed', () => Object.seal({ x: 1 })],
  ['nonExtensible', () => Object.preventExtensions({ x: 1 })],
  ['nullProto', () => Object.create(null)],
  ['array', () => [1, 2, 3]],
  ['map', () => new Map([[1, 2]])],
  ['set', () => new Set([1])],
  ['function', makeFunction],
  ['arrow', makeArrow],
  ['bound', () => makeFunction().bind(null)],
  ['class', () => new Plain()],
  ['private', () => new WithPrivate()],
  ['proxy', () => new Proxy({}, proxyHandler)],
  ['arrayBuffer', () => new ArrayBuffer(16)],
  ['typedArray', () => new Float64Array(4)],
  ['buffer', () => Buffer.alloc(8)],
  ['promise', () => new Promise(noop)],
  ['weakRef', () => new WeakRef(weakRefTarget)],
  ['date', () => new Date(0)],
  ['regexp', () => /model/g],
  ['boxed', () => Object('boxed')],
  ['foreignContext', makeForeign],
  ['largeArray', () => new Array(20000)], // large-object space
];

function makeTarget(kind) {
  return KINDS[kind % KINDS.length][1]();
}

// Args of varied kinds. Shared arg objects live for the whole run.
const SHARED_ARGS = [{}, [], Object.freeze({ shared: true }), makeFunction(), new Map()];
for (const o of SHARED_ARGS) tag(o);
const PRIMITIVES = [undefined, null, 0, -0, NaN, 1.5, -7, 2 ** 53, '', 'text', true, false, 10n, -(2n ** 70n)];

function freshObjectArg(pick) {
  switch (pick % 5) {
    case 0:
      return {};
    case 1:
      return [pick];
    case 2:
      return Object.freeze({ pick });
    case 3:
      return makeArrow();
    default:
      return new Uint8Array(2);
  }
}

module.exports = { KINDS, makeTarget, makeFunction, SHARED_ARGS, PRIMITIVES, freshObjectArg };

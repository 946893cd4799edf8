'use strict';
// Registrations made the way the JavaScript engine (FinalizationRegistry)
// makes them, for the tests of findUnreachableCleanups given `cells`: one
// registry, one token per registration that is both the held value and the
// unregister token, and no reference kept to ptr.
//
// Also an adapter with the analyser's interface that turns `ptrs` into
// `cells`, so that the whole check suite can run through cells:
//   ADDCLEANUP_CHECK_MODULE=test/check-cells.js npx mocha test/check-*.test.js
const path = require('node:path');

const { findUnreachableCleanups: analyse } = require(path.join(__dirname, '..', 'dist', 'check', 'index'));

// Module-level, like the engine's registry: part of the persistent state.
const registry = new FinalizationRegistry(() => {});

// Registers each ptr as the engine does; returns the tokens.
function registerCells(ptrs) {
  return ptrs.map((ptr, slot) => {
    const token = { slot };
    registry.register(ptr, token, token);
    return token;
  });
}

function unregisterCells(tokens) {
  for (const token of tokens) registry.unregister(token);
}

// Runs run(tokens) with the ptrs registered, and unregisters them after.
async function withCells(ptrs, run) {
  const tokens = registerCells(ptrs);
  try {
    return await run(tokens);
  } finally {
    unregisterCells(tokens);
  }
}

// The analyser, with `ptrs` registered in the registry and handed over as
// `cells` (the ptrs array, which keeps them alive, is excluded like the
// package's own tables).
function findUnreachableCleanups(input) {
  if (input.ptrs === undefined) return analyse(input);
  const { cleanups, args, exclude, ptrs } = input;
  return withCells(ptrs, (cells) => analyse({ cells, cleanups, args, exclude: [...exclude, input, ptrs] }));
}

// Runs the analysis through cells on registrations given as { ptr, cleanup, arg } objects.
function checkCells(registrations, exclude = []) {
  const cleanups = registrations.map((r) => r.cleanup);
  const args = registrations.map((r) => r.arg);
  return withCells(
    registrations.map((r) => r.ptr),
    (cells) => analyse({ cells, cleanups, args, exclude }),
  );
}

module.exports = { analyse, findUnreachableCleanups, checkCells, registerCells, unregisterCells, registry };

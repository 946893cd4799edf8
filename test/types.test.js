'use strict';
// The published type declarations are part of the contract: test/types holds
// uses that must compile and uses that must not (marked @ts-expect-error, so
// tsc fails if one of them starts compiling). Both entry points are checked,
// resolved by package name through the exports map, as a user's editor would.
const assert = require('node:assert/strict');
const path = require('node:path');
const { runNode, ROOT } = require('./helpers');

describe('type declarations (tsc)', function () {
  it('correct uses compile and wrong ones (primitive ptr, non-function cleanup, mismatched arg) do not', async function () {
    this.timeout(120000);
    const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await runNode([tsc, '-p', path.join(ROOT, 'test', 'types'), '--pretty', 'false'], {
      timeoutMs: 110000,
    });
    assert.equal(result.code, 0, `tsc reported:\n${result.stdout}${result.stderr}`);
  });
});

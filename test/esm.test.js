'use strict';
// Both entry points, by package name: `require('addcleanup')` and
// `import ... from 'addcleanup'` resolve through the exports map and share one
// instance of the addon per thread.
const assert = require('node:assert/strict');
const { until, inScope } = require('./helpers');

const PUBLIC_EXPORTS = ['AddCleanup', 'Cleanup', 'addCleanup', 'checkCleanups', 'cleanupStats', 'drainCleanups', 'engine'];

describe('entry points', function () {
  it('require("addcleanup") resolves through the exports map to the CommonJS build', function () {
    const viaName = require('addcleanup');
    assert.equal(viaName, require('..'));
    assert.deepEqual(Object.keys(viaName).sort(), PUBLIC_EXPORTS);
  });

  it('import from "addcleanup" gives real named exports, the same objects as require()', async function () {
    const esm = await import('addcleanup');
    const cjs = require('addcleanup');
    assert.equal(esm.addCleanup, cjs.addCleanup);
    assert.equal(esm.AddCleanup, cjs.addCleanup);
    assert.equal(esm.Cleanup, cjs.Cleanup);
    assert.deepEqual(Object.keys(esm).filter((k) => k !== 'default').sort(), PUBLIC_EXPORTS);
    for (const name of PUBLIC_EXPORTS) assert.equal(esm[name], cjs[name], name);
  });

  it('a registration made through import is delivered by the one shared queue', async function () {
    const { addCleanup, Cleanup } = await import('addcleanup');
    let ran = 0;
    let handle;
    inScope(() => {
      handle = addCleanup({}, () => ran++, null);
    });
    assert.ok(handle instanceof require('addcleanup').Cleanup);
    assert.ok(handle instanceof Cleanup);
    await until(() => ran === 1, { what: 'the cleanup registered through import' });
  });
});

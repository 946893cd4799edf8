'use strict';
// The tarball is tested as users get it (tools/test-tarball.js): packed with
// its Node-API prebuild, installed into empty projects with and without
// install scripts, then required, imported and used there.
const assert = require('node:assert/strict');
const path = require('node:path');
const { runNode, ROOT, needs } = require('./helpers');

describe('the npm tarball', function () {
  it('contains the prebuild and both entry points, installs with --ignore-scripts and normally, and works by name', async function () {
    this.timeout(300000);
    needs(this, 'npm beside node');
    const result = await runNode([path.join(ROOT, 'tools', 'test-tarball.js')], { timeoutMs: 290000 });
    assert.equal(result.code, 0, `tools/test-tarball.js failed:\n${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /tarball: ok in/);
  });
});

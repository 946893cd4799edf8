'use strict';
// The tarball is tested as users get it (tools/test-tarball.js): assembled by
// tools/pack.js with its Node-API prebuild, checked to run nothing at install,
// installed into an empty project, then required, imported and used there.
const assert = require('node:assert/strict');
const path = require('node:path');
const { runNode, ROOT, needs } = require('./helpers');

describe('the npm tarball', function () {
  it('contains the prebuild and both entry points, has no install script, installs and works by name from its prebuild', async function () {
    this.timeout(300000);
    needs(this, 'npm beside node');
    const result = await runNode([path.join(ROOT, 'tools', 'test-tarball.js')], { timeoutMs: 290000 });
    assert.equal(result.code, 0, `tools/test-tarball.js failed:\n${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /tarball: ok in/);
  });
});

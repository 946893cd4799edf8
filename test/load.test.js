'use strict';
// When the compiled addon cannot be loaded, requiring the package fails with
// an error that explains itself (lib/binding.ts): what was tried and why each
// failed, which runtime and platform this is, and how to build from source.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { runNode, parseResult, assertCleanExit } = require('./helpers');

const PROBE = `
try {
  require('.');
  console.log('RESULT ' + JSON.stringify({ loaded: true }));
} catch (error) {
  console.log('RESULT ' + JSON.stringify({ code: error.code, message: error.message }));
}`;

describe('loading the addon', function () {
  it('a binary that cannot load explains itself: ERR_ADDCLEANUP_LOAD with each path tried and why, the runtime and its Node-API version, the platform, and how to build', async function () {
    const missing = '/nonexistent/addcleanup-test/addcleanup.node';
    const result = await runNode(['-e', PROBE], { env: { ADDCLEANUP_NATIVE_PATH: missing, ADDCLEANUP_ENGINE: '' } });
    assertCleanExit(result);
    const { code, message } = parseResult(result);
    assert.equal(code, 'ERR_ADDCLEANUP_LOAD');
    assert.match(message, /could not load its native addon/);
    // The loader resolves the path (on Windows: a drive letter).
    assert.ok(message.includes(`${path.resolve(missing)}: not found`), message);
    assert.ok(message.includes(`Node ${process.version}, Node-API ${process.versions.napi}`), message);
    assert.ok(message.includes(`${process.platform}-${process.arch}`), message);
    // The build-from-source commands (checked under npm 12 and pnpm 10 by
    // test/reliability/install.js); npm rebuild builds nothing without an install script.
    assert.match(message, /npx addcleanup build/);
    assert.match(message, /pnpm exec addcleanup build/);
    assert.doesNotMatch(message, /npm rebuild/);
  });

  it('a file that exists but is not a loadable addon is reported with the loader\'s own reason', async function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'addcleanup-load-'));
    const bogus = path.join(dir, 'addcleanup.node');
    fs.writeFileSync(bogus, 'not an ELF, Mach-O or PE file\n');
    try {
      const result = await runNode(['-e', PROBE], { env: { ADDCLEANUP_NATIVE_PATH: bogus, ADDCLEANUP_ENGINE: '' } });
      assertCleanExit(result);
      const { code, message } = parseResult(result);
      assert.equal(code, 'ERR_ADDCLEANUP_LOAD');
      const line = message.split('\n').find((l) => l.includes(bogus));
      assert.ok(line !== undefined && !line.endsWith(': not found') && line.length > bogus.length + 8, message);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

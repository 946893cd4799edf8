'use strict';
// Which engine loads (lib/engine/index.ts): native whenever the addon loads;
// the JS engine otherwise, after one ADDCLEANUP_JS_ENGINE warning; and what
// ADDCLEANUP_ENGINE changes. A copy of the package without build/ and
// prebuilds/ is what a user on a platform without a prebuild installs.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { runNode, parseResult, assertCleanExit } = require('./helpers');

const ROOT = path.join(__dirname, '..');

// The probe: loads the package in `dir` (after recording warnings), runs one
// cleanup through collect(), and reports the engine, the warnings and
// whether an addon was loaded; or the error's code and message. A file, not
// an -e script: Deno has no dynamic import() in one.
const PROBE = `
const DIR = process.env.PROBE_DIR;
const warnings = [];
process.on('warning', (w) => warnings.push({ code: w.code, name: w.name, message: w.message }));
(async () => {
  let api;
  try {
    api = require(DIR);
  } catch (error) {
    console.log('RESULT ' + JSON.stringify({ code: error.code, message: error.message }));
    return;
  }
  const esm = await import(require('node:url').pathToFileURL(require.resolve(DIR)).href);
  let ran = 0;
  (() => { api.addCleanup({}, () => { ran++; }, 0); })();
  const collected = await require(require('node:path').join(DIR, 'dist', 'testing.js')).collect();
  await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on a tick
  const addons = Object.keys(require.cache).filter((f) => f.endsWith('.node'));
  console.log('RESULT ' + JSON.stringify({ engine: api.engine, esmEngine: esm.engine, ran, collected, warnings, addons }));
})();`;

// A copy of the package as a user without a prebuild gets it: dist/ and the
// manifest, no build/ or prebuilds/. It is made inside the repository (under
// test/, git-ignored), so that node-gyp-build resolves from its node_modules
// without a link (Wine cannot make one).
let bare;
let probeFile;

function makeBare() {
  bare = fs.mkdtempSync(path.join(ROOT, 'test', '.bare-'));
  probeFile = path.join(bare, 'probe.js');
  fs.writeFileSync(probeFile, PROBE);
  fs.cpSync(path.join(ROOT, 'dist'), path.join(bare, 'dist'), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(bare, 'package.json'));
}

// Loads the package in `dir`. The repository itself keeps the suite's own
// ADDCLEANUP_NATIVE_PATH (which points at this platform's binary where the
// suite runs on a prebuild: arm64 under qemu, win32 under Wine); the bare
// copy gets none, like a user's install.
function probe(dir, env = {}) {
  const native = dir === ROOT ? process.env.ADDCLEANUP_NATIVE_PATH : undefined;
  return runNode([probeFile], {
    env: { ADDCLEANUP_ENGINE: undefined, ADDCLEANUP_NATIVE_PATH: native, PROBE_DIR: dir, ...env },
    exposeGc: false,
  });
}

async function probeResult(dir, env) {
  const result = await probe(dir, env);
  assertCleanExit(result);
  return parseResult(result);
}

describe('engines: which one loads', function () {
  this.timeout(30000);
  before(makeBare);
  after(function () {
    fs.rmSync(bare, { recursive: true, force: true });
  });

  it('the addon loads: engine is "native" (CommonJS and ESM alike), no warning', async function () {
    const r = await probeResult(ROOT);
    assert.equal(r.engine, 'native');
    assert.equal(r.esmEngine, 'native');
    assert.equal(r.addons.length, 1);
    assert.deepEqual(r.warnings, []);
    assert.deepEqual([r.ran, r.collected], [1, 1]);
  });

  it('no addon to load: engine is "js", after exactly one ADDCLEANUP_JS_ENGINE warning that says why, what it costs and how to build', async function () {
    const r = await probeResult(bare);
    assert.equal(r.engine, 'js');
    assert.equal(r.esmEngine, 'js');
    assert.deepEqual(r.addons, []);
    assert.deepEqual([r.ran, r.collected], [1, 1], 'the JS engine runs the cleanup');
    assert.equal(r.warnings.length, 1, JSON.stringify(r.warnings));
    const [{ code, message }] = r.warnings;
    assert.equal(code, 'ADDCLEANUP_JS_ENGINE');
    // Why: the facts of ERR_ADDCLEANUP_LOAD.
    assert.match(message, /could not load its native addon/);
    assert.ok(message.includes(path.join(bare, 'prebuilds', `${process.platform}-${process.arch}`)), message);
    assert.ok(message.includes(`${process.platform}-${process.arch}`), message);
    // What it costs: the README's engine table.
    assert.match(message, /"Engines" section of .*README\.md/);
    // How to build: the same commands as the load error.
    assert.match(message, /npx addcleanup build/);
    assert.match(message, /pnpm exec addcleanup build/);
    assert.match(message, /ADDCLEANUP_ENGINE=js/);
  });

  it('ADDCLEANUP_ENGINE=native without an addon: ERR_ADDCLEANUP_LOAD, naming the build-from-source commands, and no warning', async function () {
    const r = await probeResult(bare, { ADDCLEANUP_ENGINE: 'native' });
    assert.equal(r.code, 'ERR_ADDCLEANUP_LOAD');
    assert.match(r.message, /could not load its native addon/);
    assert.match(r.message, /npx addcleanup build/);
  });

  it('ADDCLEANUP_ENGINE=native with the addon: the native engine', async function () {
    const r = await probeResult(ROOT, { ADDCLEANUP_ENGINE: 'native' });
    assert.equal(r.engine, 'native');
    assert.deepEqual(r.warnings, []);
  });

  it('ADDCLEANUP_ENGINE=js: the JS engine without a warning, even where the addon would load (nothing is loaded)', async function () {
    for (const dir of [ROOT, bare]) {
      const r = await probeResult(dir, { ADDCLEANUP_ENGINE: 'js' });
      assert.equal(r.engine, 'js', dir);
      assert.deepEqual(r.warnings, [], dir);
      assert.deepEqual(r.addons, [], dir);
      assert.deepEqual([r.ran, r.collected], [1, 1], dir);
    }
  });

  it('any other ADDCLEANUP_ENGINE is ERR_ADDCLEANUP_ENGINE, naming the two valid values', async function () {
    for (const value of ['Native', 'wasm', ' js']) {
      const r = await probeResult(ROOT, { ADDCLEANUP_ENGINE: value });
      assert.equal(r.code, 'ERR_ADDCLEANUP_ENGINE', value);
      assert.match(r.message, /"native" or "js"/);
      assert.ok(r.message.includes(JSON.stringify(value)), r.message);
    }
  });

  it('an empty ADDCLEANUP_ENGINE is as unset', async function () {
    const r = await probeResult(ROOT, { ADDCLEANUP_ENGINE: '' });
    assert.equal(r.engine, 'native');
  });

  it('ADDCLEANUP_NATIVE_PATH naming a file that does not load is an error, not a reason to fall back', async function () {
    const r = await probeResult(ROOT, { ADDCLEANUP_NATIVE_PATH: path.join(bare, 'missing.node') });
    assert.equal(r.code, 'ERR_ADDCLEANUP_LOAD');
  });
});

'use strict';
// Builds test/addon (a test-only native addon, see test/addon/test_addon.c)
// with node-gyp into test/addon/build/, which git ignores (`build/`).
//
//   node tools/build-test-addon.js          build if missing or stale
//   node tools/build-test-addon.js --force  rebuild from scratch
//
// Tests call ensureTestAddon() from a mocha `before` hook, so that `npm test`
// on a fresh clone builds it on demand. It is never built by `npm install` and
// never published (package.json "files" does not include test/ or tools/).
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
// Headers: npm's nodedir, else the running Node's own (no download).
const { nodedirArgs } = require('../bin/addcleanup');

const ROOT = path.join(__dirname, '..');
const ADDON_DIR = path.join(ROOT, 'test', 'addon');
const ADDON_PATH = path.join(ADDON_DIR, 'build', 'Release', 'test_addon.node');
const SOURCES = ['binding.gyp', 'test_addon.c'].map((name) => path.join(ADDON_DIR, name));

// Missing, or older than one of its sources.
function isStale() {
  let built;
  try {
    built = fs.statSync(ADDON_PATH).mtimeMs;
  } catch {
    return true;
  }
  return SOURCES.some((file) => fs.statSync(file).mtimeMs > built);
}

// Runs node-gyp (the project's own devDependency) with the current Node.
// Resolves with the output; rejects with it if the build fails.
function build() {
  const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js', { paths: [ROOT] });
  const args = [nodeGyp, 'rebuild', '--release', `--directory=${ADDON_DIR}`, ...nodedirArgs()];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (output += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (output += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0 && fs.existsSync(ADDON_PATH)) resolve(output);
      else reject(new Error(`building the test addon failed (node-gyp exit ${code}, signal ${signal}):\n${output}`));
    });
  });
}

// The test addon to load: ADDCLEANUP_TEST_ADDON names a copy built elsewhere
// (test/reliability/runtimes.js cross-builds one for arm64 and win32, which
// this machine's compiler cannot make); otherwise this checkout's build.
function testAddonPath() {
  return process.env.ADDCLEANUP_TEST_ADDON || ADDON_PATH;
}

// Builds this checkout's test addon if it is missing or stale (never a copy
// named by ADDCLEANUP_TEST_ADDON); resolves with testAddonPath().
async function ensureTestAddon({ force = false } = {}) {
  const file = testAddonPath();
  if (file === ADDON_PATH && (force || isStale())) await build();
  return file;
}

module.exports = { ADDON_DIR, ADDON_PATH, testAddonPath, ensureTestAddon, build };

if (require.main === module) {
  const { values } = require('./cli').commandLine({
    name: 'build-test-addon',
    usage: 'usage: node tools/build-test-addon.js [--force]   (--force: rebuild from scratch)',
    options: { force: { type: 'boolean', default: false } },
  });
  ensureTestAddon({ force: values.force }).then(
    (file) => console.log(`test addon: ${file}`),
    (error) => {
      console.error(error.message);
      process.exitCode = 1;
    },
  );
}

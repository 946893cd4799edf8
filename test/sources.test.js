'use strict';
// The suite tests the current sources: `npm test`'s pretest
// (tools/build-sources.js) compiles lib/ into dist/ and builds native/ into
// build/Release before mocha starts. Run mocha by hand after an edit without
// building, and these fail first, saying what is stale.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { ROOT } = require('./helpers');

const mtime = (file) => fs.statSync(file).mtimeMs;
const filesIn = (dir, pattern) =>
  fs
    .readdirSync(path.join(ROOT, dir))
    .filter((name) => pattern.test(name))
    .map((name) => path.join(ROOT, dir, name));

describe('the sources under test', function () {
  it('dist/ was compiled from the current lib/: each dist/*.js is newer than its lib/*.ts (or .mts)', function () {
    const sources = filesIn('lib', /\.m?ts$/);
    assert.ok(sources.length >= 5, 'lib/ holds the TypeScript sources');
    for (const source of sources) {
      const output = path.join(ROOT, 'dist', path.basename(source).replace(/\.ts$/, '.js').replace(/\.mts$/, '.mjs'));
      assert.ok(fs.existsSync(output), `${path.relative(ROOT, output)} is missing: run npm test (or npm run build:ts)`);
      assert.ok(
        mtime(output) >= mtime(source),
        `${path.relative(ROOT, output)} is older than ${path.relative(ROOT, source)}: run npm test (or npm run build:ts)`,
      );
    }
  });

  it('the addon under test was built from the current native/ and binding.gyp (or is the binary ADDCLEANUP_NATIVE_PATH names)', function () {
    const override = process.env.ADDCLEANUP_NATIVE_PATH;
    if (override !== undefined) {
      assert.ok(fs.existsSync(path.resolve(override)), `ADDCLEANUP_NATIVE_PATH names no file: ${override}`);
      return;
    }
    const addon = path.join(ROOT, 'build', 'Release', 'addcleanup.node');
    assert.ok(fs.existsSync(addon), 'build/Release/addcleanup.node is missing: run npm test (or npm run build:native)');
    for (const source of [...filesIn('native', /\.(cc|h)$/), path.join(ROOT, 'binding.gyp')]) {
      assert.ok(
        mtime(addon) >= mtime(source),
        `build/Release/addcleanup.node is older than ${path.relative(ROOT, source)}: run npm test (or npm run build:native)`,
      );
    }
  });
});

'use strict';
// The mocha reporter of test/reliability/node-matrix.js and test/reliability/runtimes.js, loaded
// by mocha (--reporter) inside the runtime under test: the usual spec output,
// then, at the end, what those scripts check, as JSON in the file named by
// $ADDCLEANUP_MATRIX_RESULT: the Node version and binary that actually ran
// the tests, whether gc() was exposed, which .node files were loaded, the counts,
// the failures, and the skipped tests with the reason each gave.
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..', '..', '..');
const RESULT_ENV = 'ADDCLEANUP_MATRIX_RESULT';

function createReporter() {
  // Resolved from this repo's node_modules: the same mocha that loads us.
  const Mocha = require('mocha');
  const { Spec } = Mocha.reporters;
  const { EVENT_RUN_END, EVENT_TEST_FAIL, EVENT_TEST_PENDING } = Mocha.Runner.constants;

  class ResultReporter extends Spec {
    constructor(runner, options) {
      super(runner, options);
      const failures = [];
      const pending = [];
      const where = (test) => (test.file ? path.relative(ROOT, test.file) : undefined);
      runner.on(EVENT_TEST_FAIL, (test, err) => {
        failures.push({ title: test.fullTitle(), file: where(test), message: String((err && (err.stack || err.message)) || err) });
      });
      runner.on(EVENT_TEST_PENDING, (test) => pending.push({ title: test.fullTitle(), file: where(test) }));
      runner.once(EVENT_RUN_END, () => {
        const out = process.env[RESULT_ENV];
        if (!out) return;
        const result = {
          version: process.version,
          execPath: process.execPath,
          napi: process.versions.napi,
          gcExposed: typeof globalThis.gc === 'function',
          addons: Object.keys(require.cache).filter((f) => f.endsWith('.node')),
          stats: this.stats,
          failures,
          pending,
        };
        fs.writeFileSync(out, JSON.stringify(result, null, 2));
      });
    }
  }
  return ResultReporter;
}

if (require.main === module) {
  throw new Error('test/reliability/lib/result-reporter.js is a mocha reporter (--reporter), not a script');
}
// Required by mocha as a reporter (it calls `new` on the export, which returns
// the real reporter), and by the scripts for its path and the name of its
// variable: mocha itself is loaded only when mocha asks.
module.exports = function ResultReporter(runner, options) {
  const Reporter = createReporter();
  return new Reporter(runner, options);
};
module.exports.REPORTER = __filename;
module.exports.RESULT_ENV = RESULT_ENV;

'use strict';
// The examples run as documented, on real resources: examples/tracing-metrics.js
// (npm run example:tracing) exports cleanup latency from the tracing channel.
// (The demo, npm run demo, runs for about 20 s and is not part of npm test.)
const assert = require('node:assert/strict');
const path = require('node:path');
const { runNode, assertCleanExit } = require('./helpers');

describe('examples', function () {
  it('tracing-metrics.js: 200 FileHandles closed by async cleanups, every run in both histograms, descriptors back to where they were', async function () {
    const result = await runNode([path.join(__dirname, '..', 'examples', 'tracing-metrics.js')], { exposeGc: false });
    assertCleanExit(result);
    assert.equal(result.stderr, '');
    const out = result.stdout;
    assert.match(out, /^200 uploads opened and forgotten; 200 cleanups ran/m);
    assert.match(out, /^addcleanup_cleanup_wait_seconds_count 200$/m);
    assert.match(out, /^addcleanup_cleanup_duration_seconds_count 200$/m);
    assert.match(out, /^addcleanup_cleanup_wait_seconds_bucket\{le="\+Inf"\} 200$/m);
    assert.match(out, /^addcleanup_cleanup_failures_total 0$/m);
    assert.match(out, /^addcleanup_running 0$/m);
    assert.match(out, /^addcleanup_queued 0$/m);
    const fds = /^open descriptors: (\d+) before, (\d+) with the uploads open, (\d+) after\.$/m.exec(out);
    if (process.platform === 'linux') {
      assert.ok(fds, `no descriptor line in:\n${out}`);
      const [before, opened, after] = fds.slice(1).map(Number);
      assert.ok(opened > before, 'no descriptor was open while the uploads were');
      assert.equal(after, before, 'the FileHandles were not all closed');
    }
  });
});

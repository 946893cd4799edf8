'use strict';
// npm run example:tracing: how a service exports cleanup latency as metrics,
// from the `addcleanup:cleanup` tracing channel of node:diagnostics_channel.
//
// The "service" opens files with node:fs/promises and ties each FileHandle
// to the object that owns it, with an async cleanup: `(handle) =>
// handle.close()` returns a promise, so the cleanup counts as running until
// the descriptor is really closed. Its owners are dropped without close().
//
// A subscriber (what an APM agent or a metrics library would install) turns
// every cleanup run into two histograms, in Prometheus' text format:
//   addcleanup_cleanup_wait_seconds      found dead -> cleanup called (waitedMs)
//   addcleanup_cleanup_duration_seconds  cleanup called -> promise settled
// plus a failure counter and the gauges of cleanupStats(). The service serves
// them on /metrics (an ephemeral port on 127.0.0.1); this example scrapes its
// own endpoint once, prints what a Prometheus server would read, and exits.
//
// Run: node examples/tracing-metrics.js   (no flags needed; about a second)
const diagnosticsChannel = require('node:diagnostics_channel');
const fs = require('node:fs');
const fsp = require('node:fs/promises');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { addCleanup, cleanupStats, drainCleanups } = require('addcleanup');
const { collect } = require('addcleanup/testing');

// ------------------------------------------------------------ the metrics

// A cumulative histogram with fixed buckets (seconds), as Prometheus has it.
class Histogram {
  constructor(name, help, bounds) {
    Object.assign(this, { name, help, bounds, counts: bounds.map(() => 0), count: 0, sum: 0 });
  }

  observe(seconds) {
    this.count++;
    this.sum += seconds;
    for (let i = 0; i < this.bounds.length; i++) if (seconds <= this.bounds[i]) this.counts[i]++;
  }

  text() {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    this.bounds.forEach((bound, i) => lines.push(`${this.name}_bucket{le="${bound}"} ${this.counts[i]}`));
    lines.push(`${this.name}_bucket{le="+Inf"} ${this.count}`);
    lines.push(`${this.name}_sum ${this.sum.toFixed(6)}`, `${this.name}_count ${this.count}`);
    return lines.join('\n');
  }
}

const BOUNDS = [0.0001, 0.001, 0.01, 0.1, 1];
const waitHistogram = new Histogram(
  'addcleanup_cleanup_wait_seconds',
  'Time from an object found dead to its cleanup being called.',
  BOUNDS,
);
const durationHistogram = new Histogram(
  'addcleanup_cleanup_duration_seconds',
  'Time from a cleanup being called to its return, or to its promise settling.',
  BOUNDS,
);
let failures = 0;

// The subscriber. One context object travels through the events of one run,
// so the start time can ride on it. At `end`, a run that is over (it returned
// a value or threw) has `result` or `error` set; an async one has neither
// yet, and finishes at `asyncEnd`. `error` counts both kinds of failure.
const startedAt = Symbol('startedAt');
const durationMs = (context) => performance.now() - context[startedAt];
diagnosticsChannel.tracingChannel('addcleanup:cleanup').subscribe({
  start(context) {
    context[startedAt] = performance.now();
    waitHistogram.observe(context.waitedMs / 1000);
  },
  end(context) {
    if ('result' in context || 'error' in context) durationHistogram.observe(durationMs(context) / 1000);
  },
  asyncStart() {},
  asyncEnd(context) {
    durationHistogram.observe(durationMs(context) / 1000);
  },
  error() {
    failures++;
  },
});

function metricsText() {
  const stats = cleanupStats();
  const gauges = ['pending', 'queued', 'running'].map(
    (field) => `# TYPE addcleanup_${field} gauge\naddcleanup_${field} ${stats[field]}`,
  );
  return [
    waitHistogram.text(),
    durationHistogram.text(),
    `# TYPE addcleanup_cleanup_failures_total counter\naddcleanup_cleanup_failures_total ${failures}`,
    ...gauges,
    '',
  ].join('\n');
}

// ------------------------------------------------------------ the service

// Owns an open file. Its cleanup closes the FileHandle asynchronously.
class Upload {
  static async open(file) {
    const handle = await fsp.open(file, 'w');
    return new Upload(handle);
  }

  constructor(handle) {
    this.handle = handle;
    // The handle, never `this`: the cleanup must not reach the object.
    this.cleanup = addCleanup(this, (fileHandle) => fileHandle.close(), handle);
  }
}

async function handleUploads(dir, count) {
  for (let i = 0; i < count; i++) {
    const upload = await Upload.open(path.join(dir, `upload-${i}.tmp`));
    await upload.handle.write(`upload ${i}\n`);
    // Forgotten: nobody calls close().
  }
}

function openDescriptors() {
  try {
    return fs.readdirSync('/proc/self/fd').length;
  } catch {
    return undefined; // no procfs (macOS, Windows)
  }
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'addcleanup-tracing-'));
  const server = http.createServer((req, res) => {
    res.writeHead(req.url === '/metrics' ? 200 : 404, { 'content-type': 'text/plain; version=0.0.4' });
    res.end(req.url === '/metrics' ? metricsText() : 'not found\n');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const before = openDescriptors();
    await handleUploads(dir, 200);
    const opened = openDescriptors();
    // A real service waits for V8's own collections; the example forces them
    // to finish in a second. collect() also waits for the async cleanups it
    // started, so every FileHandle is closed when it returns.
    await collect();
    await drainCleanups();
    const ran = cleanupStats().executed;
    const after = openDescriptors();

    const { port } = server.address();
    const scraped = await new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (chunk) => (body += chunk));
        res.on('end', () => resolve(body));
      }).on('error', reject);
    });
    console.log(`200 uploads opened and forgotten; ${ran} cleanups ran (FileHandle.close(), awaited).`);
    if (before !== undefined) {
      console.log(`open descriptors: ${before} before, ${opened} with the uploads open, ${after} after.`);
    }
    console.log(`\nGET /metrics\n\n${scraped}`);
  } finally {
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});

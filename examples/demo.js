'use strict';
// npm run demo: addcleanup against FinalizationRegistry on real file descriptors.
//
// What it shows
//   A small "server" handles requests at a steady rate. Each request opens
//   the request log (a real file descriptor, on a file in a fresh temporary
//   directory) through a RequestLog object, writes one line, and is then
//   simply forgotten: nobody calls close(). Only the most recent requests
//   (the ones "in flight") stay reachable. The object's cleanup closes its
//   descriptor once the garbage collector has found the object dead.
//
//   The same program runs twice, one after the other, each in a fresh child
//   process, with the same parameters:
//     addcleanup            addCleanup(this, closeFd, this.fd)
//     FinalizationRegistry  registry.register(this, this.fd)
//   Nothing forces a garbage collection while requests are served: the GCs
//   are the ones V8 decides to run, as in any real program.
//
// How to read the output
//   While a run goes on, a line shows how many descriptors the child has open
//   ("open") beyond those it had before serving requests, counted from
//   /proc/<pid>/fd (what the operating system sees). At the end, a chart per
//   implementation (same time axis and same vertical scale for both) and a
//   summary:
//     peak open fds        the most log descriptors open at once
//     open at stop         when requests stopped (in-flight ones included)
//     closed on their own  after the stop the program goes on working
//                          (without opening files) for a few seconds: did
//                          every descriptor get closed meanwhile, how fast?
//     forced full GC       if not, a forced full GC finishes the job:
//                          collect() from 'addcleanup/testing' for
//                          addcleanup, gc() in a loop for the registry
//     GCs while serving    the GCs V8 chose to run
//     EMFILE errors        requests that found no free descriptor
//   and a conclusion computed from those numbers.
//
// Why they differ: up to Node 24, V8 runs FinalizationRegistry callbacks only
// after a full (mark-compact) GC, which a small heap rarely needs. addcleanup
// also learns of objects that die young from minor GCs (scavenges), which run
// all the time. Objects that live long enough to be promoted to the old
// generation wait for a full GC with both. Node 26's V8 (14.6) also hands
// young objects to FinalizationRegistry at minor GCs (its flag
// --handle-weak-ref-weakly-in-minor-gc is on by default): there, the two are
// close, and the conclusion says so.
//
// Run: node examples/demo.js    (no flags needed; about 20 seconds)

const { fork } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { PerformanceObserver, constants: perfConstants } = require('node:perf_hooks');
const v8 = require('node:v8');
const vm = require('node:vm');

// ---------------------------------------------------------------- settings

const REQUESTS_PER_SECOND = 2000;
const SERVE_MS = 7000; // how long requests are served
const NATURAL_MS = 2500; // then: how long to wait for release without forcing a GC
const FORCED_MS = 5000; // then: the forced full GC gets at most this long
const SAMPLE_MS = 100; // how often the child reports

const IMPLEMENTATIONS = ['addcleanup', 'FinalizationRegistry'];

// The soft limit on open descriptors (Node raises it to the hard limit at
// startup, so the child sees the same value as this process).
function descriptorLimit() {
  try {
    const limits = fs.readFileSync('/proc/self/limits', 'utf8');
    const line = limits.split('\n').find((l) => l.startsWith('Max open files'));
    const soft = Number(line.split(/\s+/)[3]);
    if (Number.isFinite(soft)) return soft;
  } catch {}
  try {
    const out = require('node:child_process').execSync('ulimit -n', { encoding: 'utf8' }).trim();
    if (out !== 'unlimited' && Number.isFinite(Number(out))) return Number(out);
  } catch {}
  return 1024;
}

// The in-flight window stays well below the limit: at most a tenth of it.
function windowSize(limit) {
  return Math.max(8, Math.min(100, Math.floor((limit - 100) / 10)));
}

if (process.argv[2] === '--child') {
  child(process.argv[3]);
} else {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}

// ------------------------------------------------------------------ child
// One implementation, one process. It reports to the parent over IPC.

function child(impl) {
  const limit = descriptorLimit();
  const WINDOW = windowSize(limit);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'addcleanup-demo-'));
  const logFile = path.join(dir, 'requests.log');
  fs.writeFileSync(logFile, '');
  // Interrupted (Ctrl-C, or the parent went away): leave no files behind.
  const quit = () => {
    fs.rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  };
  process.on('SIGINT', quit);
  process.on('disconnect', quit);

  // Exact count of the descriptors our objects opened and cleanups closed.
  let open = 0;
  let peak = 0;
  let closedWhileServing = 0;
  let phase = 'ready';
  let stoppedAt = 0;
  let releasedAt = 0;

  function openFd(file) {
    const fd = fs.openSync(file, 'a');
    open++;
    if (open > peak) peak = open;
    return fd;
  }

  // The cleanup: it gets the descriptor number only, never the object.
  function closeFd(fd) {
    fs.closeSync(fd);
    open--;
    if (phase === 'serving') closedWhileServing++;
    if (open === 0 && stoppedAt !== 0 && releasedAt === 0) releasedAt = performance.now();
  }

  // An object that owns a real file descriptor and is never closed by hand,
  // in two versions: the only difference is the line that attaches closeFd.
  let RequestLog;
  let forceRelease; // for the end of the run only
  if (impl === 'addcleanup') {
    const { addCleanup } = require('addcleanup');
    RequestLog = class {
      constructor(file) {
        this.fd = openFd(file);
        addCleanup(this, closeFd, this.fd);
      }
    };
    const { collect } = require('addcleanup/testing');
    forceRelease = () => collect({ timeoutMs: FORCED_MS });
  } else {
    const registry = new FinalizationRegistry(closeFd);
    RequestLog = class {
      constructor(file) {
        this.fd = openFd(file);
        registry.register(this, this.fd);
      }
    };
    forceRelease = async () => {
      const gc = fullGc();
      const deadline = performance.now() + FORCED_MS;
      while (open > 0 && performance.now() < deadline) {
        gc();
        // The registry's callbacks run as tasks after the GC: let them.
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    };
  }

  // What handling a request allocates besides the log: a parsed body and a
  // response, garbage as soon as the request is done.
  function handleRequest(id) {
    const items = [];
    for (let i = 0; i < 30; i++) items.push({ sku: `item-${id}-${i}`, qty: i, price: i * 1.25 });
    const body = JSON.stringify({ id, at: Date.now(), items });
    return `${id} ${body.length}\n`;
  }

  // Which GCs V8 ran while requests were served.
  const gcs = { minor: 0, full: 0 };
  const observer = new PerformanceObserver((list) => {
    if (phase !== 'serving') return;
    for (const entry of list.getEntries()) {
      const kind = entry.detail ? entry.detail.kind : entry.kind;
      if (kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) gcs.minor++;
      else if (kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) gcs.full++;
    }
  });
  observer.observe({ entryTypes: ['gc'] });

  let requests = 0;
  let failed = 0; // opens refused with EMFILE
  let firstEmfileMs = -1;
  // The requests in flight: a ring of the WINDOW most recent ones.
  const inFlight = new Array(WINDOW).fill(null);
  let start = 0;

  function report(type, extra) {
    process.send({ type, phase, t: performance.now() - start, open, requests, failed, ...extra });
  }

  // Serves requests up to the count due by now: a steady rate.
  function serve(withLog) {
    const due = Math.floor(((performance.now() - start) * REQUESTS_PER_SECOND) / 1000);
    while (requests < due) {
      const id = requests++;
      const line = handleRequest(id);
      if (!withLog) continue;
      const slot = id % WINDOW;
      inFlight[slot] = null; // the oldest request is done: dropped, never closed
      let log;
      try {
        log = new RequestLog(logFile);
      } catch (error) {
        if (error.code !== 'EMFILE') throw error;
        failed++;
        if (firstEmfileMs < 0) firstEmfileMs = performance.now() - start;
        continue;
      }
      fs.writeSync(log.fd, line);
      inFlight[slot] = log;
    }
  }

  async function run() {
    start = performance.now();
    phase = 'serving';
    const sampler = setInterval(() => report('sample'), SAMPLE_MS);

    while (performance.now() - start < SERVE_MS) {
      serve(true);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }

    // Requests stop: the in-flight ones finish and are dropped too.
    stoppedAt = performance.now();
    const openAtStop = open;
    inFlight.fill(null);
    phase = 'waiting';
    // The rest of the program goes on (same work, no files) for a while.
    while (open > 0 && performance.now() - stoppedAt < NATURAL_MS) {
      serve(false);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const naturalReleaseMs = open === 0 ? releasedAt - stoppedAt : -1;
    const leftAfterWait = open;

    let forcedMs = -1;
    if (open > 0) {
      phase = 'forced';
      report('sample');
      const t = performance.now();
      await forceRelease();
      forcedMs = open === 0 ? releasedAt - t : -1;
    }
    phase = 'done';
    clearInterval(sampler);
    observer.disconnect();
    report('result', {
      window: WINDOW,
      peak,
      closedWhileServing,
      openAtStop,
      naturalReleaseMs,
      leftAfterWait,
      forcedMs,
      leftAtEnd: open,
      gcs,
      firstEmfileMs,
    });
    process.off('disconnect', quit);
    fs.rmSync(dir, { recursive: true, force: true });
    process.disconnect();
  }

  process.on('message', (message) => {
    if (message === 'start') run();
  });
  report('ready', { window: WINDOW, limit });
}

// V8's full-GC function without --expose-gc: the same trick as collect() in
// addcleanup/testing (a private context created while the flag is on).
function fullGc() {
  v8.setFlagsFromString('--expose-gc');
  try {
    return vm.runInNewContext('gc');
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}

// ----------------------------------------------------------------- parent

const tty = process.stdout.isTTY === true;
const SPARKS = '▁▂▃▄▅▆▇█';

// Descriptors open in the child, as the operating system sees them. Counted
// from here rather than in the child, so that counting allocates nothing in
// the heap being measured and needs no descriptor there.
function countFds(pid) {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return -1; // no /proc: use the child's own count
  }
}

function pad(value, width) {
  return String(value).padStart(width);
}

function seconds(ms) {
  return `${(ms / 1000).toFixed(1)} s`;
}

function runOne(impl) {
  return new Promise((resolve, reject) => {
    const proc = fork(__filename, ['--child', impl], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const samples = []; // { t, open, phase }
    let baseline = 0;
    let useProc = false;
    let result;
    let lastPrinted = -Infinity;
    let lastPhase = '';

    function show(sample, last) {
      const label = impl.padEnd(20);
      const line =
        `  ${label} ${pad(seconds(sample.t), 5)}  ${sample.phase.padEnd(7)}  ` +
        `open ${pad(sample.open, 5)}  requests ${pad(sample.requests, 5)}` +
        (sample.failed > 0 ? `  EMFILE ${sample.failed}` : '');
      if (tty) {
        // Rewritten in place: never wider than the terminal, or it would wrap.
        const fit = line.slice(0, Math.max(20, (process.stdout.columns || 80) - 1));
        process.stdout.write(`\r${fit}\x1b[K${last ? '\n' : ''}`);
      } else if (last || sample.phase !== lastPhase || sample.t - lastPrinted >= 1000) {
        console.log(line);
        lastPrinted = sample.t;
      }
      lastPhase = sample.phase;
    }

    proc.on('message', (message) => {
      if (message.type === 'ready') {
        const count = countFds(proc.pid);
        useProc = count >= 0;
        baseline = count;
        proc.send('start');
        return;
      }
      const open = useProc ? Math.max(0, countFds(proc.pid) - baseline) : message.open;
      const sample = { ...message, open: message.type === 'result' ? message.leftAtEnd : open };
      samples.push(sample);
      if (message.type === 'result') {
        result = message;
        show(sample, true);
      } else {
        show(sample, false);
      }
    });
    proc.on('error', reject);
    proc.on('exit', (code, signal) => {
      if (result) resolve({ impl, samples, result, useProc });
      else reject(new Error(`${impl} child exited with ${signal || code} before reporting`));
    });
  });
}

// A text chart: one character per time slot, the highest sample in the slot.
function sparkline(samples, slotMs, slots, max) {
  let line = '';
  for (let i = 0; i < slots; i++) {
    const inSlot = samples.filter((s) => s.t >= i * slotMs && s.t < (i + 1) * slotMs);
    if (inSlot.length === 0) {
      line += ' ';
      continue;
    }
    const value = Math.max(...inSlot.map((s) => s.open));
    line += value === 0 ? ' ' : SPARKS[Math.min(7, Math.ceil((value / max) * 8) - 1)];
  }
  return line;
}

function describeRelease(r) {
  if (r.naturalReleaseMs >= 0) return `yes, all in ${Math.round(r.naturalReleaseMs)} ms`;
  return `no, ${r.leftAfterWait} left after ${seconds(NATURAL_MS)}`;
}

function describeForced(r) {
  if (r.naturalReleaseMs >= 0) return 'not needed';
  if (r.forcedMs >= 0) return `closed the rest in ${Math.round(r.forcedMs)} ms`;
  return `${r.leftAtEnd} left after ${seconds(FORCED_MS)}`;
}

// Words to lines of at most `width` characters.
function wrap(text, width) {
  const lines = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  return [...lines, line].join('\n');
}

function times(ratio) {
  return ratio >= 10 ? `${Math.round(ratio)}x` : `${ratio.toFixed(1)}x`;
}

// One line, from the numbers of this run.
function conclusion(limit, a, f) {
  const ra = a.result;
  const rf = f.result;
  const closes = (r) =>
    `${r.closedWhileServing} descriptors closed while serving, at ${r.gcs.minor} minor and ${r.gcs.full} full GCs`;
  let why = `addcleanup: ${closes(ra)}; FinalizationRegistry: ${closes(rf)}`;
  if (rf.gcs.full === 0 && rf.closedWhileServing === 0) {
    why =
      `V8 ran no full GC while serving, so the registry closed nothing, ` +
      `while addcleanup closed ${ra.closedWhileServing} descriptors at ${ra.gcs.minor} minor GCs`;
  } else if (rf.gcs.full === 0) {
    why =
      `the registry closed ${rf.closedWhileServing} descriptors without any full GC: this V8 ` +
      `(${process.versions.v8}) also hands young objects to FinalizationRegistry at minor GCs`;
  }
  let first;
  if (rf.failed > 0 && ra.failed === 0) {
    first =
      `FinalizationRegistry hit the descriptor limit (${limit}) after ${seconds(rf.firstEmfileMs)} ` +
      `and ${rf.failed} requests failed with EMFILE, while addcleanup kept at most ${ra.peak} open`;
  } else if (ra.failed > 0 && rf.failed > 0) {
    first =
      `both hit the descriptor limit (${limit}): ${ra.failed} requests failed with EMFILE with addcleanup, ` +
      `${rf.failed} with FinalizationRegistry`;
  } else if (rf.peak >= 1.5 * ra.peak) {
    first =
      `addcleanup kept at most ${ra.peak} descriptors open, ` +
      `FinalizationRegistry ${rf.peak} (${times(rf.peak / Math.max(1, ra.peak))})`;
  } else if (ra.peak >= 1.5 * rf.peak) {
    first = `addcleanup kept more descriptors open than FinalizationRegistry (${ra.peak} vs ${rf.peak})`;
  } else {
    first =
      `no clear difference in this run: at most ${ra.peak} descriptors open with addcleanup, ` +
      `${rf.peak} with FinalizationRegistry`;
  }
  return `Conclusion: ${first}; ${why}.`;
}

async function main() {
  const limit = descriptorLimit();
  const window = windowSize(limit);
  console.log('addcleanup demo: dropped objects that own file descriptors, without close()');
  console.log(
    `  ${REQUESTS_PER_SECOND} requests/s for ${seconds(SERVE_MS)}; each opens a log file and drops it;\n` +
      `  ${window} requests in flight; no GC is forced while requests are served\n` +
      `  Node ${process.version} (V8 ${process.versions.v8}), descriptor limit ${limit}\n` +
      `  open fds: ${countFds(process.pid) >= 0 ? 'counted in /proc/<pid>/fd' : "the child's own count (no /proc)"}\n`,
  );

  const runs = [];
  for (const impl of IMPLEMENTATIONS) runs.push(await runOne(impl));
  const [a, f] = runs;

  // Charts: same time axis and scale for both.
  const maxT = Math.max(...runs.flatMap((r) => r.samples.map((s) => s.t)));
  const slotMs = 250;
  const slots = Math.ceil((maxT + 1) / slotMs);
  const max = Math.max(1, ...runs.flatMap((r) => r.samples.map((s) => s.open)));
  const stopSlot = Math.floor(SERVE_MS / slotMs);
  console.log(`\nopen descriptors over time (one character = ${slotMs} ms, full block = ${max}):`);
  for (const r of runs) console.log(`  ${r.impl.padEnd(20)} ${sparkline(r.samples, slotMs, slots, max)}`);
  console.log(`  ${''.padEnd(20)} ${'^ start'.padEnd(stopSlot)}^ requests stop`);
  // A run too low to see at that scale gets a zoomed line of its own.
  for (const r of runs) {
    const own = Math.max(1, ...r.samples.map((s) => s.open));
    if (own * 4 > max) continue;
    console.log(`zoomed (full block = ${own}):`);
    console.log(`  ${r.impl.padEnd(20)} ${sparkline(r.samples, slotMs, slots, own)}`);
  }

  const rows = [
    ['peak open fds', (r) => String(r.peak)],
    ['open at stop', (r) => `${r.openAtStop} (${r.window} in flight)`],
    ['closed on their own', describeRelease],
    ['forced full GC', describeForced],
    ['GCs while serving', (r) => `${r.gcs.minor} minor, ${r.gcs.full} full`],
    ['EMFILE errors', (r) => (r.failed > 0 ? `${r.failed}, first at ${seconds(r.firstEmfileMs)}` : '0')],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  const colWidth = Math.max(...runs.flatMap((r) => rows.map(([, get]) => get(r.result).length)), 20);
  console.log(`\nsummary:\n  ${''.padEnd(width)}  ${runs.map((r) => r.impl.padEnd(colWidth)).join('  ')}`.trimEnd());
  for (const [label, get] of rows) {
    console.log(`  ${label.padEnd(width)}  ${runs.map((r) => get(r.result).padEnd(colWidth)).join('  ')}`.trimEnd());
  }
  console.log(`\n${wrap(conclusion(limit, a, f), 78)}`);
}

'use strict';
// From raw child results to medians, ratios and the terminal table.
//
// METRICS is the single list of reported figures: which experiment produces
// each, how to read it from a child's result, its unit and which direction is
// better. Everything else (aggregation, ratios, table, JSON medians) is driven
// by it.
const { median } = require('./stats');

// A value read from a result is a number, or { incomplete, delivered,
// expected } when the experiment gave up waiting (bounded polls).
const incomplete = (r) => ({ incomplete: true, delivered: r.delivered, expected: r.expected });

// `json`: the figure's name in `--json` output (the figures users compare);
// the others are details, in the table and the results file only.
const METRICS = [
  { key: 'register.nsPerCall', json: 'registerNs', experiment: 'register', fig: '1', label: 'registration of young objects, alloc included', unit: 'ns/call',
    better: 'lower', get: (r) => r.nsPerCall },
  { key: 'memory.promotedNs', json: 'registerPromotedNs', experiment: 'memory', fig: '1', label: '  of promoted objects, alloc excluded', unit: 'ns/call',
    better: 'lower', get: (r) => r.promotedNsPerCall },
  { key: 'memory.rss', json: 'rssBytes', experiment: 'memory', fig: '2', label: 'memory per live reg: RSS', unit: 'B/reg',
    better: 'lower', get: (r) => r.bytesPerReg.rss },
  { key: 'memory.heapExt', experiment: 'memory', fig: '2', label: 'memory per live reg: heap+external', unit: 'B/reg',
    better: 'lower', get: (r) => r.bytesPerReg.heapExt },
  { key: 'gcpause.pauseWithMs', json: 'gcLiveMs', experiment: 'gcpause', fig: '3', label: 'full gc() pause with N live regs', unit: 'ms',
    better: 'lower', get: (r) => r.pauseWithMs },
  { key: 'gcpause.nsPerReg', experiment: 'gcpause', fig: '3', label: '  added per live reg (vs N objects alone)', unit: 'ns/reg',
    better: 'lower', get: (r) => r.nsPerReg },
  { key: 'delivery.gcMs', json: 'gcKillMs', experiment: 'delivery', fig: '4', label: 'the gc() that kills N: its pause', unit: 'ms',
    better: 'lower', get: (r) => r.gcMs },
  { key: 'delivery.totalMs', json: 'deliverMs', experiment: 'delivery', fig: '4', label: 'from that gc() to the last cleanup', unit: 'ms',
    better: 'lower', get: (r) => (r.complete ? r.totalMs : incomplete(r)) },
  { key: 'delivery.afterGcMs', experiment: 'delivery', fig: '4', label: '  of which after gc() returned', unit: 'ms',
    better: 'lower', get: (r) => (r.complete ? r.deliveryMs : incomplete(r)) },
  { key: 'delivery.firstMs', experiment: 'delivery', fig: '4', label: '  until the first cleanup', unit: 'ms',
    better: 'lower', get: (r) => r.firstMs },
  { key: 'delivery.maxBlockMs', json: 'maxBlockMs', experiment: 'delivery', fig: '5', label: 'longest loop block after that gc()', unit: 'ms',
    better: 'lower', get: (r) => r.maxBlockMs },
  { key: 'delivery.stallMs', json: 'stallMs', experiment: 'delivery', fig: '5', label: 'longest stall: max(pause, loop block)', unit: 'ms',
    better: 'lower', get: (r) => r.stallMs },
  { key: 'stop.nsPerCall', json: 'stopNs', experiment: 'stop', fig: '6', label: 'stop() / unregister(token)', unit: 'ns/call',
    better: 'lower', get: (r) => r.nsPerCall },
  { key: 'stop.nsWithDeferred', experiment: 'stop', fig: '6', label: '  with the work it defers, done at once', unit: 'ns/call',
    better: 'lower', get: (r) => r.nsPerCallWithDeferred },
  { key: 'stop.returnedRss', experiment: 'stop', fig: '6', label: 'memory returned by stop: RSS', unit: 'B/reg',
    better: 'higher', get: (r) => r.returnedPerReg.rss },
  { key: 'stop.returnedHeapExt', experiment: 'stop', fig: '6', label: 'memory returned by stop: heap+ext', unit: 'B/reg',
    better: 'higher', get: (r) => r.returnedPerReg.heapExt },
  { key: 'churn.totalMs', json: 'churnMs', experiment: 'churn', fig: '7', label: 'churn 2N, no gc(): until all ran', unit: 'ms',
    better: 'lower', get: (r) => (r.complete ? r.totalMs : incomplete(r)) },
  { key: 'churn.sharePct', json: 'churnDuringPct', experiment: 'churn', fig: '7', label: 'churn: share run during allocation', unit: '%',
    better: 'higher', get: (r) => r.shareDuringLoop * 100 },
  { key: 'steady.extraPct', json: 'steadyExtraPct', experiment: 'steady', fig: '8', label: 'steady state: extra time, N live regs', unit: '%',
    better: 'lower', get: (r) => r.extraPct },
  { key: 'steady.extraMs', experiment: 'steady', fig: '8', label: '  the same in ms', unit: 'ms',
    better: 'lower', get: (r) => r.extraMs },
  { key: 'steady.baseMs', experiment: 'steady', fig: '8', label: '  the workload without registrations', unit: 'ms',
    better: 'lower', get: (r) => r.baseMs },
];

/** The figures of `--json`, in order. */
const JSON_FIGURES = METRICS.filter((m) => m.json).map((m) => m.json);

const SUBJECT = 'addcleanup';
// The ratio columns: addcleanup's median over each of these.
const RATIOS = [
  { impl: 'fr-token', key: 'vsFrToken', label: 'add / FR+token' }, // the anchor
  { impl: 'fr-raw', key: 'vsFrRaw', label: 'add / FR-raw' }, // V8's floor
  { impl: 'napi-ref', key: 'vsNapiRef', label: 'add / Node-API ref' }, // Node-API's floor
];

// Aggregates one metric for one implementation over its rounds.
// runs: the child results ({ ok, result } or { ok: false, error }).
function aggregate(metric, runs) {
  const values = [];
  const incompletes = [];
  const errors = [];
  for (const run of runs) {
    if (!run.ok) {
      errors.push(run.error);
      continue;
    }
    const v = metric.get(run.result);
    if (v === null || v === undefined) continue; // not a figure of this implementation
    if (typeof v === 'number') values.push(v);
    else incompletes.push(v);
  }
  return {
    median: median(values),
    values,
    rounds: runs.length,
    incomplete: incompletes,
    errors,
  };
}

// medians[n][metric.key][impl] = aggregate; ratios[n][metric.key] = {...}
function summarize(runs, { ns, impls }) {
  const medians = {};
  const ratios = {};
  for (const n of ns) {
    medians[n] = {};
    ratios[n] = {};
    for (const metric of METRICS) {
      const row = {};
      for (const impl of impls) {
        const mine = runs.filter((r) => r.n === n && r.impl === impl && r.experiment === metric.experiment);
        row[impl] = mine.length === 0 ? null : aggregate(metric, mine);
      }
      medians[n][metric.key] = row;
      ratios[n][metric.key] = Object.fromEntries(RATIOS.map((r) => [r.key, ratio(row[SUBJECT], row[r.impl])]));
    }
  }
  return { medians, ratios };
}

// addcleanup's median over the other's. Only meaningful for positive
// medians: a negative one (a memory or pause delta lost in noise at small N)
// gives null ("n/a"); a zero denominator with a positive numerator (churn
// share: FR delivered nothing during the loop) gives Infinity ("inf").
function ratio(a, b) {
  if (!a || !b || a.median === null || b.median === null) return null;
  if (a.median < 0 || b.median < 0) return null;
  if (b.median === 0) return a.median > 0 ? Infinity : null;
  return a.median / b.median;
}

// The self-checks each experiment records (see bench/figures.js), as a list
// of human-readable problems; empty when all passed.
function checks(runs) {
  const problems = [];
  for (const r of runs) {
    if (!r.ok) continue;
    const x = r.result;
    const where = `N=${r.n} round ${r.round} ${r.experiment} ${r.impl}`;
    if (x.argsOk === false) problems.push(`${where}: cleanups did not run exactly once each with their own arg`);
    if (x.ranBeforeGc > 0) problems.push(`${where}: ${x.ranBeforeGc} cleanups ran while their objects were reachable`);
    if (r.experiment === 'stop' && x.stoppedTrue !== undefined && x.stoppedTrue !== r.n) {
      problems.push(`${where}: stop() returned true ${x.stoppedTrue} times for ${r.n} live registrations`);
    }
    if (x.ranAfterStop > 0) problems.push(`${where}: ${x.ranAfterStop} stopped cleanups ran`);
  }
  return problems;
}

// ---- formatting --------------------------------------------------------------

function num(x) {
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString('en-US');
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

// Compact but exact: 2M, 1.24M, 200k, else 1,999,888.
function count(x) {
  if (x >= 1e6 && x % 1e4 === 0) return `${x / 1e6}M`;
  if (x >= 1e3 && x % 1e3 === 0) return `${x / 1e3}k`;
  return Math.round(x).toLocaleString('en-US');
}

// One cell. Footnote markers: "*" some rounds incomplete (median of the
// complete ones), "!" some rounds failed.
function cell(agg, { skipped, noStop }) {
  if (skipped) return 'skipped';
  if (noStop) return 'n/a';
  if (!agg) return '-';
  const marks = (agg.incomplete.length > 0 ? '*' : '') + (agg.errors.length > 0 ? '!' : '');
  if (agg.median !== null) return num(agg.median) + marks;
  if (agg.incomplete.length > 0) {
    const delivered = median(agg.incomplete.map((i) => i.delivered));
    return `incomplete (${count(delivered)} of ${count(agg.incomplete[0].expected)})${agg.errors.length ? '!' : ''}`;
  }
  return agg.errors.length > 0 ? 'failed' : 'n/a';
}

function ratioCell(x) {
  if (x === null) return 'n/a';
  if (x === Infinity) return 'inf';
  return `${x.toFixed(2)}x`;
}

function pad(s, w, right) {
  return right ? s.padStart(w) : s.padEnd(w);
}

// The table for one N, as an array of lines.
function table(n, summary, { impls, labels, skipped, hasStop, rounds, experiments }) {
  const header = ['#', 'figure', 'unit', ...impls.map((i) => labels[i]), ...RATIOS.map((r) => r.label), 'better'];
  const rows = [];
  for (const m of METRICS) {
    if (!experiments.includes(m.experiment)) continue;
    const row = summary.medians[n][m.key];
    const r = summary.ratios[n][m.key];
    rows.push([
      m.fig,
      m.label,
      m.unit,
      ...impls.map((i) => cell(row[i], { skipped: skipped[i], noStop: m.experiment === 'stop' && !hasStop[i] })),
      ...RATIOS.map((x) => ratioCell(r[x.key])),
      m.better,
    ]);
  }
  return [
    `N = ${n.toLocaleString('en-US')}  (medians of ${rounds} round${rounds === 1 ? '' : 's'}, one process per implementation, figure and round)`,
    ...columns(header, rows, (c) => c >= 3 && c < header.length - 1),
  ];
}

// Header, rule and rows, padded to columns; `right(c)`: right-aligned.
function columns(header, rows, right) {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
  const line = (cols) => cols.map((s, c) => pad(s, widths[c], right(c))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

// When the bench ran on several Nodes: the --json figures at one N, each
// Node's addcleanup, FR+token and Node-API ref medians and addcleanup's
// ratios to FR+token and FR-raw, side by side (the README's table).
// `perNode`: [{ node, summary }].
function sideBySide(n, perNode, experiments) {
  const header = ['figure', 'unit'];
  for (const { node } of perNode) header.push(`${node} add`, 'FR+token', 'Node-API', 'add/FR+tok', 'add/FR-raw');
  const rows = [];
  for (const m of METRICS) {
    if (!m.json || !experiments.includes(m.experiment)) continue;
    const row = [m.json, m.unit];
    for (const { summary } of perNode) {
      const medians = summary.medians[n][m.key];
      const value = (impl) => (typeof medians[impl]?.median === 'number' ? num(medians[impl].median) : '-');
      const r = summary.ratios[n][m.key];
      row.push(value(SUBJECT), value('fr-token'), value('napi-ref'), ratioCell(r.vsFrToken), ratioCell(r.vsFrRaw));
    }
    rows.push(row);
  }
  return [`N = ${n.toLocaleString('en-US')}, the Nodes side by side (medians; "-": none)`, ...columns(header, rows, (c) => c >= 2)];
}

const LEGEND = [
  'Ratios are addcleanup\'s median divided by the other\'s: FR+token (the anchor) holds its held value as its own',
  'unregister token; FR-raw has no token; Node-API ref is one napi_add_finalizer per object. "better" says which',
  'direction wins: lower for every figure except the churn share run during allocation and the memory returned',
  'by stop (higher is better). n/a: not a figure of that implementation (no stop(), no cleanup to time);',
  '-: not measured for it; skipped: it could not be loaded; * some rounds incomplete (median of the complete',
  'ones); ! some rounds failed (see the results file). "incomplete (k of M)": the cleanups had not all run when',
  'the bounded wait ended (churn: no gc() is ever called, so FinalizationRegistry waits for a major GC).',
];

// The --json object of one Node and one N: { node, n, figures: { <figure>:
// { <impl>: median } } }. Every implementation of the run appears in every
// figure: null where it has no number (not measured for it, n/a, skipped,
// failed, or incomplete in every round).
function figuresJson(node, n, summary, impls) {
  const figures = {};
  for (const m of METRICS) {
    if (!m.json) continue;
    const row = summary.medians[n][m.key];
    figures[m.json] = Object.fromEntries(impls.map((i) => [i, row[i]?.median ?? null]));
  }
  return { node, n, figures };
}

module.exports = { METRICS, JSON_FIGURES, summarize, checks, table, sideBySide, figuresJson, LEGEND, SUBJECT };

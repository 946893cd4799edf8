#!/usr/bin/env node
'use strict';
// `npm run bench` (or `node bench/run.js`; options: --help, bench/options.js):
// the orchestrator.
//
// Every measurement runs in its own child process (bench/child.js): one
// process per (implementation, experiment, N, round), so that no heap, JIT
// state or pending finalization leaks from one measurement into another.
// Children run one at a time (this is a 2-core machine and GC uses helper
// threads: two children at once would measure each other). Within a round the
// implementations run in an order rotated by one every round, so that none
// always runs first or last. Medians over the rounds are reported, with ratios
// against FinalizationRegistry with the held value as its token (the anchor:
// the strongest FR that does what Go's Stop needs), and everything is
// written as JSON.
//
// The whole bench runs once per Node of --node (default: 20 and 26; the host
// Node, or one fetched from the npm registry as the Node matrix does), one
// after the other; the orchestrator itself runs on the host Node.
//
// With --json, stdout carries only the figures: one JSON object per line,
// one line per Node and N (bench/report.js figuresJson); the table and the
// progress go to stderr.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const semver = require('semver');
const { IMPLS } = require('./impls');
const { parseOptions, HELP } = require('./options');
const { machineFacts, printFacts } = require('./machine');
const { probe, runChild } = require('./children');
const { summarize, table, sideBySide, checks, figuresJson, LEGEND, SUBJECT } = require('./report');
const { fetchNode } = require('../tools/npm-binaries');

// Where the report goes: stdout, or stderr when stdout is for --json.
let log = console.log;

// Order of the implementations in round r: rotated by r, so that over k
// rounds each of k implementations runs once in every position.
function orderFor(round, impls) {
  const k = round % impls.length;
  return [...impls.slice(k), ...impls.slice(0, k)];
}

function seconds(ms) {
  return `${(ms / 1000).toFixed(1)}s`;
}

// The Nodes of --node, each { major, bin, source }: the host's own binary
// for its major, else the newest release of that major from the npm
// registry (tools/npm-binaries.js, the Node matrix's cache).
function resolveNodes(nodes) {
  const hostMajor = semver.major(process.version);
  return nodes.map((node) => {
    if (node === 'host' || node === hostMajor) return { major: hostMajor, bin: process.execPath, source: 'host' };
    const { bin, version, download } = fetchNode(node);
    log(`  node ${node}: node-${process.platform}-${process.arch}@${version} from the npm registry, ${download ? 'downloaded' : 'cached'}`);
    return { major: node, bin, source: `node-${process.platform}-${process.arch}@${version}` };
  });
}

// Which implementations load on this Node. Only addcleanup is required.
// Where finalizers run is printed: the Node-API floor must run in the
// package's mode (bench/impls.js).
function checkAvailability(names, target) {
  const availability = {};
  for (const name of names) {
    availability[name] = probe(name, target.bin);
    if (!availability[name].ok) {
      log(`  skipped     ${IMPLS[name].label}: could not be loaded here (${availability[name].reason}); its columns say "skipped"`);
    }
  }
  const modes = names.filter((n) => typeof availability[n].finalizersInGc === 'boolean');
  if (modes.length > 0) {
    log(`  finalizers  ${modes.map((n) => `${n} ${availability[n].finalizersInGc ? 'inside the GC' : 'deferred'}`).join(', ')}`);
  }
  const ours = availability[SUBJECT]?.finalizersInGc;
  const floor = availability['napi-ref']?.finalizersInGc;
  if (typeof ours === 'boolean' && typeof floor === 'boolean' && ours !== floor) {
    log('  warning     napi-ref does not run its finalizers in addcleanup\'s mode: the floor is not comparable');
  }
  return availability;
}

// The plan: N, then rounds, then experiments, then implementations (rotated).
function planJobs(options, runnable) {
  const jobs = [];
  for (const n of options.ns) {
    for (let round = 1; round <= options.rounds; round++) {
      for (const experiment of options.experiments) {
        // stop() is n/a for implementations without one: no child at all.
        const here = runnable.filter(
          (i) => (experiment !== 'stop' || IMPLS[i].hasStop) && (IMPLS[i].experiments?.includes(experiment) ?? true),
        );
        for (const impl of orderFor(round - 1, here)) jobs.push({ n, round, experiment, impl });
      }
    }
  }
  return jobs;
}

// Runs the jobs one at a time, printing one progress line per
// (N, round, experiment). Failures are reported and recorded, never fatal.
async function runJobs(jobs, options, target) {
  // A child gets its own waits plus generous room for allocation and GC.
  const childTimeoutMs = Math.max(options.timeoutMs, options.churnWaitMs) + 240000;
  const runs = [];
  let lineKey = null;
  let line = '';
  for (const job of jobs) {
    const key = `${job.n}/${job.round}/${job.experiment}`;
    if (key !== lineKey) {
      if (line) log(line);
      lineKey = key;
      line = `  N=${job.n} round ${job.round}/${options.rounds} ${job.experiment.padEnd(8)}:`;
    }
    const args = [
      `--impl=${job.impl}`,
      `--experiment=${job.experiment}`,
      `--n=${job.n}`,
      `--timeout-ms=${options.timeoutMs}`,
      `--churn-wait-ms=${options.churnWaitMs}`,
      `--steady-reps=${options.steadyReps}`,
    ];
    const t0 = Date.now();
    const out = await runChild(target.bin, options.nodeFlags, args, childTimeoutMs);
    const processMs = Date.now() - t0;
    runs.push({ ...job, processMs, ok: out.ok, result: out.result, error: out.error });
    line += ` ${job.impl} ${out.ok ? seconds(processMs) : 'FAILED'}`;
    if (!out.ok) {
      log(`${line}\n    ${IMPLS[job.impl].label} failed: ${out.error}`);
      line = '    ...';
    }
  }
  if (line) log(line);
  return runs;
}

function printReport(runs, summary, options, availability) {
  const pick = (f) => Object.fromEntries(options.impls.map((i) => [i, f(i)]));
  const opts = {
    impls: options.impls,
    labels: pick((i) => IMPLS[i].label),
    skipped: pick((i) => !availability[i].ok),
    hasStop: pick((i) => IMPLS[i].hasStop),
    rounds: options.rounds,
    experiments: options.experiments,
  };
  log('');
  for (const n of options.ns) log(`${table(n, summary, opts).join('\n')}\n`);
  log(LEGEND.join('\n'));
  if (options.impls.includes(TRACED)) log(`\n${tracingLines(summary, options).join('\n')}`);
  const problems = checks(runs);
  log(
    problems.length === 0
      ? '\nChecks passed: every completed delivery ran each cleanup once with its own arg; nothing ran before its\nobject died; every stop() on a live registration returned true and no stopped cleanup ran.'
      : `\nCHECKS FAILED:\n${problems.map((p) => `  ${p}`).join('\n')}`,
  );
  return problems;
}

// What a subscriber on the tracing channel costs: the traced column minus
// addcleanup's, per registration or cleanup, for each N.
const TRACED = 'addcleanup-traced';

function tracingLines(summary, options) {
  const lines = ['Tracing (a subscriber on addcleanup:cleanup recording every run; traced minus addcleanup):'];
  const delta = (n, key, perN) => {
    const row = summary.medians[n][key];
    const traced = row[TRACED]?.median;
    const plain = row[SUBJECT]?.median;
    if (typeof traced !== 'number' || typeof plain !== 'number') return 'n/a';
    const d = perN ? ((traced - plain) * 1e6) / n : traced - plain;
    return `${d >= 0 ? '+' : ''}${d.toFixed(1)} ns`;
  };
  for (const n of options.ns) {
    const parts = [];
    if (options.experiments.includes('register')) parts.push(`registration ${delta(n, 'register.nsPerCall', false)}/call`);
    if (options.experiments.includes('delivery')) {
      parts.push(`delivery ${delta(n, 'delivery.afterGcMs', true)}/cleanup (after gc), ${delta(n, 'delivery.totalMs', true)}/cleanup (total)`);
    }
    lines.push(`  N=${n.toLocaleString('en-US')}: ${parts.join('; ')}`);
  }
  return lines;
}

function writeJson(file, output) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  // JSON has no Infinity: such a ratio is written as the string "Infinity".
  const replacer = (_key, value) => (value === Infinity ? 'Infinity' : value);
  fs.writeFileSync(file, `${JSON.stringify(output, replacer, 2)}\n`);
}

// The whole bench on one Node: availability, plan, children, report.
async function benchOn(target, options) {
  const started = Date.now();
  const facts = machineFacts(options, target);
  printFacts(facts, options, log);
  const availability = checkAvailability(options.impls, target);
  if (availability[SUBJECT] && !availability[SUBJECT].ok) {
    throw new Error(`addcleanup itself does not load on ${facts.node}; run "npm install" (it builds the addon) first.`);
  }
  const jobs = planJobs(options, options.impls.filter((i) => availability[i].ok));
  log(`  plan        ${jobs.length} child processes, run one at a time\n`);

  const runs = await runJobs(jobs, options, target);
  const summary = summarize(runs, { ns: options.ns, impls: options.impls });
  const problems = printReport(runs, summary, options, availability);
  facts.loadAverageAtEnd = os.loadavg();
  const failed = runs.filter((r) => !r.ok).length;
  const loadEnd = facts.loadAverageAtEnd.map((x) => x.toFixed(2)).join(' ');
  log(`\n${facts.node}: ${seconds(Date.now() - started)} (${jobs.length} child processes${failed ? `, ${failed} failed` : ''}); load average at the end ${loadEnd}.\n`);
  return {
    machine: facts,
    availability,
    totalSeconds: (Date.now() - started) / 1000,
    checkProblems: problems,
    runs,
    medians: summary.medians,
    ratios: summary.ratios,
  };
}

async function main() {
  const started = Date.now();
  let options;
  try {
    options = parseOptions(process.argv.slice(2), process.env);
  } catch (error) {
    console.error(`bench: ${error.message}`);
    process.exitCode = 2;
    return;
  }
  if (options.help) {
    console.log(`usage: node bench/run.js [options]   (npm run bench -- [options])\n${HELP}`);
    return;
  }
  if (options.json) log = console.error;

  const targets = resolveNodes(options.nodes);
  // The Node-API floor needs the test addon (built on demand, like npm test,
  // by the host Node: Node-API is ABI-stable, the same file loads on each).
  if (options.impls.includes('napi-ref')) {
    try {
      await require('../tools/build-test-addon').ensureTestAddon();
    } catch (error) {
      log(`  (the test addon did not build: ${String(error.message).split('\n')[0]})`);
    }
  }
  const perNode = [];
  for (const target of targets) perNode.push(await benchOn(target, options));

  writeJson(options.out, {
    schema: 2,
    options: { ...options, out: undefined },
    order: 'per Node, then N, round and experiment: the implementations rotated by the round number',
    totalSeconds: (Date.now() - started) / 1000,
    nodes: perNode,
  });
  if (perNode.length > 1) {
    const nodes = perNode.map((r) => ({ node: r.machine.node, summary: r }));
    for (const n of options.ns) log(`${sideBySide(n, nodes, options.experiments).join('\n')}\n`);
  }
  log(`Total time ${seconds(Date.now() - started)}. Raw figures (every round) and medians: ${path.relative(process.cwd(), options.out) || options.out}`);
  if (options.json) {
    for (const result of perNode) {
      for (const n of options.ns) {
        const medians = { medians: result.medians };
        process.stdout.write(`${JSON.stringify(figuresJson(result.machine.node, n, medians, options.impls))}\n`);
      }
    }
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});

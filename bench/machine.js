'use strict';
// The machine facts printed at the top of the report and stored in the JSON:
// versions, CPU, memory, flags, date, and the load average (this bench shares
// a 2-core machine: a busy machine makes every timing noisy).
const { execFileSync } = require('node:child_process');
const os = require('node:os');
const { ROOT } = require('./impls');

function gitCommit() {
  try {
    return execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return null;
  }
}

function packageVersion(name) {
  try {
    return require(`${name}/package.json`).version;
  } catch {
    return null;
  }
}

// The version facts of the Node at `bin`, asked of that Node.
function nodeFacts(bin) {
  const script = 'console.log(JSON.stringify({ node: process.version, v8: process.versions.v8, napi: process.versions.napi }))';
  return JSON.parse(execFileSync(bin, ['-e', script], { encoding: 'utf8' }));
}

// `target`: the Node the children run on ({ bin, source }, bench/run.js).
function machineFacts(options, target) {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    ...nodeFacts(target.bin),
    nodeBinary: target.bin,
    nodeSource: target.source,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpuModel: cpus.length > 0 ? cpus[0].model.trim() : 'unknown',
    cpuCount: cpus.length,
    availableParallelism: typeof os.availableParallelism === 'function' ? os.availableParallelism() : cpus.length,
    totalMemoryBytes: os.totalmem(),
    loadAverageAtStart: os.loadavg(),
    childNodeFlags: options.nodeFlags,
    addcleanupCommit: gitCommit(),
    weakNapiVersion: packageVersion('weak-napi'),
  };
}

function printFacts(facts, options, log = console.log) {
  const gib = (facts.totalMemoryBytes / 2 ** 30).toFixed(1);
  const lines = [
    'addcleanup benchmark',
    `  date        ${facts.date}`,
    `  node        ${facts.node}  (V8 ${facts.v8}, Node-API ${facts.napi})  ${facts.platform}`,
    `              ${facts.nodeSource}: ${facts.nodeBinary}`,
    `  cpu         ${facts.cpuModel} x ${facts.cpuCount} (available parallelism ${facts.availableParallelism})`,
    `  memory      ${gib} GiB total`,
    `  child flags node ${facts.childNodeFlags.join(' ')}`,
    `  settings    N=${options.ns.join(',')}  rounds=${options.rounds}  delivery timeout=${options.timeoutMs / 1000}s  churn wait=${options.churnWaitMs / 1000}s${options.quick ? '  (--quick)' : ''}`,
    `  addcleanup  ${facts.addcleanupCommit ? `commit ${facts.addcleanupCommit}` : '(not a git checkout)'}; weak-napi ${facts.weakNapiVersion ?? 'not installed'}`,
  ];
  const load = facts.loadAverageAtStart.map((x) => x.toFixed(2)).join(' ');
  lines.push(`  load avg    ${load} (1, 5, 15 min) at start`);
  log(lines.join('\n'));
  if (facts.loadAverageAtStart[0] > facts.availableParallelism / 2) {
    log('  warning     the machine is busy: timings will be noisy (and the run slower)');
  }
  if (options.rounds < 3) log('  note        fewer than 3 rounds: medians are not robust');
}

module.exports = { machineFacts, printFacts };

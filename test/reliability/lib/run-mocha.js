'use strict';
// Runs the mocha suite under one runtime binary for test/reliability/node-matrix.js and
// test/reliability/runtimes.js: output echoed (unless quiet) and kept in a log file,
// the whole run bounded by a timeout, and test/reliability/lib/result-reporter.js'
// JSON result read back.
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { REPORTER, RESULT_ENV } = require('./result-reporter');

const ROOT = path.join(__dirname, '..', '..', '..');
const MOCHA_BIN = path.join(ROOT, 'node_modules', 'mocha', 'bin', 'mocha.js');

let current = null; // the running mocha process group, killed on Ctrl-C

function killGroup(child) {
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (current) killGroup(current);
    process.exit(130);
  });
}

/**
 * `<bin> ...prefix mocha --reporter <result reporter> ...mochaArgs` in the
 * repository, with `env` added to this process's environment (a key set to
 * undefined is removed). Resolves { code, signal, timedOut, wallMs, report,
 * logFile }; `report` is null when mocha died before the end of its run.
 */
function runMocha({ label, bin, prefix = [], mochaArgs, env = {}, workDir, quiet, timeoutMin, toFile = false }) {
  return new Promise((resolve) => {
    const slug = label.replace(/\W+/g, '-');
    const resultFile = path.join(workDir, `result-${slug}.json`);
    const logFile = path.join(workDir, `${slug}.log`);
    const log = fs.openSync(logFile, 'w');
    const childEnv = { ...process.env, ...env, [RESULT_ENV]: resultFile };
    for (const [key, value] of Object.entries(childEnv)) if (value === undefined) delete childEnv[key];
    childEnv.PATH = `${path.dirname(bin)}${path.delimiter}${childEnv.PATH || ''}`;
    const args = [...prefix, MOCHA_BIN, '--reporter', REPORTER, ...(process.stdout.isTTY ? ['--color'] : []), ...mochaArgs];
    const header = `\n===== ${label} (${bin})\n$ ${bin} ${args.map((a) => (/[\s*]/.test(a) ? JSON.stringify(a) : a)).join(' ')}\n`;
    process.stdout.write(header);
    fs.writeSync(log, header);

    const start = process.hrtime.bigint();
    // detached: its own process group, so a timeout kills mocha's child and
    // every process the tests spawned, not only the wrapper.
    // toFile: the output goes straight into the log (Windows Node under Wine
    // cannot write to a pipe: EBADF).
    const stdio = toFile ? ['ignore', log, log] : ['ignore', 'pipe', 'pipe'];
    const child = spawn(bin, args, { cwd: ROOT, env: childEnv, detached: true, stdio });
    current = child;
    const tee = (stream) => (chunk) => {
      fs.writeSync(log, chunk);
      if (!quiet) stream.write(chunk);
    };
    if (!toFile) {
      child.stdout.on('data', tee(process.stdout));
      child.stderr.on('data', tee(process.stderr));
    }
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child);
    }, timeoutMin * 60000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      current = null;
      fs.closeSync(log);
      const wallMs = Number(process.hrtime.bigint() - start) / 1e6;
      let report = null;
      try {
        report = JSON.parse(fs.readFileSync(resultFile, 'utf8'));
      } catch {
        // mocha died before its end event: reported as a failure by the caller.
      }
      resolve({ code, signal, timedOut, wallMs, report, logFile });
    });
  });
}

/** Prints each failing test of a run's report: its title, file and the first lines of its error. */
function printMochaFailures(report) {
  for (const f of (report && report.failures) || []) {
    console.log(`  - ${f.title}${f.file ? `  [${f.file}]` : ''}`);
    console.log(f.message.split('\n').slice(0, 6).map((l) => `      ${l}`).join('\n'));
  }
}

module.exports = { MOCHA_BIN, printMochaFailures, runMocha };

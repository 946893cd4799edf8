'use strict';
// Starting bench/child.js and reading its one result line (see protocol.js).
// A child that crashes, runs out of memory or hangs becomes
// { ok: false, error }, never an exception: one failed measurement must not
// stop the bench.
const { spawn, spawnSync } = require('node:child_process');
const path = require('node:path');
const { ROOT } = require('./impls');
const { RESULT_PREFIX } = require('./protocol');

const CHILD = path.join(__dirname, 'child.js');

function parseResult(stdout) {
  const line = (stdout || '').split('\n').find((l) => l.startsWith(RESULT_PREFIX));
  return line ? JSON.parse(line.slice(RESULT_PREFIX.length)) : null;
}

// Can this implementation be loaded by the Node at `node`? Asked of a
// throw-away child, so that a native addon that crashes on load cannot take
// the orchestrator down.
function probe(name, node = process.execPath) {
  const r = spawnSync(node, [CHILD, `--probe=${name}`], { cwd: ROOT, encoding: 'utf8', timeout: 30000 });
  const result = parseResult(r.stdout);
  if (result) return result;
  const reason = r.error ? r.error.message : `exit ${r.status ?? r.signal}${why(r.stderr || '') || ': no output'}`;
  return { ok: false, reason };
}

// The telling line of a dead child's stderr: V8's "FATAL ERROR" or the first
// error message, else its last line (not a native stack trace).
function why(stderr) {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const telling = lines.find((l) => /FATAL ERROR|Error\b/.test(l)) ?? lines[lines.length - 1];
  return telling ? `: ${telling.slice(0, 300)}` : '';
}

// Runs `<node> <nodeFlags> child.js <args>`; resolves its result object.
function runChild(node, nodeFlags, args, timeoutMs) {
  return new Promise((resolve) => {
    const child = spawn(node, [...nodeFlags, CHILD, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ ok: false, error: error.message });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result = parseResult(stdout);
      if (result) return resolve(result);
      const how = timedOut ? `timed out after ${timeoutMs / 1000}s` : signal ? `killed by ${signal}` : `exited ${code}`;
      resolve({ ok: false, error: `child ${how} without a result${why(stderr)}` });
    });
  });
}

module.exports = { probe, runChild };

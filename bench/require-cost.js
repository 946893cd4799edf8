'use strict';
// npm run bench:require: what `require('addcleanup')` costs a process.
//
// Each run is a fresh `node` child that reports its own process.cpuUsage()
// (user + system, since the process started) after either nothing
// (`node -e 0`'s work) or `require(<root>)`; the figure is the difference of
// the medians over --runs children of each kind, run alternately. The
// modules loaded are counted in the same child: files in require.cache, and
// Node's own built-in modules that were not loaded before the require.
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const { commandLine } = require('../tools/cli');
const { median } = require('./stats');

const USAGE = `usage: node bench/require-cost.js [--runs=N] [--root=DIR]
  --runs=40     children of each kind (with and without the require)
  --root=DIR    the package to require (default: this checkout)`;

const { values } = commandLine({
  name: 'require-cost',
  usage: USAGE,
  options: { runs: { type: 'string', default: '40' }, root: { type: 'string', default: path.join(__dirname, '..') } },
});
const runs = Number(values.runs);
const root = path.resolve(values.root);

// The child: builtins and files before and after, and its CPU at the end.
const PROBE = `
const builtinsBefore = new Set(process.moduleLoadList);
const filesBefore = new Set(Object.keys(require.cache));
if (process.argv[1] === 'require') require(process.argv[2]);
const files = Object.keys(require.cache).filter((f) => !filesBefore.has(f));
const builtins = process.moduleLoadList.filter((m) => !builtinsBefore.has(m) && m.startsWith('NativeModule '));
const { user, system } = process.cpuUsage();
process.stdout.write(JSON.stringify({ cpuMs: (user + system) / 1000, files, builtins }));`;

function child(mode) {
  return JSON.parse(execFileSync(process.execPath, ['-e', PROBE, mode, root], { encoding: 'utf8' }));
}

const bare = [];
const loaded = [];
let last;
for (let i = 0; i < runs; i++) {
  bare.push(child('bare').cpuMs);
  last = child('require');
  loaded.push(last.cpuMs);
}
const cost = median(loaded) - median(bare);
console.log(`require('${path.relative(process.cwd(), root) || '.'}') over node -e 0, ${runs} children each (Node ${process.version}):`);
console.log(`  CPU: ${cost.toFixed(1)} ms (medians ${median(loaded).toFixed(1)} and ${median(bare).toFixed(1)} ms)`);
console.log(`  files loaded: ${last.files.length}`);
for (const file of last.files) console.log(`    ${path.relative(root, file)}`);
console.log(`  built-in modules loaded: ${last.builtins.length} (${last.builtins.map((m) => m.slice(13)).join(', ')})`);

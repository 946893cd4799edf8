#!/usr/bin/env node
'use strict';
// The package as the ecosystem's checkers see it: publint --strict (the
// manifest, its entry points and files) and @arethetypeswrong/cli (the types
// of every entry point under each TypeScript resolution: node10, node16 from
// CommonJS and from ESM, bundler), both on the tarball, both devDependencies.
// Any problem either reports fails the run, publint's suggestions included
// (--strict fails on its warnings only): each must say it found nothing.
//
//   node test/reliability/package-checks.js                  packs one with tools/pack.js
//   node test/reliability/package-checks.js --tarball FILE   checks that tarball instead
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { commandLine } = require('../../tools/cli');
const { pack } = require('../../tools/pack');

const USAGE = 'usage: node test/reliability/package-checks.js [--tarball FILE]';

const ROOT = path.join(__dirname, '..', '..');

// A devDependency's command-line script, from its package.json's "bin"
// (publint's "exports" hide its package.json from require.resolve).
function binOf(pkg, name) {
  const manifest = path.join(ROOT, 'node_modules', pkg, 'package.json');
  return path.join(path.dirname(manifest), JSON.parse(fs.readFileSync(manifest, 'utf8')).bin[name]);
}

const CHECKERS = [
  { name: 'publint --strict', script: binOf('publint', 'publint'), args: (tgz) => ['--strict', tgz], clean: /^All good!$/m },
  { name: 'attw', script: binOf('@arethetypeswrong/cli', 'attw'), args: (tgz) => [tgz, '--format', 'ascii'], clean: /No problems found/ },
];

function main() {
  const { values } = commandLine({ name: 'package-checks', usage: USAGE, options: { tarball: { type: 'string' } } });
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'addcleanup-checks-'));
  const failed = [];
  try {
    const tarball = values.tarball ? path.resolve(values.tarball) : pack({ out: work }).tarball;
    for (const checker of CHECKERS) {
      const started = Date.now();
      const run = spawnSync(process.execPath, [checker.script, ...checker.args(tarball)], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } });
      const ms = Date.now() - started;
      console.log(`=== ${checker.name} ${path.basename(tarball)}: exit ${run.status} in ${ms} ms\n${(run.stdout + run.stderr).trimEnd()}\n`);
      if (run.status !== 0 || !checker.clean.test(run.stdout)) failed.push(checker.name);
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  if (failed.length > 0) {
    console.log(`package-checks: problems reported by ${failed.join(' and ')}`);
    process.exit(1);
  }
  console.log('package-checks: no problem reported by publint --strict or attw');
}

main();

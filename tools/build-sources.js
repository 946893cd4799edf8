'use strict';
// `npm test`'s pretest: builds what the tests load from the current sources,
// so that editing lib/*.ts or native/* and running `npm test` never tests a
// stale dist/ or build/. Also `prepare` (npm install, npm pack), with --ts.
//   1. tsc -p tsconfig.json           lib/ -> dist/ (about 3 s), into an
//                                     emptied dist/: a file whose source
//                                     was removed must not be loaded or packed
//   2. node-gyp build                 native/ -> build/Release, incremental
//                                     (about 1.5 s when nothing changed);
//      node-gyp rebuild               where build/ was never configured
//                                     (the install used a prebuild), or
//                                     binding.gyp changed since
// With ADDCLEANUP_NATIVE_PATH set, the tests load that binary, so step 2 is
// skipped; --ts does step 1 only.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const tsOnly = process.argv.includes('--ts');

function run(script, args) {
  execFileSync(process.execPath, [require.resolve(script), ...args], { cwd: ROOT, stdio: 'inherit' });
}

fs.rmSync(path.join(ROOT, 'dist'), { recursive: true, force: true });
run('typescript/bin/tsc', ['-p', 'tsconfig.json']);
if (!tsOnly && process.env.ADDCLEANUP_NATIVE_PATH === undefined) {
  const makefile = path.join(ROOT, 'build', 'Makefile');
  const configured =
    fs.existsSync(makefile) && fs.statSync(makefile).mtimeMs >= fs.statSync(path.join(ROOT, 'binding.gyp')).mtimeMs;
  run('node-gyp/bin/node-gyp.js', [configured ? 'build' : 'rebuild', '--loglevel=warn']);
}

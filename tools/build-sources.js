'use strict';
// `npm test`'s pretest: builds what the tests load from the current sources,
// so that editing lib/*.ts or native/* and running `npm test` never tests a
// stale dist/ or build/.
//   1. tsc -p tsconfig.json           lib/ -> dist/ (about 3 s)
//   2. node-gyp build                 native/ -> build/Release, incremental
//                                     (about 1.5 s when nothing changed);
//      node-gyp rebuild               where build/ was never configured
//                                     (the install used a prebuild), or
//                                     binding.gyp changed since
// With ADDCLEANUP_NATIVE_PATH set, the tests load that binary, so step 2 is
// skipped.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');

function run(script, args) {
  execFileSync(process.execPath, [require.resolve(script), ...args], { cwd: ROOT, stdio: 'inherit' });
}

run('typescript/bin/tsc', ['-p', 'tsconfig.json']);
if (process.env.ADDCLEANUP_NATIVE_PATH === undefined) {
  const makefile = path.join(ROOT, 'build', 'Makefile');
  const configured =
    fs.existsSync(makefile) && fs.statSync(makefile).mtimeMs >= fs.statSync(path.join(ROOT, 'binding.gyp')).mtimeMs;
  run('node-gyp/bin/node-gyp.js', [configured ? 'build' : 'rebuild', '--loglevel=warn']);
}

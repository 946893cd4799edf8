'use strict';
// The reliability runs need V8 flags only the command line can give
// (--expose-gc, and the leak soak's fixed young generation); package.json's
// scripts pass them. Run any other way without them, a script says how to
// run it and exits 2, instead of starting a copy of itself with the flags.

function hasFlag(flag) {
  if (flag === '--expose-gc') return typeof globalThis.gc === 'function';
  const name = flag.split('=')[0];
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS || '').split(/\s+/)];
  return given.some((a) => a === flag || a.split('=')[0] === name);
}

/**
 * Exits 2 with how to run `script` (a path from the repository's root) unless
 * this process has every flag of `flags`; `npmScript` names the package.json
 * script that runs it.
 */
function requireNodeFlags(script, flags, npmScript) {
  const missing = flags.filter((flag) => !hasFlag(flag));
  if (missing.length === 0) return;
  process.stderr.write(
    `${script}: this process lacks ${missing.join(' ')}; run it as\n` +
      `  npm run ${npmScript} -- [options]\nor\n  node ${flags.join(' ')} ${script} [options]\n`,
  );
  process.exit(2);
}

module.exports = { requireNodeFlags };

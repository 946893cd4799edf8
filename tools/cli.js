'use strict';
// The command line of the repository's runnable scripts (tools/,
// test/reliability/, bench/): Node's util.parseArgs, with -h/--help printing
// the script's usage, and bad usage reported the way these scripts always
// have: `<name>: <what is wrong>`, the usage, exit code 2.
const { parseArgs } = require('node:util');

/** Bad usage; `arg` is the command-line argument at fault, as it was typed. */
class UsageError extends Error {
  constructor(message, arg) {
    super(message);
    this.name = 'UsageError';
    this.arg = arg;
  }
}

// util.parseArgs' errors, reworded to name the argument: its own messages
// are long and about how to pass a positional that starts with a dash.
function usageError(error, { args, options, allowPositionals }) {
  const { tokens } = parseArgs({ args, options, allowPositionals: true, strict: false, tokens: true });
  const wrong = (t) => {
    if (t.kind === 'positional') return !allowPositionals;
    if (t.kind !== 'option') return false;
    const spec = options[t.name];
    return !spec || (spec.type === 'string') !== (t.value !== undefined);
  };
  const bad = tokens.find(wrong);
  // (A value that looks like an option, --ops --soak, leaves no bad token:
  // parseArgs' first line says what is ambiguous.)
  if (!bad) return new UsageError(error.message.split('\n')[0], undefined);
  const arg = args[bad.index];
  if (bad.kind === 'positional') return new UsageError(`unknown argument ${arg}`, arg);
  const spec = options[bad.name];
  if (!spec) return new UsageError(`unknown option ${bad.rawName}`, arg);
  if (spec.type === 'string') return new UsageError(`${bad.rawName} needs a value`, arg);
  return new UsageError(`${bad.rawName} takes no value`, arg);
}

/**
 * util.parseArgs({ args, options, allowPositionals }) in strict mode, with
 * -h/--help added to `options`. Throws a UsageError on bad usage.
 */
function parseCommandLine({ args = process.argv.slice(2), options, allowPositionals = false }) {
  const all = { help: { type: 'boolean', short: 'h' }, ...options };
  try {
    return parseArgs({ args, options: all, allowPositionals, strict: true });
  } catch (error) {
    if (!String(error.code).startsWith('ERR_PARSE_ARGS_')) throw error;
    throw usageError(error, { args, options: all, allowPositionals });
  }
}

/**
 * For a script's top level: parseCommandLine(), then --help prints `usage`
 * and exits 0, and bad usage prints `<name>: <message>` and `usage` on stderr
 * and exits 2; `message(error)` words it (default: error.message). Returns
 * util.parseArgs' { values, positionals } and `fail(message)`, which reports
 * a bad value the same way.
 */
function commandLine({ name, usage, message = (e) => e.message, ...config }) {
  const fail = (text) => {
    process.stderr.write(`${name}: ${text}\n${usage}\n`);
    process.exit(2);
  };
  let parsed;
  try {
    parsed = parseCommandLine(config);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    fail(message(error));
  }
  if (parsed.values.help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  return { ...parsed, fail };
}

module.exports = { UsageError, parseCommandLine, commandLine };

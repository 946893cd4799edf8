#!/usr/bin/env bash
# Runs the whole mocha suite against a Debug build of the addon compiled with
# AddressSanitizer + UndefinedBehaviorSanitizer (LeakSanitizer included), and
# fails on any test failure or any sanitizer report.
#
#   bash test/reliability/sanitizers/sanitize.sh                      the whole suite ("test/**/*.test.js")
#   bash test/reliability/sanitizers/sanitize.sh test/go.test.js ...  only these spec files
#
# What it does:
#   1. Copies binding.gyp and native/ into build-sanitize/asan/ (gitignored: the
#      .gitignore line is /build-sanitize/) and runs
#      `node-gyp rebuild --debug -- -Dsanitize=1` there: binding.gyp's Debug
#      configuration (ADDCLEANUP_DEBUG=1: internal asserts on, -O0 -g3) plus
#      its `sanitize` variable (-fsanitize=address,undefined,
#      -fno-sanitize-recover=undefined). build/ (the Release build) is never
#      touched, so this can run next to a normal build.
#   2. Runs mocha with ADDCLEANUP_NATIVE_PATH naming that build (lib/binding.ts
#      loads it instead of build/Release). Node itself is not instrumented, so
#      g++'s own ASan and UBSan runtimes are preloaded (LD_PRELOAD); the
#      environment is inherited by every child process and worker the tests
#      start. test/addon (a test-only addon) is built beforehand, without the
#      preload, and is not instrumented.
#   3. Every process writes its ASan/LSan reports to files in a temporary log
#      directory (log_path), so a report from a child whose stderr a test
#      captured is not lost (UBSan writes to stderr only: see below). Leaks are
#      checked at the exit of every Node.js process, with the V8 heap false
#      positives listed (and explained) in test/reliability/sanitizers/lsan.supp suppressed and
#      nothing else.
#   4. Prints every report in full, then one summary line; exits non-zero on
#      any report or test failure.
#
# Environment (optional):
#   ADDCLEANUP_SANITIZE_DIR  build directory (default: <repo>/build-sanitize/asan)
#   ADDCLEANUP_SANITIZE_SRC  directory whose binding.gyp and native/ are built
#                            (default: the repository; test/reliability/sanitizers/sanitize-selftest.sh
#                            points it at deliberately broken copies)
#   ADDCLEANUP_SANITIZE_LOGS keep the sanitizer logs in this directory instead
#                            of a temporary one that is deleted
#
# Requirements: g++ with its libasan/libubsan (Debian: libgcc-<N>-dev, pulled in
# by g++; installed with apt-get when missing and running as root), python3 and
# make for node-gyp, and the compiled TypeScript in dist/ (npm install does it).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$ROOT"
START=$SECONDS

BUILD_DIR="${ADDCLEANUP_SANITIZE_DIR:-$ROOT/build-sanitize/asan}"
SRC_DIR="${ADDCLEANUP_SANITIZE_SRC:-$ROOT}"
SUPPRESSIONS="$ROOT/test/reliability/sanitizers/lsan.supp"
SPECS=("$@")
# Left out of the default run (an explicit spec list runs whatever it names):
# test/tarball.test.js tests packaging, not the addon. It packs the package
# (tsc, prebuildify, node-gyp, python, make, g++) and installs the tarball into
# temporary projects, asserting that the installed copy loads its own prebuild;
# here the inherited ADDCLEANUP_NATIVE_PATH would make it load the sanitizer
# build instead, and the whole toolchain would run under the preloaded runtime.
EXCLUDE=("test/tarball.test.js")
if [[ ${#SPECS[@]} -eq 0 ]]; then
  SPECS=("test/**/*.test.js")
  for spec in "${EXCLUDE[@]}"; do SPECS+=(--ignore "$spec"); done
fi

say() { printf 'sanitize: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 2; }

# --- toolchain -----------------------------------------------------------------
command -v g++ >/dev/null || die "g++ is required (apt-get install g++)"
runtime() { g++ -print-file-name="$1"; }   # prints the bare name when missing
if [[ ! -e "$(runtime libasan.so)" || ! -e "$(runtime libubsan.so)" ]]; then
  GCC_MAJOR="$(g++ -dumpversion | cut -d. -f1)"
  if command -v apt-get >/dev/null && [[ $(id -u) -eq 0 ]]; then
    say "installing g++'s sanitizer runtimes (libgcc-$GCC_MAJOR-dev)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "libgcc-$GCC_MAJOR-dev" >/dev/null
  fi
  [[ -e "$(runtime libasan.so)" && -e "$(runtime libubsan.so)" ]] ||
    die "g++'s libasan.so/libubsan.so not found (Debian: apt-get install libgcc-$GCC_MAJOR-dev)"
fi
# The real shared objects, not the linker-script/symlink names.
ASAN_LIB="$(readlink -f "$(runtime libasan.so)")"
UBSAN_LIB="$(readlink -f "$(runtime libubsan.so)")"

[[ -f "$ROOT/dist/index.js" ]] || die "dist/ is missing: compile the TypeScript first (npm install, or npm run build:ts)"
[[ -f "$SUPPRESSIONS" ]] || die "missing $SUPPRESSIONS"

# --- 1. the sanitizer build ----------------------------------------------------
# shellcheck source=tools/build-copy.sh
source "$ROOT/tools/build-copy.sh"
say "building $SRC_DIR/native with -fsanitize=address,undefined (Debug) in $BUILD_DIR"
build_copy "$SRC_DIR" "$BUILD_DIR" -- -Dsanitize=1 || die "the sanitizer build failed"
ADDON="$BUILT_ADDON"
# Guard against binding.gyp silently losing its sanitize variable.
readelf -d "$ADDON" | grep -q 'libasan\.so' || die "$ADDON is not linked against libasan: is binding.gyp's sanitize variable still there?"

# The test-only addon, built (if stale) now and without the preload, so that
# the compiler is never run under the sanitizer runtime by a test.
node "$ROOT/tools/build-test-addon.js" >/dev/null

# --- 2. the suite ----------------------------------------------------------------
use_log_dir "${ADDCLEANUP_SANITIZE_LOGS:-}" sanitize
MOCHA_OUT="$LOG_DIR/mocha.out"

# ASan: stop at the first error with an abort (a child dies by SIGABRT, which
# every process test treats as a failure), write reports to files, and check
# leaks at exit in every Node.js process (the addon only ever lives in one).
# LD_PRELOAD is inherited by anything a test runs, so a non-Node program (a
# shell, python, a compiler) also gets the runtime: its memory errors are still
# reported, but its leaks at exit are not ours and are not checked. The switch
# is per executable: include_if_exists expands %b to the program's name, and
# only the file named after the node executable exists.
# LSan: only test/reliability/sanitizers/lsan.supp. UBSan: stack traces, and stop at the first
# error (the addon is also built with -fno-sanitize-recover=undefined).
NODE_EXE="$(basename "$(readlink -f "$(command -v node)")")"
mkdir -p "$LOG_DIR/options"
echo "detect_leaks=1" >"$LOG_DIR/options/$NODE_EXE"
ASAN_OPTS="detect_leaks=0:halt_on_error=1:abort_on_error=1:check_initialization_order=1"
ASAN_OPTS+=":strict_string_checks=1:detect_container_overflow=1:log_path=$LOG_DIR/asan"
ASAN_OPTS+=":include_if_exists=$LOG_DIR/options/%b"
LSAN_OPTS="suppressions=$SUPPRESSIONS:print_suppressions=1"
UBSAN_OPTS="print_stacktrace=1:halt_on_error=1:abort_on_error=1"  # no log_path: see below

say "running mocha ${SPECS[*]} with $ADDON"
set +e
env LD_PRELOAD="$ASAN_LIB $UBSAN_LIB${LD_PRELOAD:+ $LD_PRELOAD}" \
    ASAN_OPTIONS="$ASAN_OPTS" LSAN_OPTIONS="$LSAN_OPTS" UBSAN_OPTIONS="$UBSAN_OPTS" \
    ADDCLEANUP_NATIVE_PATH="$ADDON" \
    node "$ROOT/node_modules/mocha/bin/mocha.js" "${SPECS[@]}" 2>&1 | tee "$MOCHA_OUT"
MOCHA_STATUS=${PIPESTATUS[0]}
set -e

# --- 3. the reports -------------------------------------------------------------
REPORT_RE='ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: (Address|Undefined|Leak)Sanitizer|WARNING: (AddressSanitizer|LeakSanitizer)'
shopt -s nullglob
REPORTS=()
for file in "$LOG_DIR"/asan.*; do
  if grep -Eq "$REPORT_RE" "$file"; then REPORTS+=("$file"); fi
done
for file in "${REPORTS[@]}"; do
  printf '\n===== sanitizer report: %s =====\n' "$(basename "$file")" >&2
  cat "$file" >&2
done
# g++'s UBSan, next to ASan, ignores log_path and always writes to stderr. A
# report from the mocha process, or from a child (which it aborts, so the test
# that started it fails and prints the child's stderr), ends up in mocha's
# output: count those too.
UB_LINES=$(grep -c 'runtime error:' "$MOCHA_OUT" || true)
if [[ $UB_LINES -gt 0 ]]; then
  printf '\n===== UndefinedBehaviorSanitizer reports in the mocha output =====\n' >&2
  grep -A12 'runtime error:' "$MOCHA_OUT" >&2 || true
  REPORTS+=("mocha output: $UB_LINES UBSan runtime error line(s)")
fi

# What the suppressions matched, summed over all processes ("Suppressions
# used:" blocks: "  count  bytes  template").
SUPPRESSED=$(cat /dev/null "$LOG_DIR"/asan.* | awk '
  /^Suppressions used:/ { on = 1; next }
  on && /^ *[0-9]+ +[0-9]+ +/ { n[$3] += $1; b[$3] += $2; next }
  on && !/^ *count/ { on = 0 }
  END { for (t in n) { printf "  %6d allocations %9d bytes  %s\n", n[t], b[t], t; total += n[t] } print total + 0 > "/dev/stderr" }' 2>"$LOG_DIR/suppressed.total")
SUPPRESSED_TOTAL=$(cat "$LOG_DIR/suppressed.total")
if [[ -n "$SUPPRESSED" ]]; then
  say "V8 heap false positives suppressed by test/reliability/sanitizers/lsan.supp (all processes):"
  printf '%s\n' "$SUPPRESSED" | sort -k5 >&2
fi

PASSING=$(grep -Eo '^ *[0-9]+ passing' "$MOCHA_OUT" | tail -1 | grep -Eo '[0-9]+' || echo 0)
FAILING=$(grep -Eo '^ *[0-9]+ failing' "$MOCHA_OUT" | tail -1 | grep -Eo '[0-9]+' || echo 0)
ELAPSED=$((SECONDS - START))
STATUS=0
if [[ $MOCHA_STATUS -ne 0 || ${#REPORTS[@]} -ne 0 || $PASSING -eq 0 ]]; then STATUS=1; fi
if [[ -n "${ADDCLEANUP_SANITIZE_LOGS:-}" ]]; then say "logs kept in $LOG_DIR"; fi
printf 'sanitize: %s — %d passing, %d failing (mocha exit %d); %d sanitizer report(s); %d V8 heap allocation(s) suppressed as leaks; %dm%02ds\n' \
  "$([[ $STATUS -eq 0 ]] && echo OK || echo FAILED)" "$PASSING" "$FAILING" "$MOCHA_STATUS" \
  "${#REPORTS[@]}" "$SUPPRESSED_TOTAL" $((ELAPSED / 60)) $((ELAPSED % 60))
exit $STATUS

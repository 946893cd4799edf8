#!/usr/bin/env bash
# Runs a reduced mocha suite under Valgrind memcheck against a Debug build of
# the addon (no sanitizers), and fails on any memcheck error or definite /
# indirect leak, or any test failure. It complements test/reliability/sanitizers/sanitize.sh:
# Valgrind needs no instrumentation, so it also sees Node's and V8's side of
# every call into them, and it scans all of memory (V8's own mmap'd pages
# included) when it checks leaks; it is ~50x slower, hence the reduced suite.
#
#   bash test/reliability/sanitizers/valgrind.sh                      test/delivery.test.js test/lifetime.test.js test/go.test.js
#   bash test/reliability/sanitizers/valgrind.sh test/api.test.js ... these spec files instead
#
# The build goes to build-sanitize/valgrind/ (gitignored: /build-sanitize/);
# build/ is never touched. Mocha runs in-process (mocha/lib/cli/cli.js, with
# --expose-gc given to node directly) so that Valgrind watches the process that
# runs the tests; children are traced too, should a spec start any.
#
# Environment (optional):
#   ADDCLEANUP_VALGRIND_DIR   build directory (default: <repo>/build-sanitize/valgrind)
#   ADDCLEANUP_VALGRIND_SRC   directory whose binding.gyp and native/ are built
#                             (default: the repository)
#   ADDCLEANUP_VALGRIND_LOGS  keep Valgrind's logs here instead of a temporary
#                             directory that is deleted
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$ROOT"
START=$SECONDS
BUILD_DIR="${ADDCLEANUP_VALGRIND_DIR:-$ROOT/build-sanitize/valgrind}"
SRC_DIR="${ADDCLEANUP_VALGRIND_SRC:-$ROOT}"
SUPPRESSIONS="$ROOT/test/reliability/sanitizers/valgrind.supp"
SPECS=("$@")
if [[ ${#SPECS[@]} -eq 0 ]]; then SPECS=(test/delivery.test.js test/lifetime.test.js test/go.test.js); fi

say() { printf 'valgrind: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 2; }

if ! command -v valgrind >/dev/null; then
  if command -v apt-get >/dev/null && [[ $(id -u) -eq 0 ]]; then
    say "installing valgrind"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends valgrind >/dev/null
  fi
  command -v valgrind >/dev/null || die "valgrind is required (apt-get install valgrind)"
fi
[[ -f "$ROOT/dist/index.js" ]] || die "dist/ is missing: compile the TypeScript first (npm install, or npm run build:ts)"

# shellcheck source=tools/build-copy.sh
source "$ROOT/tools/build-copy.sh"
say "building $SRC_DIR/native (Debug, no sanitizers) in $BUILD_DIR"
build_copy "$SRC_DIR" "$BUILD_DIR" || die "the build failed"
ADDON="$BUILT_ADDON"
node "$ROOT/tools/build-test-addon.js" >/dev/null

use_log_dir "${ADDCLEANUP_VALGRIND_LOGS:-}" valgrind
MOCHA_OUT="$LOG_DIR/mocha.out"

say "running mocha ${SPECS[*]} under memcheck with $ADDON"
set +e
ADDCLEANUP_NATIVE_PATH="$ADDON" valgrind --tool=memcheck --error-exitcode=99 \
  --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
  --num-callers=40 --suppressions="$SUPPRESSIONS" --trace-children=yes \
  --log-file="$LOG_DIR/memcheck.%p.log" \
  node --expose-gc "$ROOT/node_modules/mocha/lib/cli/cli.js" "${SPECS[@]}" 2>&1 | tee "$MOCHA_OUT"
STATUS_MOCHA=${PIPESTATUS[0]}
set -e

# Every process's "ERROR SUMMARY: N errors" (leaks of the kinds above count).
ERRORS=0
BAD=()
shopt -s nullglob
for file in "$LOG_DIR"/memcheck.*.log; do
  n=$(grep -Eo 'ERROR SUMMARY: [0-9]+' "$file" | tail -1 | grep -Eo '[0-9]+' || echo 0)
  if [[ $n -gt 0 ]]; then ERRORS=$((ERRORS + n)); BAD+=("$file"); fi
done
for file in "${BAD[@]}"; do
  printf '\n===== memcheck: %s =====\n' "$(basename "$file")" >&2
  cat "$file" >&2
done
SUPPRESSED=$(cat /dev/null "$LOG_DIR"/memcheck.*.log |
  sed -nE 's/.*ERROR SUMMARY: [0-9]+ errors from [0-9]+ contexts \(suppressed: ([0-9]+) from.*/\1/p' |
  awk '{ s += $1 } END { print s + 0 }')

PASSING=$(grep -Eo '^ *[0-9]+ passing' "$MOCHA_OUT" | tail -1 | grep -Eo '[0-9]+' || echo 0)
FAILING=$(grep -Eo '^ *[0-9]+ failing' "$MOCHA_OUT" | tail -1 | grep -Eo '[0-9]+' || echo 0)
ELAPSED=$((SECONDS - START))
STATUS=0
if [[ $STATUS_MOCHA -ne 0 || $ERRORS -ne 0 || $PASSING -eq 0 ]]; then STATUS=1; fi
if [[ -n "${ADDCLEANUP_VALGRIND_LOGS:-}" ]]; then say "logs kept in $LOG_DIR"; fi
printf 'valgrind: %s — %d passing, %d failing (exit %d); %d memcheck error(s) in %d process(es); %s suppressed (test/reliability/sanitizers/valgrind.supp); %dm%02ds\n' \
  "$([[ $STATUS -eq 0 ]] && echo OK || echo FAILED)" "$PASSING" "$FAILING" "$STATUS_MOCHA" \
  "$ERRORS" "${#BAD[@]}" "${SUPPRESSED:-0}" $((ELAPSED / 60)) $((ELAPSED % 60))
exit $STATUS

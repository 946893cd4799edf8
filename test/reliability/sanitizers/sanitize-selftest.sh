#!/usr/bin/env bash
# Proves that test/reliability/sanitizers/sanitize.sh (and, with --valgrind, test/reliability/sanitizers/valgrind.sh)
# can fail: builds deliberately broken copies of native/ (in a temporary
# directory; the real sources are never touched), runs the checker on each with
# a few spec files, and checks that every run exits non-zero with the expected
# report pointing into the addon.
#
#   bash test/reliability/sanitizers/sanitize-selftest.sh                 every case, sanitizers
#   bash test/reliability/sanitizers/sanitize-selftest.sh uaf leak-ref    only these cases
#   bash test/reliability/sanitizers/sanitize-selftest.sh --valgrind      every case, memcheck
#
# Cases (name: the change -> what must be reported):
#   leak-state  DeleteState() no longer deletes the per-environment AddonState
#               -> a leak allocated in Init (native/addon.cc)
#   leak-ref    the finalizer no longer deletes its Node-API reference
#               -> a leak allocated by napi_add_finalizer under Registry::Add
#   uaf         the libuv handle's close callback frees the Wakeup before
#               reading it -> heap use after free in OnHandleClosed (queue.cc)
#   overflow    DeliverBatch writes one slot id past the end of the batch's
#               ArrayBuffer -> heap buffer overflow in DeliverBatch (queue.cc)
#   ubsan       a signed int overflow in Registry::Add -> UBSan runtime error
#               (registry.cc); not a memory error, so not a memcheck case
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$ROOT"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/addcleanup-sanitize-selftest.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# name | file | exact text to replace | replacement |
#   sanitize.sh specs | sanitize.sh patterns | valgrind.sh specs | valgrind.sh patterns
# (patterns: extended regexes, ';'-separated, all required; "-": no such case)
CASES=(
  "leak-state|native/addon.cc|  delete static_cast<AddonState*>(data);|  (void)data;  // SELFTEST: leak|test/workers.test.js|ERROR: LeakSanitizer: detected memory leaks;in Init \.\./native/addon\.cc|test/go.test.js|definitely lost;Init.*\(addon\.cc:[0-9]+\)"
  "leak-ref|native/registry.cc|  napi_delete_reference(env, s.ref);
  s.ref = nullptr;
  self->pending_--;|  s.ref = nullptr;  // SELFTEST: leak the reference
  self->pending_--;|test/go.test.js|ERROR: LeakSanitizer: detected memory leaks;napi_add_finalizer;addcleanup::Registry::Add|test/go.test.js|definitely lost;napi_add_finalizer;Registry::Add.*\(registry\.cc:[0-9]+\)"
  "uaf|native/queue.cc|  if (wakeup->on_closed != nullptr) wakeup->on_closed(wakeup->on_closed_data);
  delete wakeup;|  delete wakeup;  // SELFTEST: use after free
  if (wakeup->on_closed != nullptr) wakeup->on_closed(wakeup->on_closed_data);|test/workers.test.js|ERROR: AddressSanitizer: heap-use-after-free;OnHandleClosed.*queue\.cc|test/go.test.js|Invalid read;OnHandleClosed.*\(queue\.cc:[0-9]+\)"
  "overflow|native/queue.cc|  for (size_t i = 0; i < count; i++) ids[i] = items_[head_ + i].slot;|  for (size_t i = 0; i < count; i++) ids[i] = items_[head_ + i].slot;
  ids[count] = 0;  // SELFTEST: one past the end|test/go.test.js|ERROR: AddressSanitizer: heap-buffer-overflow;DeliverBatch.*queue\.cc|test/go.test.js|Invalid write;DeliverBatch.*\(queue\.cc:[0-9]+\)"
  "ubsan|native/registry.cc|  Slot& s = slots_[slot];
  s.ref = ref;|  int selftest = 2147483647 - static_cast<int>(slot % 2);  // SELFTEST: signed overflow
  selftest += 2;
  (void)selftest;
  Slot& s = slots_[slot];
  s.ref = ref;|test/go.test.js|registry\.cc:[0-9]+:[0-9]+: runtime error: signed integer overflow|-|-"
)

TOOL=sanitize
if [[ "${1:-}" == --valgrind ]]; then TOOL=valgrind; shift; fi
WANT=("$@")
FAILED=0
RAN=0
for entry in "${CASES[@]}"; do
  IFS='|' read -r -d '' name file old new specs patterns vg_specs vg_patterns <<<"$entry" || true
  vg_patterns="${vg_patterns%$'\n'}"
  if [[ ${#WANT[@]} -gt 0 && ! " ${WANT[*]} " == *" $name "* ]]; then continue; fi
  if [[ $TOOL == valgrind ]]; then
    if [[ $vg_specs == - ]]; then echo "selftest: $name: not a memcheck case, skipped"; continue; fi
    specs="$vg_specs"
    patterns="$vg_patterns"
  fi
  RAN=$((RAN + 1))
  src="$WORK/$name/src"
  mkdir -p "$src"
  cp "$ROOT/binding.gyp" "$src/"
  cp -R "$ROOT/native" "$src/native"
  # Literal, checked replacement: a case whose text is no longer in native/
  # must fail loudly rather than test an unbroken build.
  OLD="$old" NEW="$new" FILE="$src/$file" node -e '
    const fs = require("node:fs");
    const { OLD, NEW, FILE } = process.env;
    const text = fs.readFileSync(FILE, "utf8");
    if (text.split(OLD).length !== 2) { console.error(`text to replace not found exactly once in ${FILE}:\n${OLD}`); process.exit(1); }
    fs.writeFileSync(FILE, text.replace(OLD, () => NEW));
  ' || { echo "selftest: $name: FAILED (native/ changed; update the case)"; FAILED=$((FAILED + 1)); continue; }

  out="$WORK/$name/output"
  read -r -a spec_list <<<"$specs"
  set +e
  if [[ $TOOL == valgrind ]]; then
    ADDCLEANUP_VALGRIND_SRC="$src" ADDCLEANUP_VALGRIND_DIR="$WORK/$name/build" \
      bash "$ROOT/test/reliability/sanitizers/valgrind.sh" "${spec_list[@]}" >"$out" 2>&1
  else
    ADDCLEANUP_SANITIZE_SRC="$src" ADDCLEANUP_SANITIZE_DIR="$WORK/$name/build" \
      bash "$ROOT/test/reliability/sanitizers/sanitize.sh" "${spec_list[@]}" >"$out" 2>&1
  fi
  status=$?
  set -e
  missing=()
  IFS=';' read -r -a pattern_list <<<"$patterns"
  for pattern in "${pattern_list[@]}"; do
    grep -Eq -- "$pattern" "$out" || missing+=("$pattern")
  done
  summary="$(grep -E '^(sanitize|valgrind): (OK|FAILED)' "$out" | tail -1 || true)"
  if [[ $status -ne 0 && ${#missing[@]} -eq 0 ]]; then
    echo "selftest: $name: caught by $TOOL.sh (exit $status) -- ${summary#*: }"
    # The lines around the first match of the last pattern, as evidence.
    grep -Em1 -B6 -A6 -- "${pattern_list[-1]}" "$out" | cut -c1-220 | sed 's/^/    /'
  else
    echo "selftest: $name: NOT CAUGHT by $TOOL.sh (exit $status; missing: ${missing[*]:-none}) -- ${summary#*: }"
    sed 's/^/    /' "$out" | tail -60
    FAILED=$((FAILED + 1))
  fi
done
[[ $RAN -gt 0 ]] || { echo "selftest: no such case: ${WANT[*]}"; exit 2; }
echo "selftest: $((RAN - FAILED))/$RAN broken builds caught by $TOOL.sh"
[[ $FAILED -eq 0 ]]

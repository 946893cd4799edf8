# Sourced by test/reliability/sanitizers/sanitize.sh and test/reliability/sanitizers/valgrind.sh (not run on its own).
#
# use_log_dir KEEP_DIR NAME
#   Sets LOG_DIR, where the run writes its logs: KEEP_DIR (emptied first) when
#   it is not empty, so that the logs outlive the run; else a new temporary
#   directory addcleanup-NAME.XXXXXX, removed when the script exits.
#
# build_copy SRC_DIR BUILD_DIR [node-gyp arguments...]
#   Copies SRC_DIR/binding.gyp and SRC_DIR/native/ into BUILD_DIR (emptied
#   first) and runs `node-gyp rebuild --debug` there, so that the checkout's
#   build/ (the Release build the package loads by default) is never touched.
#   Extra arguments go to node-gyp, e.g. `-- -Dsanitize=1`. Sets BUILT_ADDON to
#   BUILD_DIR/build/Debug/addcleanup.node; on failure prints node-gyp's log
#   and returns 1. Needs ROOT (the repository).

build_copy() {
  local src="$1" dir="$2"
  shift 2
  if [[ ! -f "$src/binding.gyp" || ! -d "$src/native" ]]; then
    echo "build_copy: no binding.gyp and native/ in $src" >&2
    return 1
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  cp "$src/binding.gyp" "$dir/"
  cp -R "$src/native" "$dir/native"

  # Headers: npm's nodedir setting if any, else this Node's own install prefix
  # when it ships them (no download), else node-gyp's default (download).
  local nodedir=()
  if [[ -n "${npm_config_nodedir:-}" ]]; then
    nodedir=("--nodedir=$npm_config_nodedir")
  else
    local prefix
    prefix="$(cd "$(dirname "$(readlink -f "$(command -v node)")")/.." && pwd)"
    if [[ -f "$prefix/include/node/node_api.h" && -f "$prefix/include/node/common.gypi" ]]; then
      nodedir=("--nodedir=$prefix")
    fi
  fi

  # NODE_PATH lets binding.gyp's require('node-addon-api') resolve from a
  # build directory outside the repository too.
  if ! NODE_PATH="$ROOT/node_modules${NODE_PATH:+:$NODE_PATH}" \
      node "$ROOT/node_modules/node-gyp/bin/node-gyp.js" rebuild --debug \
        --directory="$dir" "${nodedir[@]}" "$@" >"$dir/node-gyp.log" 2>&1; then
    cat "$dir/node-gyp.log" >&2
    echo "build_copy: node-gyp failed in $dir (log above)" >&2
    return 1
  fi
  BUILT_ADDON="$dir/build/Debug/addcleanup.node"
  if [[ ! -f "$BUILT_ADDON" ]]; then
    echo "build_copy: node-gyp did not produce $BUILT_ADDON" >&2
    return 1
  fi
  # Debug means binding.gyp's Debug configuration (ADDCLEANUP_DEBUG=1): its
  # ADDCLEANUP_ASSERT message text must be in the binary.
  if ! grep -q 'assertion failed' "$BUILT_ADDON"; then
    echo "build_copy: $BUILT_ADDON has no ADDCLEANUP_ASSERT: not a Debug (ADDCLEANUP_DEBUG=1) build?" >&2
    return 1
  fi
}

use_log_dir() {
  local keep="$1" name="$2"
  if [[ -n "$keep" ]]; then
    LOG_DIR="$keep"
    rm -rf "$LOG_DIR"
    mkdir -p "$LOG_DIR"
  else
    LOG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/addcleanup-$name.XXXXXX")"
    trap 'rm -rf "$LOG_DIR"' EXIT
  fi
}

#!/usr/bin/env bash
# Builds the addon with AddressSanitizer + UndefinedBehaviorSanitizer into build-asan/ (the normal build in
# build/ stays as it is) and runs the test suite against it, the random-tree property test at 200 trees.
#
#   scripts/sanitize.sh                     # build, then every test file
#   scripts/sanitize.sh --test-name-pattern=usage dist/test/cli.test.js   # node --test arguments instead (options first)
#
# Environment: CASPER_PROPERTY_TREES (default 200 here), CASPER_TEST_SEED, SANITIZE_SKIP_BUILD=1.
# The run fails if any test fails or if any process wrote a sanitizer report. Both sanitizers abort the
# process on the first error. ASan reports go to files (a child's stderr may be swallowed, or its exit
# expected to be non-zero), every one printed at the end; gcc's libubsan ignores log_path when libasan is
# preloaded, so UBSan reports stay on the child's stderr, where the test helpers (test/helpers/tools.ts)
# fail on them; the whole output is also searched for reports.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
addon="$root/build-asan/Release/casper_snapshot.node"

if [[ "${SANITIZE_SKIP_BUILD:-0}" != 1 ]]; then
  echo "== building the addon with ASan + UBSan into build-asan/"
  npx cmake-js compile -l error -O build-asan --CDSANITIZE=ON
  echo "== building TypeScript"
  npx tsc -p tsconfig.json
fi
[[ -f "$addon" ]] || { echo "sanitize: $addon is missing" >&2; exit 1; }

asan_rt=$(gcc -print-file-name=libasan.so)
[[ -e "$asan_rt" ]] || { echo "sanitize: gcc's libasan.so not found ($asan_rt)" >&2; exit 1; }
if ! readelf -d "$addon" | grep -q 'libasan'; then
  echo "sanitize: $addon is not linked with libasan (was it built with SANITIZE=ON?)" >&2
  exit 1
fi

reports=$(mktemp -d "${TMPDIR:-/tmp}/casper-sanitize.XXXXXX")
trap 'rm -rf "$reports"' EXIT

# Inherited by the test runner, its test processes, every CLI run and the pool's worker threads.
export CASPER_SNAPSHOT_ADDON="$addon"
# Timing assertions (event-loop delay, abort latency) mean nothing at sanitizer speed: those tests skip.
export CASPER_SANITIZE=1
# node is not instrumented: the ASan runtime must come first in the initial library list.
export LD_PRELOAD="$asan_rt${LD_PRELOAD:+:$LD_PRELOAD}"
# Leak checking is off: node does not free everything at exit. Node installs its own SIGSEGV handler.
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:allow_user_segv_handler=1:log_path=$reports/asan${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:log_path=$reports/ubsan${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export CASPER_PROPERTY_TREES="${CASPER_PROPERTY_TREES:-200}"

# The addon that node loads in this mode must be the sanitized one.
node --input-type=module -e "
  import { readFileSync } from 'node:fs';
  const { loadAddon } = await import('$root/dist/src/native/addon.js');
  loadAddon().versions();
  if (!readFileSync('/proc/self/maps', 'utf8').includes('$addon')) { console.error('sanitize: node did not load $addon'); process.exit(1); }
"

if [[ $# -eq 0 ]]; then set -- dist/test/*.test.js; fi
echo "== node --test $* (CASPER_PROPERTY_TREES=$CASPER_PROPERTY_TREES)"
start=$(date +%s)
log="${TMPDIR:-/tmp}/casper-sanitize.$$.log"
set +e
node --test --test-concurrency=1 "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
echo "== tests finished in $(( $(date +%s) - start )) s with status $status; output kept in $log"
if grep -qE ': runtime error: |ERROR: (AddressSanitizer|UndefinedBehaviorSanitizer)' "$log"; then
  echo "== the test output holds a sanitizer report (search $log for 'runtime error:' or 'Sanitizer')" >&2
  (( status != 0 )) || status=1
fi

shopt -s nullglob
found=("$reports"/*)
if (( ${#found[@]} > 0 )); then
  echo "== ${#found[@]} sanitizer report(s):" >&2
  for f in "${found[@]}"; do
    echo "---- $(basename "$f")" >&2
    cat "$f" >&2
  done
  exit 1
fi
if (( status != 0 )); then exit "$status"; fi
echo "== no sanitizer reports"

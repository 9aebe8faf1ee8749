#!/usr/bin/env bash
# Runs the boot-cycle test alone (test/boot-cycle.test.ts): builds, then boots a bookworm root with
# systemd-nspawn on casper- and live-boot-like layouts (root needed; see the test's header).
#   scripts/boot-cycle.sh                           # build, then the whole file
#   scripts/boot-cycle.sh --test-name-pattern=casper
# The bookworm root is cached under $CASPER_BOOT_WORK (default /var/tmp/casper-snapshot-work).
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build >/dev/null
exec node --test --test-concurrency=1 "$@" dist/test/boot-cycle.test.js

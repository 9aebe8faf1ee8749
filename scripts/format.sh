#!/usr/bin/env bash
# One formatter per language: Biome for the TypeScript and the scripts (it also lints them: biome.json),
# clang-format for the C++ of native/ (.clang-format). `--check` changes nothing and fails on any difference
# or lint error (CI); without it the files are rewritten in place.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t cxx < <(git ls-files 'native/*.cc' 'native/*.h')
if ! command -v clang-format >/dev/null; then
  echo "format: clang-format is missing (apt-get install clang-format; scripts/install-system-deps.sh lists it)" >&2
  exit 2
fi
if [ "${1:-}" = "--check" ]; then
  npx --no-install biome ci .
  clang-format --dry-run -Werror "${cxx[@]}"
  echo "format: TypeScript and C++ as formatted, no lint errors"
else
  npx --no-install biome check --write .
  clang-format -i "${cxx[@]}"
fi

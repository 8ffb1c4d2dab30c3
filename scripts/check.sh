#!/usr/bin/env bash
# Everything CI checks, in order of speed: lint, types, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m ruff check compiler runtime_support tests benchmarks
scripts/typecheck.sh
python -m pytest -q -n auto "$@"

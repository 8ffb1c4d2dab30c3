#!/usr/bin/env bash
# mypy --strict over the compiler and the runtime; pyproject.toml's mypy_path points mypy at
# compiler/ and runtime_support/, whose folders vplc/ and vpl_runtime/ are the packages.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m mypy --strict --python-version 3.10 -p vplc -p vpl_runtime "$@"

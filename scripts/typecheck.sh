#!/usr/bin/env bash
# mypy --strict over the compiler and the runtime. The sources live in compiler/ and
# runtime_support/ but are imported as vplc and vpl_runtime, a mapping mypy cannot read from
# pyproject.toml: give it a folder of symlinks with the import names.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
links=$(mktemp -d)
trap 'rm -rf "$links"' EXIT
ln -s "$root/compiler" "$links/vplc"
ln -s "$root/runtime_support" "$links/vpl_runtime"
cd "$root"
MYPYPATH="$links" python -m mypy --strict --python-version 3.10 -p vplc -p vpl_runtime "$@"

from __future__ import annotations

import os

import pytest
from hypothesis import settings

# The merge protocol's invariants are checked in every test, and in every process a test
# starts (the variable is inherited): vpl_runtime reads it once, when first imported.
os.environ["VPL_CHECK_INVARIANTS"] = "1"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite golden/*/expected files from the current compiler",
    )


# CI runs every property test on the same examples (a red CI is then reproducible); a local
# run explores new ones. Per-test @settings (example counts, deadlines) still apply.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

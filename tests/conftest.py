from __future__ import annotations

import os

import pytest
from hypothesis import settings


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

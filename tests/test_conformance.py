"""The shared conformance corpus, run through generated modules.

The corpus is located by $VPL_CONFORMANCE_DIR or ../shared/conformance next to the
project; it is never copied here. Cases that vplc deliberately answers differently are
listed, with the reason, in tests/conformance_deviations.toml (strict xfail: a listed case
that starts passing fails the run, so the list stays true).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
from jsoncompare import diff_outputs

from vplc.diagnostics import CompileError
from vplc.pipeline import compile_source

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("VPL_CONFORMANCE_DIR", ROOT.parent / "shared" / "conformance"))
DEVIATIONS = tomllib.loads((ROOT / "tests" / "conformance_deviations.toml").read_text())


def _cases() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.iterdir() if (p / "program.vpl").is_file())


def _params() -> list[object]:
    cases = _cases()
    if not cases:
        reason = f"conformance corpus not found at {CORPUS} (set VPL_CONFORMANCE_DIR)"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-corpus")]
    params = []
    for case in cases:
        reason = DEVIATIONS.get(case.name, {}).get("reason")
        marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
        params.append(pytest.param(case, marks=marks, id=case.name))
    return params


@pytest.mark.parametrize("case", _params())
def test_conformance(case: Path, tmp_path: Path) -> None:
    meta = tomllib.loads((case / "case.toml").read_text())
    source = (case / "program.vpl").read_text()
    if meta["expect"] == "error":
        _expect_error(case, source)
        return
    module = tmp_path / "program.py"
    module.write_text(compile_source(source, "program.vpl"))
    run = subprocess.run(
        [sys.executable, str(module), str(case / "events.evt")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert "rejected: 0" in run.stderr
    expected = (case / "expected.jsonl").read_text()
    problem = diff_outputs(expected, run.stdout, float(meta.get("float_tolerance", 0.0)))
    assert problem is None, problem


def _expect_error(case: Path, source: str) -> None:
    expected = dict(
        line.split(": ", 1)
        for line in (case / "expected_error.txt").read_text().splitlines()
        if ": " in line
    )
    with pytest.raises(CompileError) as info:
        compile_source(source, "program.vpl")
    errors = [d for d in info.value.diagnostics if d.is_error]
    lines = {int(expected["line"]), int(expected["statement_line"])}
    found = [(d.code, d.span.line) for d in errors]
    assert any(
        code == expected["kind"] and line in lines for code, line in found
    ), f"expected {expected['kind']} at line {sorted(lines)}, got {found}"

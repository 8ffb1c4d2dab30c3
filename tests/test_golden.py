"""Golden cases: golden/<case>/program.vpl with its expected module, plan and output.

A case with `events.evt` is a program that compiles: its generated module (`expected.py`),
plan dump (`plan.txt`) and the module's output on the events (`output.jsonl`, `stderr.txt`)
are compared byte for byte. A case without events is a program that must be rejected: its
diagnostics are compared with `stderr.txt`. `pytest --update-golden` rewrites the expected
files from the current compiler; review the diff before committing it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vplc.codegen.generate import generate_module
from vplc.diagnostics import CompileError, format_all
from vplc.pipeline import analyse
from vplc.plan.dump import dump_plan

ROOT = Path(__file__).resolve().parent.parent
CASES = sorted(p.parent for p in (ROOT / "golden").glob("*/program.vpl"))
UPDATE_HINT = "run `pytest tests/test_golden.py --update-golden` and review the diff"


def _check(path: Path, actual: str, update: bool) -> None:
    if update:
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing; {UPDATE_HINT}"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{path.relative_to(ROOT)} differs; {UPDATE_HINT}"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden(case: Path, request: pytest.FixtureRequest) -> None:
    update = bool(request.config.getoption("--update-golden"))
    source = (case / "program.vpl").read_text(encoding="utf-8")
    if not (case / "events.evt").exists():
        with pytest.raises(CompileError) as info:
            analyse(source, "program.vpl")
        _check(
            case / "stderr.txt",
            format_all(info.value.diagnostics, "program.vpl", source) + "\n",
            update,
        )
        return
    compiled = analyse(source, "program.vpl")
    module = generate_module(compiled.plan)
    _check(case / "expected.py", module, update)
    _check(case / "plan.txt", dump_plan(compiled.plan), update)
    run = subprocess.run(
        [sys.executable, "expected.py", "events.evt"],  # relative: messages name the input
        capture_output=True,
        text=True,
        timeout=60,
        cwd=case,
    )
    assert run.returncode in (0, 3), run.stderr
    stdout, stderr = run.stdout, run.stderr
    if compiled.plan.contexts:
        # Threads interleave different streams' lines (and stderr) freely; only each
        # stream's own order is fixed (SEMANTICS §1.4), so compare in that form.
        # An unordered pool's workers interleave its own lines too: only the set is fixed.
        unordered = {p.stream for p in compiled.plan.pools if not p.pool.ordered}
        lines = stdout.splitlines(keepends=True)
        stdout = "".join(sorted(lines, key=lambda ln: _order_key(ln, unordered)))
        stderr = "".join(sorted(stderr.splitlines(keepends=True)))
    _check(case / "output.jsonl", stdout, update)
    _check(case / "stderr.txt", stderr, update)


def _stream_of(line: str) -> str:
    return str(json.loads(line)["stream"])


def _order_key(line: str, unordered: set[str]) -> tuple[str, str]:
    """Stream, then (for an unordered pool's lines only) the line itself; a stable sort
    keeps every other stream's lines in their order."""
    stream = _stream_of(line)
    return (stream, line if stream in unordered else "")


def test_generation_is_deterministic_across_hash_seeds(tmp_path: Path) -> None:
    """Same program, same bytes, whatever PYTHONHASHSEED is."""
    outputs = []
    for seed in ("0", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        for case in CASES:
            if (case / "events.evt").exists():
                run = subprocess.run(
                    [sys.executable, "-m", "vplc.cli", "compile", str(case / "program.vpl")],
                    capture_output=True,
                    text=True,
                    env=env,
                    check=True,
                )
                outputs.append((seed, case.name, run.stdout))
    by_case: dict[str, set[str]] = {}
    for _, name, text in outputs:
        by_case.setdefault(name, set()).add(text)
    assert by_case and all(len(texts) == 1 for texts in by_case.values())


def test_generated_modules_pass_mypy(tmp_path: Path) -> None:
    """Every golden module type-checks (strict) against the support library."""
    modules = []
    for case in CASES:
        if (case / "expected.py").exists():
            # mypy needs distinct module names: golden_<case>.py
            copy = tmp_path / f"golden_{case.name}.py"
            copy.write_text((case / "expected.py").read_text(encoding="utf-8"), encoding="utf-8")
            modules.append(str(copy))
    assert modules
    (tmp_path / "vpl_runtime").symlink_to(ROOT / "runtime_support" / "vpl_runtime")
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", *modules],
        capture_output=True,
        text=True,
        env=dict(os.environ, MYPYPATH=str(tmp_path)),
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout + run.stderr


MODULES = sorted(c / "expected.py" for c in CASES if (c / "expected.py").exists())


def test_generated_modules_are_ruff_clean() -> None:
    """ruff's default rules (pyflakes with F401 unused imports, pycodestyle errors) find
    nothing in any golden module: generated code imports what it uses, nothing else."""
    rules = ["--isolated", "--select", "E4,E7,E9,F", "--output-format", "concise"]
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", *rules, *map(str, MODULES)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert len(MODULES) > 10
    assert result.returncode == 0, result.stdout + result.stderr

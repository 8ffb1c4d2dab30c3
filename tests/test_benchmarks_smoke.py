"""benchmarks/bench_pipelines.py --quick runs and reports every ratio (no timing checks).

The benchmark compares the generated modules' outputs with the hand-written code's before
timing anything, so this also fails when the generated code changes behaviour on the
benchmarked pipelines.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "bench_pipelines.py"

PIPELINES = ("filter", "window", "3-stage")
# mode, input label: the measured rows every run must print.
MEASURED = (("in-process", "push()"), ("in-process", "vs loop"), ("end-to-end", "evt"))
ROW = re.compile(
    r"^(?P<mode>in-process|end-to-end) +(?P<pipeline>\S+) +(?P<input>\S+(?: \S+)?) +"
    r"(?P<generated>[\d,]+) +(?P<hand>[\d,]+) +(?P<ratio>\d+\.\d\d)\b"
)


def _run_quick() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_quick_run_prints_every_ratio() -> None:
    result = _run_quick()
    assert result.returncode == 0, result.stderr
    rows = {}
    for line in result.stdout.splitlines():
        match = ROW.match(line)
        if match:
            rows[(match["mode"], match["pipeline"], match["input"])] = float(match["ratio"])
    for pipeline in PIPELINES:
        for mode, label in MEASURED:
            assert (mode, pipeline, label) in rows, f"no ratio line for {mode} {pipeline} {label}"
        # JSON Lines: stdlib json always, orjson measured or reported as skipped.
        assert ("end-to-end", pipeline, "jsonl/json") in rows
        assert any(
            line.split()[:3] == ["end-to-end", pipeline, "jsonl/orjson"]
            for line in result.stdout.splitlines()
        )
    assert all(ratio > 0 for ratio in rows.values())
    assert re.search(r"^targets met: \d+ of \d+$", result.stdout, re.MULTILINE)


def test_pools_benchmark_runs_and_prints_every_row() -> None:
    """bench_pools.py on a tiny input: every ratio row and both reorder-buffer rows."""
    script = str(ROOT / "benchmarks" / "bench_pools.py")
    result = subprocess.run(
        [sys.executable, script, "--events", "3000", "--repeat", "1", "--keys", "50"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for row in (r"vs no pool \d+\.\d\d", r"speedup \d+\.\d\d", r"ratio \d+\.\d\d"):
        assert re.search(row, out), (row, out)
    assert len(re.findall(r"^collector reorder buffer, .* items at most$", out, re.M)) == 2


def test_memory_benchmark_prints_a_row_per_case() -> None:
    """bench_memory.py on a few keys: one row of positive bytes per key for every case."""
    script = str(ROOT / "benchmarks" / "bench_memory.py")
    result = subprocess.run(
        [sys.executable, script, "--keys", "2000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    cases = ("count", "sliding count", "tumbling time", "tumbling, count()", "sliding time")
    for case in (*cases, "session", "distinct(k)"):
        match = re.search(rf"^{re.escape(case)} +(\d+) +(\d+) +(-?\d+)$", result.stdout, re.M)
        assert match, (case, result.stdout)
        assert int(match[1]) > 0 and int(match[2]) >= int(match[1])

"""Per-key state of generated modules stays small (benchmarks/bench_memory.py measures it)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from vplc.pipeline import compile_source

PROGRAM = """\
stream Out = M
    .partition_by(k)
    .window(3)
    .aggregate(s: sum(v), a: avg(v), s2: sum(v) * 2)
    .emit(k: k, s: s, a: a, s2: s2)
"""


def _module(tmp_path: Path) -> Any:
    path = tmp_path / "gen_mem.py"
    path.write_text(compile_source(PROGRAM, "mem.vpl"), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("gen_mem", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sum_and_avg_of_one_argument_share_one_running_sum(tmp_path: Path) -> None:
    module = _module(tmp_path)
    running_sums = [s for s in module.Window_Out.__slots__ if s.startswith(("sum", "avg"))]
    assert len(running_sums) == 1, module.Window_Out.__slots__
    out: list[tuple[str, int, dict[str, Any]]] = []
    pipeline = module.Pipeline(lambda *event: out.append(event))
    for ts, value in enumerate((1, "x", 2.5, 4)):
        pipeline.push("M", ts, {"k": "a", "v": value})
    pipeline.close()
    assert out == [("Out", 2, {"k": "a", "s": 3.5, "a": 1.75, "s2": 7.0})]

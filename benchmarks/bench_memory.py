"""Memory per partition key: the state a generated module keeps for each distinct key.

    python benchmarks/bench_memory.py               # 200,000 keys per case, about 30 s
    python benchmarks/bench_memory.py --keys 1000   # smoke run

Every case is one stream over `M { k: string, v: float }` events, compiled with vplc's
`compile_source` and fed in process through the generated `Pipeline`: one event per distinct
key `k`, 1 ms apart, so no window closes (a sliding time window emits on a key's first event
and keeps it buffered). That is the worst case of D10b: an idle key's state is kept until its
next event or the end of input. Each measurement runs in its own
child process, so that memory freed by one case is not reused by the next:

- **traced**: `tracemalloc` bytes still allocated after the last `push` (current), and the
  peak, minus the traced bytes before the first one, divided by the number of keys. The
  events are created inside the traced loop, so what the state keeps of them (the key string,
  a buffered event's fields) is counted, and what it drops is not.
- **RSS**: growth of the process's resident set size (psutil) over the same loop, without
  tracemalloc (whose own bookkeeping would dominate), per key. It includes the allocator's
  slack and is noisier.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import tracemalloc
from collections.abc import Callable
from types import ModuleType
from typing import Any

import psutil

from vplc.pipeline import compile_source

AGGREGATES = "n: count(), s: sum(v), a: avg(v), lo: min(v), hi: max(v)"

# name -> the operations between `M` and `.emit`; every windowed case has the same aggregates.
CASES: dict[str, str] = {
    "count": f".partition_by(k) .window(100) .aggregate({AGGREGATES})",
    "sliding count": f".partition_by(k) .window(100, sliding: 10) .aggregate({AGGREGATES})",
    "tumbling time": f".partition_by(k) .window(1m) .aggregate({AGGREGATES})",
    "tumbling, count()": ".partition_by(k) .window(1m) .aggregate(n: count())",
    "sliding time": f".partition_by(k) .window(1m, sliding: 10s) .aggregate({AGGREGATES})",
    "session": f".partition_by(k) .window(session: 30s) .aggregate({AGGREGATES})",
    "distinct(k)": ".distinct(k)",
}
MODES = ("traced", "rss")


def program(case: str) -> str:
    """The VPL program of a case."""
    emit = ".emit(k: k)" if case == "distinct(k)" else ".emit(k: k, n: n)"
    return f"stream Out = M {CASES[case]} {emit}\n"


def load(case: str, directory: str) -> ModuleType:
    """Compile the case's program and import the generated module."""
    path = os.path.join(directory, "gen_memory.py")
    with open(path, "w", encoding="utf-8") as file:
        file.write(compile_source(program(case), "memory.vpl"))
    spec = importlib.util.spec_from_file_location("gen_memory", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def feed(push: Callable[[str, int, dict[str, Any]], None], keys: int) -> None:
    """One event per distinct key, 1 ms apart; key strings like real device ids."""
    for i in range(keys):
        push("M", 1_000_000 + i, {"k": f"dev-{i:08d}", "v": float(i % 997)})


def measure(case: str, mode: str, keys: int) -> dict[str, float]:
    """Bytes per key of one case, measured in this process (a fresh child)."""
    with tempfile.TemporaryDirectory() as directory:
        # The sink keeps nothing: a sliding time window emits on a key's first event.
        pipeline = load(case, directory).Pipeline(lambda *event: None)
    # Warm up the code paths (and their caches) on one key that stays in the state.
    pipeline.push("M", 0, {"k": "warm-up", "v": 0.0})
    gc.collect()
    gc.disable()  # a collection in the middle would only add noise
    if mode == "traced":
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        feed(pipeline.push, keys)
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        result = {"current": (current - before) / keys, "peak": (peak - before) / keys}
    else:
        process = psutil.Process()
        before = process.memory_info().rss
        feed(pipeline.push, keys)
        result = {"rss": (process.memory_info().rss - before) / keys}
    pipeline.close()  # after measuring: the flush allocates outputs
    return result


def run_child(case: str, mode: str, keys: int) -> dict[str, float]:
    """`measure` in a new interpreter, so that no other case's freed memory is reused."""
    command = [sys.executable, __file__, "--child", case, mode, "--keys", str(keys)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{case} ({mode}) failed:\n{result.stderr}")
    measured: dict[str, float] = json.loads(result.stdout)
    return measured


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=200_000, help="distinct keys per case")
    parser.add_argument("--case", action="append", choices=list(CASES), help="only these")
    parser.add_argument("--child", nargs=2, metavar=("CASE", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.keys < 1:
        parser.error("--keys must be at least 1")
    if args.child:
        case, mode = args.child
        print(json.dumps(measure(case, mode, args.keys)))
        return 0
    print(f"bytes per idle partition key, {args.keys:,} keys, one event each")
    print(f"{'case':<18} {'traced':>8} {'peak':>8} {'RSS':>8}")
    for case in args.case or list(CASES):
        row: dict[str, float] = {}
        for mode in MODES:
            row.update(run_child(case, mode, args.keys))
        print(f"{case:<18} {row['current']:>8.0f} {row['peak']:>8.0f} {row['rss']:>8.0f}")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

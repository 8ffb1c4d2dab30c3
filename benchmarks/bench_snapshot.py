"""Snapshot and restore of many partitions (SEMANTICS §15: 100,000 partitions under 1 s).

    python benchmarks/bench_snapshot.py [--partitions N] [--repeat K]

One stream keeps a tumbling-window aggregate per key, `.partition_by(key) .window(1h)
.aggregate(n: count(), total: sum(value), lo: min(value), hi: max(value))`; N events with N
distinct keys open N partitions. It times, best of K, `Pipeline.snapshot()` (state to bytes)
and `Pipeline.restore(sink, data)` (bytes to a new pipeline), prints both, their sum and the
size of the bytes, then checks that the restored pipeline's end-of-input output equals the
original's.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from vplc.pipeline import compile_source

PROGRAM = """\
stream Stats = Metric
    .partition_by(key)
    .window(1h)
    .aggregate(n: count(), total: sum(value), lo: min(value), hi: max(value))
    .emit(key: key, n: n, total: total, lo: lo, hi: hi)
"""


def pipeline_class() -> Any:
    namespace: dict[str, Any] = {"__name__": "bench_snapshot_module"}
    exec(compile(compile_source(PROGRAM, "bench.vpl"), "bench.py", "exec"), namespace)
    return namespace["Pipeline"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partitions", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cls = pipeline_class()
    original: list[tuple[str, int, dict[str, Any]]] = []
    pipeline = cls(lambda s, t, f: original.append((s, t, f)))
    for i in range(args.partitions):
        pipeline.push("Metric", i, {"key": f"sensor-{i}", "value": float(i % 97)})
    took_snapshot = took_restore = float("inf")
    data = b""
    for _ in range(args.repeat):
        started = time.perf_counter()
        data = pipeline.snapshot()
        took_snapshot = min(took_snapshot, time.perf_counter() - started)
        started = time.perf_counter()
        cls.restore(lambda s, t, f: None, data)
        took_restore = min(took_restore, time.perf_counter() - started)
    restored_lines: list[tuple[str, int, dict[str, Any]]] = []
    restored = cls.restore(lambda s, t, f: restored_lines.append((s, t, f)), data)
    pipeline.close()
    restored.close()
    same = restored_lines == original and len(original) == args.partitions
    print(
        f"{args.partitions:,} partitions: snapshot {took_snapshot:.3f} s, restore "
        f"{took_restore:.3f} s, together {took_snapshot + took_restore:.3f} s "
        f"(target < 1 s), {len(data):,} bytes (best of {args.repeat})"
    )
    print("restored output equal" if same else "RESTORED OUTPUT DIFFERS")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

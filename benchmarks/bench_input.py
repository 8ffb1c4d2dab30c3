"""Input throughput of the generated modules' driver (vpl_runtime.driver) against hand loops.

    python benchmarks/bench_input.py [--lines N] [--repeat K]

For JSON Lines and for .evt text, it prints lines/s of:
- the driver (`run_module`) reading a file into a push that does nothing, output to /dev/null;
- a hand-written loop: `for line in f: obj = json.loads(line); push(...)` for JSON Lines, and
  `for line in f: parse_event_line(line, 0)` for .evt (the parser alone, without the driver).
The best of K runs is reported.
"""

import argparse
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import redirect_stderr
from typing import Any

from vpl_runtime.driver import CloseFn, EmitterFactory, Instrument, PushFn, RunOptions, run_module
from vpl_runtime.evt import parse_event_line

_SYMBOLS = ("AAPL", "GOOG", "MSFT", "AMZN")


def _json_line(i: int) -> str:
    fields = {"symbol": _SYMBOLS[i % 4], "price": 100.0 + i % 50 / 4, "volume": i % 1000}
    return json.dumps({"event_type": "Tick", "timestamp": 1000 * i, "fields": fields})


def _evt_line(i: int) -> str:
    price = 100.0 + i % 50 / 4
    return f'@{i}ms Tick {{ symbol: "{_SYMBOLS[i % 4]}", price: {price}, volume: {i % 1000} }}'


def _write(path: str, lines: int, make: Callable[[int], str]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for i in range(lines):
            f.write(make(i) + "\n")


def _build(
    make_emitter: EmitterFactory, instrument: Instrument | None, options: RunOptions
) -> tuple[PushFn, CloseFn]:
    def push(event_type: str, timestamp: int, fields: dict[str, Any]) -> None:
        pass

    def close() -> None:
        pass

    return push, close


def _driver(path: str) -> None:
    with redirect_stderr(io.StringIO()):
        status = run_module(_build, [path, "--output", os.devnull], program="bench.vpl")
    assert status == 0, status


def _hand_json(path: str) -> None:
    loads = json.loads
    push = _noop
    with open(path, encoding="utf-8") as f:
        for line in f:
            obj = loads(line)
            push(obj["event_type"], obj.get("timestamp", 0), obj["fields"])


def _hand_evt(path: str) -> None:
    parse = parse_event_line
    with open(path, encoding="utf-8") as f:
        for line in f:
            parse(line, 0)


def _noop(event_type: str, timestamp: int, fields: dict[str, Any]) -> None:
    pass


def _best(fn: Callable[[str], None], path: str, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn(path)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cases = (
            ("jsonl", _json_line, _hand_json, "json.loads loop"),
            ("evt", _evt_line, _hand_evt, "parse_event_line loop"),
        )
        for ext, make, hand, hand_name in cases:
            path = os.path.join(tmp, f"input.{ext}")
            _write(path, args.lines, make)
            for name, fn in (("driver", _driver), (hand_name, hand)):
                seconds = _best(fn, path, args.repeat)
                rate = args.lines / seconds
                print(f"{ext:5}  {name:24} {rate:>12,.0f} lines/s  ({seconds:.3f} s)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()

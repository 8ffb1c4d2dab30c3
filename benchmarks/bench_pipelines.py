"""Generated vplc modules against careful hand-written Python on the same pipelines.

    python benchmarks/bench_pipelines.py [--quick] [--events N] [--lines N] [--repeat K]

For each pipeline of `bench_cases` (filter + emit, a partitioned tumbling-window aggregate
over 1,000 keys, three chained streams) it measures, best of K runs:
- in process: the generated `Pipeline(sink).push` over a pre-built event list against the
  hand-written loop of `bench_hand` (and, for information, the same hand code behind a
  per-event `push` function);
- end to end: the generated module's `main([INPUT, "--output", OUT])` against the
  hand-written script of `bench_hand_files`, from an `.evt` file and from a JSON Lines file
  (stdlib `json`, and `orjson` when importable).
Outputs are checked identical before anything is timed. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from types import ModuleType

from bench_cases import CASES, Case, Event, Fields, evt_line, jsonl_line, write_input
from bench_hand import LOOPS, PUSHES, Sink
from bench_hand_files import SCRIPTS, Loads
from bench_report import Row, Sizes, print_report

import vpl_runtime.driver as rt_driver
import vpl_runtime.evt as rt_evt
from vplc.pipeline import compile_source

IN_PROCESS_TARGET = 0.90
END_TO_END_TARGET = 0.85
_CHECK_EVENTS = 50_000  # events compared output for output before timing


# ---------------------------------------------------------------------------------------------
# Setup


def load_generated(case: Case, directory: str) -> ModuleType:
    """Compile the case's program with vplc and import the generated module."""
    name = "gen_" + case.name.replace("-", "_")
    path = os.path.join(directory, name + ".py")
    with open(path, "w", encoding="utf-8") as file:
        file.write(compile_source(case.vpl, name + ".vpl"))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def find_orjson() -> Loads | None:
    """`orjson.loads` if orjson is importable (it is an optional extra of vplc)."""
    if importlib.util.find_spec("orjson") is None:
        return None
    module = importlib.import_module("orjson")
    loads: Loads = module.loads
    return loads


@contextlib.contextmanager
def generated_json_parser(fast: Loads | None) -> Iterator[None]:
    """Make the generated modules' input parser use `fast` (None: the stdlib json module).

    The runtime picks orjson by itself when it is importable; the stdlib rows need it off.
    This reaches into `vpl_runtime.evt` internals, which is acceptable for a benchmark only.
    """
    saved, saved_fast = rt_evt._json_loads, rt_driver._FAST_LOADS
    rt_evt._json_loads = rt_evt._make_json_loads(fast)
    rt_driver._FAST_LOADS = fast  # the read loop's JSON Lines fast path
    try:
        yield
    finally:
        rt_evt._json_loads, rt_driver._FAST_LOADS = saved, saved_fast


# ---------------------------------------------------------------------------------------------
# In process


def counting_sink() -> tuple[Sink, Callable[[], int]]:
    """A sink that only counts, and the function reading its count."""
    count = 0

    def sink(stream: str, timestamp: int, fields: Fields) -> None:
        nonlocal count
        count += 1

    return sink, lambda: count


def collecting_sink() -> tuple[Sink, list[tuple[str, int, Fields]]]:
    """A sink that keeps every output, and the list it fills."""
    out: list[tuple[str, int, Fields]] = []

    def sink(stream: str, timestamp: int, fields: Fields) -> None:
        out.append((stream, timestamp, fields))

    return sink, out


def run_generated(module: ModuleType, events: list[Event], sink: Sink) -> None:
    """What an embedding application does: one `push` per event, then `close`."""
    pipeline = module.Pipeline(sink)
    push = pipeline.push
    for event_type, ts, f in events:
        push(event_type, ts, f)
    pipeline.close()


def run_hand_push(case: Case, events: list[Event], sink: Sink) -> None:
    """The hand-written code behind the same per-event API as the generated module."""
    push, close = PUSHES[case.name](sink)
    for event_type, ts, f in events:
        push(event_type, ts, f)
    close()


def run_hand_loop(case: Case, events: list[Event], sink: Sink) -> None:
    """The hand-written loop over the whole list: the baseline."""
    LOOPS[case.name](events, sink)


def check_in_process(case: Case, module: ModuleType, events: list[Event]) -> None:
    """Fail unless the three implementations give the same outputs, in the same order."""
    results = {}
    for label, run in _in_process_runners(case, module).items():
        sink, out = collecting_sink()
        run(events, sink)
        results[label] = out
    expected = results["generated"]
    for label, out in results.items():
        if out != expected:
            pairs = enumerate(zip(out, expected, strict=False))
            where = next((i for i, (a, b) in pairs if a != b), min(len(out), len(expected)))
            raise SystemExit(
                f"{case.name}: {label} differs from the generated module "
                f"({len(out)} vs {len(expected)} outputs, first difference at {where})"
            )
    if not expected:
        raise SystemExit(f"{case.name}: no output at all; the benchmark would measure nothing")


def _in_process_runners(
    case: Case, module: ModuleType
) -> dict[str, Callable[[list[Event], Sink], None]]:
    return {
        "generated": lambda events, sink: run_generated(module, events, sink),
        "hand loop": lambda events, sink: run_hand_loop(case, events, sink),
        "hand push()": lambda events, sink: run_hand_push(case, events, sink),
    }


def bench_in_process(case: Case, module: ModuleType, sizes: Sizes) -> list[Row]:
    """Check, then time, the in-process runners on one pipeline's event list."""
    events = case.make_events(sizes.events, sizes.seed)
    check_in_process(case, module, events[:_CHECK_EVENTS])
    runners = _in_process_runners(case, module)
    best = dict.fromkeys(runners, float("inf"))
    counts: dict[str, int] = {}
    # The event list is old data for the whole run: keep the collector from rescanning it.
    gc.collect()
    gc.freeze()
    try:
        for _ in range(sizes.repeat):
            for label, run in runners.items():
                sink, count = counting_sink()
                elapsed = _timed(lambda: run(events, sink), sizes.timer())  # noqa: B023
                best[label] = min(best[label], elapsed)
                counts[label] = count()
    finally:
        gc.unfreeze()
    if len(set(counts.values())) != 1:
        raise SystemExit(f"{case.name}: output counts differ: {counts}")
    n = len(events)
    gen, loop, push = (n / best[label] for label in runners)
    note = f"{counts['generated']:,} outputs"
    # The target compares like with like: the same work behind the same per-event API
    # (push). The whole-input loop shows what that API itself costs.
    return [
        Row("in-process", case.name, "push()", gen, push, IN_PROCESS_TARGET, note),
        Row("in-process", case.name, "vs loop", gen, loop, None, "hand loop, no per-event call"),
    ]


def _timed(fn: Callable[[], None], clock: Callable[[], float]) -> float:
    gc.collect()
    start = clock()
    fn()
    return clock() - start


# ---------------------------------------------------------------------------------------------
# End to end


def run_main(module: ModuleType, path: str, out: str) -> None:
    """The generated module's command line, in process, output to a file."""
    with contextlib.redirect_stderr(io.StringIO()):  # the summary line
        status = module.main([path, "--output", out])
    if status != 0:
        raise SystemExit(f"{module.__name__} {path}: exit status {status}")


def _same_file(a: str, b: str) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()


def bench_file(
    case: Case, module: ModuleType, path: str, fmt: str, loads: Loads, sizes: Sizes, tmp: str
) -> tuple[float, float]:
    """Events/s of the generated CLI and of the hand-written script on one input file."""
    script = SCRIPTS[(case.name, fmt)]
    gen_out = os.path.join(tmp, "generated.out")
    hand_out = os.path.join(tmp, "hand.out")
    best_gen = best_hand = float("inf")
    for rep in range(sizes.repeat):
        best_gen = min(best_gen, _timed(lambda: run_main(module, path, gen_out), sizes.timer()))
        best_hand = min(best_hand, _timed(lambda: script(path, hand_out, loads), sizes.timer()))
        if rep == 0 and not _same_file(gen_out, hand_out):
            raise SystemExit(
                f"{case.name} {fmt}: output files differ: {gen_out}, {hand_out} "
                "(use --workdir to keep them)"
            )
    return sizes.lines / best_gen, sizes.lines / best_hand


def bench_end_to_end(
    case: Case, module: ModuleType, sizes: Sizes, tmp: str, orjson_loads: Loads | None
) -> list[Row]:
    """Write the pipeline's `.evt` and JSON Lines inputs, then time both sides on each."""
    events = case.make_events(sizes.lines, sizes.seed)
    inputs = {}
    for fmt, line in (("evt", evt_line), ("jsonl", jsonl_line)):
        inputs[fmt] = os.path.join(tmp, f"{case.name}.{fmt}")
        write_input(inputs[fmt], events, line)
    del events
    parsers: list[tuple[str, str, Loads | None, Loads | None]] = [
        ("evt", "evt", json.loads, None),
        ("jsonl", "jsonl/json", json.loads, None),
        ("jsonl", "jsonl/orjson", orjson_loads, orjson_loads),
    ]
    rows = []
    for fmt, label, hand_loads, fast in parsers:
        if hand_loads is None:
            skipped = "skipped: orjson is not importable"
            rows.append(Row("end-to-end", case.name, label, None, None, None, skipped))
            continue
        with generated_json_parser(fast):
            gen, hand = bench_file(case, module, inputs[fmt], fmt, hand_loads, sizes, tmp)
        rows.append(Row("end-to-end", case.name, label, gen, hand, END_TO_END_TARGET))
    return rows


# ---------------------------------------------------------------------------------------------
# Command line


def parse_sizes(argv: list[str] | None) -> tuple[Sizes, str | None]:
    """The run's sizes and the `--workdir` (None: a temporary directory)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one run: a smoke test")
    parser.add_argument("--events", type=int, help="events per in-process run (1,000,000)")
    parser.add_argument("--lines", type=int, help="lines per input file (100,000)")
    parser.add_argument("--repeat", type=int, help="runs of each measurement, best kept (3)")
    parser.add_argument("--seed", type=int, default=2024, help="seed of the input generators")
    parser.add_argument("--workdir", help="keep generated modules and inputs in this directory")
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall: time.perf_counter (default); cpu: time.process_time (steadier when busy)",
    )
    args = parser.parse_args(argv)
    quick = (20_000, 5_000, 1) if args.quick else (1_000_000, 100_000, 3)
    sizes = Sizes(
        events=args.events or quick[0],
        lines=args.lines or quick[1],
        repeat=args.repeat or quick[2],
        seed=args.seed,
        clock=args.clock,
    )
    return sizes, args.workdir


def run(sizes: Sizes, workdir: str) -> list[Row]:
    """Every measurement, in-process first; progress goes to stderr."""
    orjson_loads = find_orjson()
    modules = {case.name: load_generated(case, workdir) for case in CASES}
    rows: list[Row] = []
    for case in CASES:
        with _progress(f"in-process {case.name}"):
            rows += bench_in_process(case, modules[case.name], sizes)
    for case in CASES:
        with _progress(f"end-to-end {case.name}"):
            rows += bench_end_to_end(case, modules[case.name], sizes, workdir, orjson_loads)
    return rows


@contextlib.contextmanager
def _progress(what: str) -> Iterator[None]:
    print(f"{what} ...", end="", file=sys.stderr, flush=True)
    start = time.perf_counter()
    try:
        yield
    except BaseException:
        print(" failed", file=sys.stderr, flush=True)
        raise
    print(f" {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run every measurement and print the table; 0, or SystemExit(message) on a mismatch."""
    sizes, workdir = parse_sizes(argv)
    started = time.perf_counter()
    if workdir is not None:
        os.makedirs(workdir, exist_ok=True)
        rows = run(sizes, workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="vplc-bench-") as tmp:
            rows = run(sizes, tmp)
    print_report(rows, sizes, find_orjson() is not None)
    print(f"total time: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The embedding API is live with contexts (issue 9 part 7): `Pipeline(sink, backend=...,
batch_size=..., queue_capacity=...)`; `flush()` returns once the sink holds the output of
every event pushed so far; without `flush` or `close` that output still arrives, within a
bounded delay. Checked through generated modules, on both backends, against the same
program without contexts cut at the same point."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from vpl_runtime.contexts import ContextFailure, ContextRuntime, ContextSpec, start_contexts
from vpl_runtime.driver import Fields, RunOptions
from vplc.codegen.generate import generate_module
from vplc.pipeline import analyse

CHAIN = """
context ingest
context analytics

stream Hot = Reading .context(ingest) .where(value > 3) .emit(sensor: sensor, value: value)
stream Pairs = Hot .context(analytics) .partition_by(sensor) .window(2)
    .aggregate(s: last(sensor), total: sum(value)) .emit(s: s, total: total)
"""
POOL = """
context ingest

stream Scaled = Reading .context(ingest) .partition_by(sensor)
    .concurrent(workers: 2, ordered: true)
    .emit(sensor: sensor, v: value * 10)
stream Big = Scaled .where(v > 50) .emit(sensor: sensor, v: v)
"""
EVENTS = [("Reading", 1000 * i, {"sensor": f"s{i % 3}", "value": i % 9}) for i in range(60)]
BACKENDS = ["thread"] + (["process"] if sys.platform.startswith("linux") else [])
Lines = list[tuple[str, int, dict[str, Any]]]


def plain(source: str) -> str:
    """The program without contexts and pools."""
    lines = source.replace(".concurrent(workers: 2, ordered: true)", "").splitlines()
    kept = [line for line in lines if not line.startswith("context ")]
    return "\n".join(kept).replace(".context(ingest) ", "").replace(".context(analytics) ", "")


def pipeline_class(source: str, contexts: bool) -> Any:
    compiled = analyse(source if contexts else plain(source), "program.vpl").plan
    assert bool(compiled.contexts) == contexts
    namespace: dict[str, Any] = {"__name__": "live"}
    exec(compile(generate_module(compiled), "live.py", "exec"), namespace)
    return namespace["Pipeline"]


def by_stream(lines: Lines) -> dict[str, Lines]:
    """Each stream's lines in their order (threads interleave different streams freely)."""
    found: dict[str, Lines] = {}
    for line in lines:
        found.setdefault(line[0], []).append(line)
    return found


def sink_into(lines: Lines) -> Callable[[str, int, dict[str, Any]], None]:
    def sink(stream: str, timestamp: int, fields: dict[str, Any]) -> None:
        lines.append((stream, timestamp, dict(fields)))

    return sink


def reference_cuts(source: str, cuts: list[int]) -> list[dict[str, Lines]]:
    """The no-context run's output after each cut of EVENTS (and after close)."""
    lines: Lines = []
    pipeline = pipeline_class(source, contexts=False)(sink_into(lines))
    found, start = [], 0
    for cut in cuts:
        for event in EVENTS[start:cut]:
            pipeline.push(*event)
        start = cut
        found.append(by_stream(list(lines)))
    pipeline.close()
    found.append(by_stream(list(lines)))
    return found


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("batch_size", [1, 7, 64])
@pytest.mark.parametrize("source", [CHAIN, POOL], ids=["chain", "pool"])
def test_flush_returns_with_exactly_the_output_so_far(
    source: str, backend: str, batch_size: int
) -> None:
    cuts = [1, 2, 10, 11, 33, 60]
    expected = reference_cuts(source, cuts)
    lines: Lines = []
    pipeline = pipeline_class(source, contexts=True)(
        sink_into(lines), backend=backend, batch_size=batch_size, queue_capacity=16
    )
    start = 0
    try:
        for cut, wanted in zip(cuts, expected, strict=False):
            for event in EVENTS[start:cut]:
                pipeline.push(*event)
            start = cut
            pipeline.flush()
            assert by_stream(list(lines)) == wanted, f"after {cut} events"
        pipeline.flush()  # nothing new: returns at once, changes nothing
        assert by_stream(list(lines)) == expected[-2]
    finally:
        pipeline.close()
    assert by_stream(lines) == expected[-1]
    pipeline.flush()  # after close: nothing to wait for


def wait_for(check: Callable[[], bool], seconds: float) -> bool:
    """Poll `check` until it holds or `seconds` pass (no fixed sleep decides the result)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("source", [CHAIN, POOL], ids=["chain", "pool"])
def test_pushed_results_reach_the_sink_without_flush_or_close(source: str, backend: str) -> None:
    cuts = [5, 40]
    expected = reference_cuts(source, cuts)
    lines: Lines = []
    pipeline = pipeline_class(source, contexts=True)(sink_into(lines), backend=backend)
    try:
        start = 0
        for cut, wanted in zip(cuts, expected, strict=False):
            for event in EVENTS[start:cut]:
                pipeline.push(*event)
            start = cut
            assert wanted, "the comparison must mean something"
            started = time.monotonic()
            arrived = wait_for(lambda w=wanted: by_stream(list(lines)) == w, 10.0)
            assert arrived, f"after {cut} events: {by_stream(list(lines))} != {wanted}"
            # Bounded: the timer sends a partial batch within 20 ms; allow for a busy machine.
            assert time.monotonic() - started < 5.0
    finally:
        pipeline.close()
    assert by_stream(lines) == expected[-1]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_failure_raises_from_flush(backend: str) -> None:
    def run_a(ctx: ContextRuntime) -> None:
        send = ctx.sender("b")
        ctx.serve({"R": lambda ts, fields: send("S", ts, fields)}, [])

    def run_b(ctx: ContextRuntime) -> None:
        def stream_T(ts: int, fields: Fields) -> None:
            if fields["v"] == 0:
                raise ZeroDivisionError("no zero")

        ctx.serve({"S": stream_T}, [])

    specs = (
        ContextSpec("a", run_a, routes=("R",)),
        ContextSpec("b", run_b, upstream=("a",)),
    )
    options = RunOptions(backend=backend, live_delay=0.02)
    push, close = start_contexts(specs, lambda stream: lambda *line: None, None, options)
    (flush,) = options.hooks.flush
    push("R", 0, {"v": 1})
    flush()
    push("R", 1, {"v": 0})
    with pytest.raises(ContextFailure, match="context 'b' failed in stream 'T' at input event 2"):
        flush()
    with pytest.raises(ContextFailure):
        close()

"""vpl_runtime.contexts: threads and processes per context, bounded channels, ordered merge.

The pipelines here are hand-written `run_<context>` functions in the shape the code generator
produces (no compiler needed). Each result is compared with a single-threaded run of the same
functions (`direct_run`), which is what SEMANTICS D11 requires per stream.
"""

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

from vpl_runtime.contexts import (
    ContextFailure,
    ContextRuntime,
    ContextSpec,
    start_contexts,
)
from vpl_runtime.driver import (
    CloseFn,
    EmitFn,
    EmitterFactory,
    Fields,
    Instrument,
    PushFn,
    RunOptions,
    StreamFn,
    run_module,
)

Event = tuple[str, int, Fields]
Lines = dict[str, list[tuple[int, Fields]]]
T = TypeVar("T")
HAS_FORK = sys.platform.startswith("linux")


# ---------------------------------------------------------------------------------------------
# Harness


class Sink:
    """An emitter factory that keeps every stream's lines, in order."""

    def __init__(self) -> None:
        self.lines: Lines = {}

    def make_emitter(self, stream: str) -> EmitFn:
        lines = self.lines.setdefault(stream, [])

        def emit(_stream: str, timestamp: int, fields: Fields) -> None:
            lines.append((timestamp, fields))

        return emit


def within(seconds: float, fn: Callable[[], T]) -> T:
    """Run `fn` on a thread; fail the test (instead of hanging) if it takes longer."""
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(fn())
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"no result after {seconds} s: the pipeline hangs"
    if error:
        raise error[0]
    return result[0]


def run(
    specs: Sequence[ContextSpec], events: Iterable[Event], options: RunOptions | None = None
) -> Lines:
    """Run the contexts over `events` (push each, then close); the lines per stream."""
    sink = Sink()
    options = options or RunOptions()

    def go() -> Lines:
        push, close = start_contexts(specs, sink.make_emitter, None, options)
        for event in events:
            push(*event)
        close()
        return sink.lines

    return within(20, go)


class DirectContext:
    """A single-threaded stand-in for ContextRuntime: senders call the target's routes."""

    def __init__(self, contexts: dict[str, "DirectContext"], sink: Sink) -> None:
        self.contexts = contexts
        self.sink = sink
        self.instrument: Instrument | None = None
        self.routes: dict[str, StreamFn] = {}
        self.flushes: Sequence[tuple[int, Callable[[], None]]] = ()

    def sender(self, target: str) -> Callable[[str, int, Fields], None]:
        def send(route: str, timestamp: int, fields: Fields) -> None:
            fn = self.contexts[target].routes.get(route)
            if fn is not None:
                fn(timestamp, fields)

        return send

    def emitter(self, stream: str) -> EmitFn:
        return self.sink.make_emitter(stream)

    def serve(
        self, routes: dict[str, StreamFn], flushes: Sequence[tuple[int, Callable[[], None]]]
    ) -> None:
        self.routes = routes
        self.flushes = flushes


def direct_run(specs: Sequence[ContextSpec], events: Iterable[Event]) -> Lines:
    """The single-threaded reference: every event to completion, then flushes in global order."""
    sink = Sink()
    contexts: dict[str, DirectContext] = {}
    for spec in specs:
        contexts[spec.name] = ctx = DirectContext(contexts, sink)
        spec.run(ctx)  # type: ignore[arg-type]  # duck-typed stand-in
    for event_type, timestamp, fields in events:
        for spec in specs:
            fn = contexts[spec.name].routes.get(event_type)
            if fn is not None and event_type in spec.routes:
                fn(timestamp, fields)
    flushes = [flush for ctx in contexts.values() for flush in ctx.flushes]
    for _, flush in sorted(flushes, key=lambda f: f[0]):
        flush()
    return sink.lines


def values(lines: Lines, stream: str, key: str = "v") -> list[Any]:
    return [fields.get(key) for _, fields in lines.get(stream, [])]


# ---------------------------------------------------------------------------------------------
# Programs


def slow_upstream(delay: float) -> tuple[ContextSpec, ...]:
    """`up` turns A into Up slowly; `down` sees B (from the input) and Up (from `up`)."""

    def run_up(ctx: ContextRuntime) -> None:
        send_down = ctx.sender("down")

        def stream_Up(ts: int, f: Fields) -> None:
            time.sleep(delay)
            send_down("Up", ts, {"v": f["v"]})

        entry_Up: StreamFn = stream_Up
        if ctx.instrument is not None:
            entry_Up = ctx.instrument("Up", entry_Up)
        ctx.serve({"A": entry_Up}, [])

    def run_down(ctx: ContextRuntime) -> None:
        emit_Seq = ctx.emitter("Seq")
        seen: list[int] = []

        def stream_Seq(ts: int, f: Fields) -> None:
            seen.append(f["v"])
            emit_Seq("Seq", ts, {"v": f["v"], "n": len(seen)})

        def flush_Seq() -> None:
            emit_Seq("Seq", -1, {"total": len(seen)})

        entry_Seq: StreamFn = stream_Seq
        if ctx.instrument is not None:
            entry_Seq = ctx.instrument("Seq", entry_Seq)
        ctx.serve({"B": entry_Seq, "Up": entry_Seq}, [(0, flush_Seq)])

    return (
        ContextSpec("up", run_up, cores=(), routes=("A",), upstream=()),
        ContextSpec("down", run_down, cores=(), routes=("B", "Up"), upstream=("up",)),
    )


def alternating(count: int) -> list[Event]:
    return [("A" if i % 2 == 0 else "B", i, {"v": i}) for i in range(count)]


def diamond(seed: int) -> tuple[ContextSpec, ...]:
    """Two branches with random delays and fan-out meet in `join`; windows flush at the end.

    Global flush order: Left (0), Right (1), Join (2).
    """
    rng_left, rng_right = random.Random(seed), random.Random(seed + 1)

    def branch(name: str, source: str, rng: random.Random, k: int) -> ContextSpec:
        def run_branch(ctx: ContextRuntime) -> None:
            send_join = ctx.sender("join")
            emit = ctx.emitter(name)
            window: list[int] = []

            def stream_Branch(ts: int, f: Fields) -> None:
                if rng.random() < 0.1:
                    time.sleep(0.001)
                window.append(f["v"])
                for copy in range(f["v"] % 3):  # fan-out: 0, 1 or 2 items per event
                    send_join(name, ts, {"v": f["v"], "copy": copy, "src": name})
                if len(window) == 7:
                    emit(name, ts, {"v": sum(window)})
                    window.clear()

            def flush_Branch() -> None:
                emit(name, -1, {"v": sum(window)})
                for v in window:  # the flush's items reach `join` before its own flush
                    send_join(name, -1, {"v": v, "copy": -1, "src": name})

            ctx.serve({source: stream_Branch}, [(k, flush_Branch)])

        return ContextSpec(name, run_branch, cores=(), routes=(source,), upstream=())

    def run_join(ctx: ContextRuntime) -> None:
        emit = ctx.emitter("Join")
        state = {"n": 0, "acc": 0}

        def stream_Join(ts: int, f: Fields) -> None:
            state["n"] += 1
            state["acc"] = (state["acc"] * 31 + f["v"] * 7 + f["copy"]) % 1_000_003
            emit(
                "Join",
                ts,
                {
                    "v": f["v"],
                    "n": state["n"],
                    "acc": state["acc"],
                    "copy": f["copy"],
                    "src": f.get("src"),
                },
            )

        def flush_Join() -> None:
            emit("Join", -2, {"final": state["acc"], "n": state["n"]})

        routes = {"Left": stream_Join, "Right": stream_Join, "C": stream_Join}
        ctx.serve(routes, [(2, flush_Join)])

    return (
        branch("Left", "A", rng_left, 0),
        branch("Right", "B", rng_right, 1),
        ContextSpec(
            "join", run_join, cores=(), routes=("C", "Left", "Right"), upstream=("Left", "Right")
        ),
    )


def mixed_events(seed: int, count: int) -> list[Event]:
    rng = random.Random(seed)
    return [(rng.choice("ABCX"), i, {"v": rng.randrange(100), "copy": 9}) for i in range(count)]


# ---------------------------------------------------------------------------------------------
# Order


def test_merge_restores_the_single_threaded_order() -> None:
    # `up` is slow and the ingress fast: B items reach `down` long before the Up items that
    # come before them, so processing in arrival order would put every B first.
    specs = slow_upstream(delay=0.002)
    events = alternating(60)
    lines = run(specs, events, RunOptions(batch_size=4))
    assert values(lines, "Seq")[:-1] == list(range(60))
    assert lines == direct_run(specs, events)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(("capacity", "batch"), [(1000, 64), (4, 2), (3, 1), (2, 5)])
def test_diamond_matches_the_single_threaded_run(seed: int, capacity: int, batch: int) -> None:
    events = mixed_events(seed, 300)
    expected = direct_run(diamond(seed), events)
    lines = run(diamond(seed), events, RunOptions(queue_capacity=capacity, batch_size=batch))
    assert lines == expected
    assert lines["Join"][-1][1]["n"] == len(lines["Join"]) - 1  # every item arrived


@pytest.mark.parametrize(("fanout", "capacity", "batch"), [(2, 1000, 1), (2, 1000, 64), (40, 4, 2)])
def test_equal_cascades_follow_upstream_order(fanout: int, capacity: int, batch: int) -> None:
    # One input event makes both `u1` and `u2` send to `down`: items of one cascade are
    # taken producer by producer, in the order of `down`'s upstream list (u2 first). u2 is
    # slow after its first item; a batch sent in the middle of a cascade promises only
    # "nothing below this cascade", so u1's items must wait for the rest of u2's. With a
    # fan-out larger than the channels, `down` must take u2's items while u2 is still
    # sending them, or u2 and u1 would both block on full channels.
    def sender_context(name: str) -> ContextSpec:
        def run_u(ctx: ContextRuntime) -> None:
            send = ctx.sender("down")

            def stream_U(ts: int, f: Fields) -> None:
                for copy in range(fanout):
                    send(name, ts, {"from": name, "v": f["v"]})
                    if name == "u2" and copy == 0:
                        time.sleep(0.001)

            ctx.serve({"X": stream_U}, [])

        return ContextSpec(name, run_u, cores=(), routes=("X",), upstream=())

    def run_down(ctx: ContextRuntime) -> None:
        emit = ctx.emitter("Down")

        def stream_Down(ts: int, f: Fields) -> None:
            emit("_", ts, f)

        ctx.serve({"u1": stream_Down, "u2": stream_Down}, [])

    down = ContextSpec("down", run_down, cores=(), routes=("u1", "u2"), upstream=("u2", "u1"))
    specs = (sender_context("u1"), sender_context("u2"), down)
    options = RunOptions(queue_capacity=capacity, batch_size=batch)
    lines = run(specs, [("X", i, {"v": i}) for i in range(20)], options)
    got = [(f["v"], f["from"]) for _, f in lines["Down"]]
    assert got == [(i, name) for i in range(20) for name in ("u2", "u1") for _ in range(fanout)]


def test_flushes_cascade_across_contexts_in_global_order() -> None:
    events = mixed_events(7, 50)
    lines = run(diamond(7), events)
    assert lines == direct_run(diamond(7), events)
    join = [fields for _, fields in lines["Join"]]
    # The branches' flush items (copy -1) come last, Left's (flush 0) before Right's (flush
    # 1), then Join's own flush (2).
    assert join[-1].keys() == {"final", "n"}
    flushed = [f["src"] for f in join if f.get("copy") == -1]
    left, right = flushed.count("Left"), flushed.count("Right")
    assert left > 0 and right > 0
    assert [f["src"] for f in join[-1 - left - right : -1]] == ["Left"] * left + ["Right"] * right


def test_a_context_without_input_events_and_unrouted_events() -> None:
    specs = slow_upstream(delay=0)
    events = [("Other", i, {"v": i}) for i in range(5)] + alternating(10)
    assert run(specs, events, RunOptions(batch_size=1)) == direct_run(specs, events)


# ---------------------------------------------------------------------------------------------
# Channels


def test_backpressure_blocks_the_producer_and_bounds_memory() -> None:
    processed = [0]
    max_lag = [0]

    def run_slow(ctx: ContextRuntime) -> None:
        def stream_Slow(ts: int, f: Fields) -> None:
            time.sleep(0.0005)
            processed[0] += 1

        ctx.serve({"E": stream_Slow}, [])

    options = RunOptions(queue_capacity=8, batch_size=2, stats=True)

    def go() -> None:
        push, close = start_contexts(
            (ContextSpec("slow", run_slow, routes=("E",)),), Sink().make_emitter, None, options
        )
        for i in range(300):
            push("E", i, {})
            max_lag[0] = max(max_lag[0], i + 1 - processed[0])
        close()

    within(20, go)
    assert processed[0] == 300
    # Sent but unprocessed: at most the channel's capacity, plus the ingress's partial batch.
    assert max_lag[0] <= 8 + 2
    report = options.hooks.reports[0]().splitlines()
    blocked = float(next(line for line in report if line.startswith("(input)")).split()[-1])
    assert blocked > 0
    assert int(next(line for line in report if line.startswith("slow")).split()[-2]) <= 8


def test_idle_hook_sends_a_lone_event_through() -> None:
    arrived = threading.Event()

    def run_one(ctx: ContextRuntime) -> None:
        emit = ctx.emitter("One")

        def stream_One(ts: int, f: Fields) -> None:
            emit("_", ts, f)
            arrived.set()

        ctx.serve({"E": stream_One}, [])

    options = RunOptions(batch_size=64)
    push, close = start_contexts(
        (ContextSpec("one", run_one, routes=("E",)),), Sink().make_emitter, None, options
    )
    push("E", 1, {"a": 1})
    assert not arrived.wait(0.2)  # still in the ingress's batch
    assert len(options.hooks.idle) == 1
    for hook in options.hooks.idle:
        hook()
    assert arrived.wait(5)
    within(10, close)


def test_idle_output_is_flushed_by_the_context() -> None:
    flushed = threading.Event()
    lock = threading.Lock()

    def flush_output() -> None:
        assert lock.locked()  # called under the output lock
        flushed.set()

    def run_one(ctx: ContextRuntime) -> None:
        emit = ctx.emitter("One")
        ctx.serve({"E": lambda ts, f: emit("One", ts, f)}, [])

    options = RunOptions(output_lock=lock, flush_output=flush_output)
    push, close = start_contexts(
        (ContextSpec("one", run_one, routes=("E",)),), Sink().make_emitter, None, options
    )
    push("E", 1, {})
    options.hooks.idle[0]()
    assert flushed.wait(5)
    within(10, close)


# ---------------------------------------------------------------------------------------------
# Failures


def failing_specs(where: str) -> tuple[ContextSpec, ...]:
    """`ingest` forwards every event to `analytics`, whose stream Analysis fails."""

    def run_ingest(ctx: ContextRuntime) -> None:
        send = ctx.sender("analytics")

        def stream_Filtered(ts: int, f: Fields) -> None:
            send("Filtered", ts, f)

        ctx.serve({"SensorReading": stream_Filtered}, [])

    def run_analytics(ctx: ContextRuntime) -> None:
        count = [0]

        def stream_Analysis(ts: int, f: Fields) -> None:
            count[0] += 1
            if where == "stream" and count[0] == 5:
                print(1 // (count[0] - 5))

        def flush_Analysis() -> None:
            raise ValueError("cannot flush")

        ctx.serve({"Filtered": stream_Analysis}, [(0, flush_Analysis)])

    return (
        ContextSpec("ingest", run_ingest, routes=("SensorReading",)),
        ContextSpec("analytics", run_analytics, routes=("Filtered",), upstream=("ingest",)),
    )


def push_until_failure(
    specs: Sequence[ContextSpec], options: RunOptions, count: int
) -> ContextFailure:
    def go() -> ContextFailure:
        push, close = start_contexts(specs, Sink().make_emitter, None, options)
        try:
            for i in range(count):
                push("SensorReading", i, {"v": i})
            close()
        except ContextFailure as exc:
            return exc
        raise AssertionError("no ContextFailure")

    return within(10, go)


@pytest.mark.parametrize(
    "backend",
    ["thread", pytest.param("process", marks=pytest.mark.skipif(not HAS_FORK, reason="fork"))],
)
def test_failure_in_a_stream_names_context_and_stream(backend: str) -> None:
    started = time.perf_counter()
    # Small channels: the ingress is blocked on a full channel when the failure happens.
    options = RunOptions(backend=backend, queue_capacity=4, batch_size=2)
    failure = push_until_failure(failing_specs("stream"), options, 100_000)
    assert time.perf_counter() - started < 8
    assert str(failure) == (
        "context 'analytics' failed in stream 'Analysis' at input event 5: ZeroDivisionError: integer division or modulo by zero"
    )
    assert "Traceback" in failure.traceback_text and "stream_Analysis" in failure.traceback_text
    assert isinstance(failure, RuntimeError)


@pytest.mark.skipif(not HAS_FORK, reason="the process backend forks")
def test_a_child_process_that_dies_is_a_failure() -> None:
    def run_dying(ctx: ContextRuntime) -> None:
        def stream_Dying(ts: int, f: Fields) -> None:
            os._exit(7)  # like a crash: no report from the child

        ctx.serve({"SensorReading": stream_Dying}, [])

    specs = (ContextSpec("dying", run_dying, routes=("SensorReading",)),)
    failure = push_until_failure(specs, RunOptions(backend="process", batch_size=1), 1000)
    assert str(failure) == "context 'dying' failed: its process ended unexpectedly (exit status 7)"


def test_failure_in_a_flush_raises_from_close() -> None:
    failure = push_until_failure(failing_specs("flush"), RunOptions(), 10)
    assert (
        str(failure)
        == "context 'analytics' failed in stream 'Analysis' during the end-of-input flush: ValueError: cannot flush"
    )


def test_failure_outside_any_stream_and_run_without_serve() -> None:
    def run_bad(ctx: ContextRuntime) -> None:
        ctx.sender("nowhere")

    def run_lazy(ctx: ContextRuntime) -> None:
        pass

    failure = push_until_failure((ContextSpec("bad", run_bad),), RunOptions(), 10)
    assert str(failure).startswith(
        "context 'bad' failed: ValueError: context 'bad' is not upstream"
    )
    failure = push_until_failure((ContextSpec("lazy", run_lazy),), RunOptions(), 10)
    assert str(failure) == (
        "context 'lazy' failed: RuntimeError: its run function returned without calling serve"
    )


def test_bad_graphs_are_refused() -> None:
    def run_none(ctx: ContextRuntime) -> None:
        raise AssertionError("not started")

    sink = Sink()
    cycle = (
        ContextSpec("a", run_none, upstream=("b",)),
        ContextSpec("b", run_none, upstream=("a",)),
    )
    with pytest.raises(ValueError, match="cycle"):
        start_contexts(cycle, sink.make_emitter, None, RunOptions())
    with pytest.raises(ValueError, match="bad upstream context 'z'"):
        start_contexts(
            (ContextSpec("a", run_none, upstream=("z",)),), sink.make_emitter, None, RunOptions()
        )
    with pytest.raises(ValueError, match="declared twice"):
        start_contexts(
            (ContextSpec("a", run_none), ContextSpec("a", run_none)),
            sink.make_emitter,
            None,
            RunOptions(),
        )
    with pytest.raises(ValueError, match="backend"):
        start_contexts((), sink.make_emitter, None, RunOptions(backend="fibers"))


# ---------------------------------------------------------------------------------------------
# Pinning


def affinity_specs(cores: tuple[int, ...], seen: list[set[int]]) -> tuple[ContextSpec, ...]:
    def run_pinned(ctx: ContextRuntime) -> None:
        seen.append(os.sched_getaffinity(0))  # inside a thread: that thread's mask
        ctx.serve({}, [])

    return (ContextSpec("pinned", run_pinned, cores=cores),)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="Linux thread affinity")
def test_pinning_is_read_back_inside_the_thread() -> None:
    seen: list[set[int]] = []
    before = os.sched_getaffinity(0)
    run(affinity_specs((0,), seen), [])
    assert seen == [{0}]
    assert os.sched_getaffinity(0) == before  # only the context's thread was pinned


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="Linux thread affinity")
def test_missing_core_warns_and_runs_unpinned(capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[set[int]] = []
    run(affinity_specs((0, 9999, 10001), seen), [])
    err = capsys.readouterr().err
    assert "warning: context 'pinned': core(s) 9999, 10001 not available; running unpinned\n" in err
    assert seen == [os.sched_getaffinity(0)]


# ---------------------------------------------------------------------------------------------
# Process backend


@pytest.mark.skipif(not HAS_FORK, reason="the process backend forks")
def test_process_backend_gives_the_thread_backend_output() -> None:
    events = mixed_events(11, 300)
    options = RunOptions(backend="process", queue_capacity=6, batch_size=3)
    processed = run(diamond(11), events, options)
    assert processed == run(diamond(11), events)
    assert processed == direct_run(diamond(11), events)
    specs = slow_upstream(delay=0.0005)
    assert run(specs, alternating(40), RunOptions(backend="process")) == direct_run(
        specs, alternating(40)
    )


# ---------------------------------------------------------------------------------------------
# With the driver: options, --stats, failure message


def contexts_build(specs: Sequence[ContextSpec], seen: list[RunOptions] | None = None) -> Any:
    def build(
        make_emitter: EmitterFactory, instrument: Instrument | None, options: RunOptions
    ) -> tuple[PushFn, CloseFn]:
        if seen is not None:
            seen.append(options)
        return start_contexts(specs, make_emitter, instrument, options)

    return build


@pytest.mark.parametrize(
    "backend",
    ["thread", pytest.param("process", marks=pytest.mark.skipif(not HAS_FORK, reason="fork"))],
)
def test_driver_runs_contexts_with_stats(
    backend: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in.evt"
    src.write_text("".join(f"{'A' if i % 2 == 0 else 'B'} {{ v: {i} }}\n" for i in range(50)))
    out = tmp_path / "out.jsonl"
    seen: list[RunOptions] = []
    argv = [
        str(src),
        "--output",
        str(out),
        "--stats",
        "--backend",
        backend,
        "--queue-capacity",
        "10",
        "--batch-size",
        "3",
    ]
    status = within(
        30, lambda: run_module(contexts_build(slow_upstream(delay=0), seen), argv, program="p.vpl")
    )
    assert status == 0
    assert (seen[0].backend, seen[0].queue_capacity, seen[0].batch_size, seen[0].stats) == (
        backend,
        10,
        3,
        True,
    )
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["fields"].get("v") for line in lines] == [*range(50), None]
    err = capsys.readouterr().err.splitlines()
    seq_row = next(line for line in err if line.startswith("Seq "))
    assert seq_row.split()[1:3] == ["50", "51"]  # events in (counted in the context), lines out
    start = err.index(next(line for line in err if line.startswith("stats: contexts on the")))
    assert backend in err[start] and "interpreter" in err[start]
    header, ingress, up, down = err[start + 1 : start + 5]
    assert header.split()[0] == "context" and "blocked" in header
    assert ingress.split()[:3] == ["(input)", "50", "50"]
    assert up.split()[:4] == ["up", "25", "25", "0"]
    assert down.split()[:4] == ["down", "50", "0", "51"]
    assert len({len(header), len(ingress), len(up), len(down)}) == 1  # aligned
    assert err[-1] == "events in: 50, processed: 50, rejected: 0"


def test_driver_reports_a_context_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in.evt"
    src.write_text("".join(f"SensorReading {{ v: {i} }}\n" for i in range(20)))
    argv = [str(src), "--output", str(tmp_path / "out.jsonl")]
    status = within(
        30, lambda: run_module(contexts_build(failing_specs("stream")), argv, program="p.vpl")
    )
    assert status == 4
    err = capsys.readouterr().err
    first = err.splitlines()[0]
    assert first.startswith(f"{src}: error: pipeline failed")
    assert first.endswith(
        ": context 'analytics' failed in stream 'Analysis' at input event 5: ZeroDivisionError: integer division or modulo by zero"
    )
    assert "Traceback (most recent call last)" in err and "in stream_Analysis" in err


@pytest.mark.parametrize(
    "args", [["--backend", "fibers"], ["--queue-capacity", "0"], ["--batch-size", "x"]]
)
def test_driver_refuses_bad_context_options(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_module(contexts_build(()), args, program="p.vpl") == 2
    assert "usage:" in capsys.readouterr().err


def test_driver_calls_idle_hooks_after_each_chunk(tmp_path: Path) -> None:
    src = tmp_path / "in.evt"
    src.write_text("A(1)\nA(2)\n")
    calls: list[int] = []

    def build(
        make_emitter: EmitterFactory, instrument: Instrument | None, options: RunOptions
    ) -> tuple[PushFn, CloseFn]:
        pushed = [0]

        def push(event_type: str, timestamp: int, fields: Fields) -> None:
            pushed[0] += 1

        options.hooks.idle.append(lambda: calls.append(pushed[0]))
        return push, lambda: None

    assert run_module(build, [str(src), "--output", os.devnull], program="p.vpl") == 0
    assert calls == [2]


@pytest.mark.parametrize(
    "backend",
    ["thread", pytest.param("process", marks=pytest.mark.skipif(not HAS_FORK, reason="fork"))],
)
def test_stats_say_what_runs_in_parallel_on_the_backend(backend: str, tmp_path: Path) -> None:
    (tmp_path / "p.vpl").write_text(
        "context a\ncontext b\nstream S = T .context(a) .emit(v: v)\n"
        "stream U = S .context(b) .emit(w: v)\n"
    )
    (tmp_path / "in.evt").write_text("".join(f"T {{ v: {i} }}\n" for i in range(5)))
    options = ["--stats", "--backend", backend, "--output", "out.jsonl", "in.evt"]
    run = subprocess.run(
        [sys.executable, "-m", "vplc.cli", "run", "p.vpl", *options],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    heading = next(line for line in run.stderr.splitlines() if line.startswith("stats: contexts"))
    if backend == "process":
        assert "process with its own interpreter" in heading and "in parallel" in heading
        assert "GIL" not in heading and "threads" not in heading
    elif getattr(sys, "_is_gil_enabled", lambda: True)():
        assert "GIL: threads take turns" in heading
    else:
        assert "threads run in parallel" in heading


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name != "posix", reason="POSIX signals")
@pytest.mark.parametrize(
    "backend",
    ["thread", pytest.param("process", marks=pytest.mark.skipif(not HAS_FORK, reason="fork"))],
)
def test_stats_after_ctrl_c_show_what_every_context_and_stream_did(
    backend: str, tmp_path: Path
) -> None:
    # Ctrl-C while the contexts wait for more input: every stream and context row must say
    # what it had done (it printed only the `(input)` row).
    (tmp_path / "p.vpl").write_text(
        "context a\ncontext b\nstream S = T .context(a) .emit(v: v)\n"
        "stream U = S .context(b) .where(v % 2 == 0) .emit(w: v)\n"
    )
    module = tmp_path / "p.py"
    subprocess.run(
        [sys.executable, "-m", "vplc.cli", "compile", "p.vpl", "-o", str(module)],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    out = tmp_path / "out.jsonl"
    n = 40
    for _ in range(3):  # the stop races with the contexts: try it a few times
        out.unlink(missing_ok=True)
        child = subprocess.Popen(
            [sys.executable, str(module), "--stats", "--backend", backend, "--output", str(out)],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdin is not None
        child.stdin.write("".join(f"T {{ v: {i} }}\n" for i in range(n)))
        child.stdin.flush()  # and keep it open: the run waits for more input
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (
            not out.exists() or len(out.read_text().splitlines()) < n + n // 2
        ):
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=30)
        assert child.returncode == 130, err
        rows = {line.split()[0]: line.split()[1:] for line in err.splitlines() if line.strip()}
        assert rows["S"][:2] == [str(n), str(n)], err  # events in, lines out
        assert rows["U"][:2] == [str(n), str(n // 2)], err
        assert rows["(input)"][0] == str(n), err
        assert rows["a"][:3] == [str(n), str(n), str(n)], err  # events in, sent, lines out
        assert rows["b"][:3] == [str(n), "0", str(n // 2)], err
        assert err.splitlines()[-1] == f"events in: {n}, processed: {n}, rejected: 0"


def _comms(pid: int) -> set[str]:
    """The OS names of process `pid`'s threads and of its child processes' threads."""
    pids = [pid]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                pids.append(int(stat.parent.name))
    names = set()
    for p in pids:
        for comm in Path(f"/proc/{p}/task").glob("*/comm"):
            with contextlib.suppress(OSError):
                names.add(comm.read_text().strip())
    return names


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs /proc")
@pytest.mark.parametrize(
    "backend",
    ["thread", pytest.param("process", marks=pytest.mark.skipif(not HAS_FORK, reason="fork"))],
)
def test_threads_and_processes_are_named_after_their_context(
    backend: str, tmp_path: Path
) -> None:
    # OS names hold 15 bytes: a long name is cut, a worker or collector keeps its number.
    (tmp_path / "p.vpl").write_text(
        "context analytics_pipeline_one\ncontext scoring_pipeline_b\n"
        "stream S = T .context(analytics_pipeline_one) .emit(v: v)\n"
        "stream U = S .context(scoring_pipeline_b) .concurrent(workers: 2, ordered: true)"
        " .emit(w: v)\n"
    )
    module = tmp_path / "p.py"
    subprocess.run(
        [sys.executable, "-m", "vplc.cli", "compile", "p.vpl", "-o", str(module)],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    expected = {
        "vpl:analytics_p",
        "vpl:scoring_pip",
        "vpl:U/w0",
        "vpl:U/w1",
        "vpl:scoring_/c1",
    }
    child = subprocess.Popen(
        [sys.executable, str(module), "--backend", backend, "--output", str(tmp_path / "o")],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        names = _comms(child.pid)
        while not expected <= names and time.monotonic() < deadline:
            time.sleep(0.05)
            names = _comms(child.pid)
        assert expected <= names, names
        assert all(len(name.encode()) <= 15 for name in names)
    finally:
        _, err = child.communicate(b"", timeout=30)  # end of input: the run ends
    assert child.returncode == 0, err


def test_a_context_thread_carries_the_context_name() -> None:
    seen: list[str] = []

    def run_named(ctx: ContextRuntime) -> None:
        seen.append(threading.current_thread().name)
        ctx.serve({}, [])

    specs = (ContextSpec("ingest", run_named, routes=("E",), cores=(0,)),)  # pinned: a thread
    _push, close = start_contexts(specs, Sink().make_emitter, None, RunOptions())
    close()
    assert seen == ["vpl:ingest"]

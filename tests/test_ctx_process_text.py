"""The process backend's pipes, its shared ingress batches and its text output.

With `RunOptions.text_output` (the command line), each child formats its own output lines
with the driver's line emitter and ships text: the lines must be, byte for byte, those of
the single-threaded emitter. Without it (an embedding application's sink) the parent calls
the emitters, as the tests of `test_runtime_contexts.py` check.
"""

import gc
import json
import os
import queue
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from vpl_runtime.contexts import ContextFailure, ContextRuntime, ContextSpec, start_contexts
from vpl_runtime.contexts.backends.pipes import (
    FrameReader,
    FrameWriter,
    decode_batch,
    dumps,
    encode_batch,
    pipe,
)
from vpl_runtime.contexts.cascade import input_id
from vpl_runtime.contexts.graph import Graph
from vpl_runtime.contexts.ingress import Ingress
from vpl_runtime.contexts.merge import Item
from vpl_runtime.contexts.stats import Counters
from vpl_runtime.contexts.supervisor import Stopped
from vpl_runtime.driver import EmitFn, Fields, RunOptions, StreamFn, TextOutput
from vpl_runtime.output import json_line_emitter

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the process backend forks (Linux)"
)

Event = tuple[str, int, Fields]
# Values whose JSON text is easy to get wrong: floats stay floats, NaN/inf become null,
# non-ASCII stays as is, a lone surrogate goes through.
AWKWARD: list[Any] = [
    60.0,
    5,
    "é ✓ 漢",
    float("nan"),
    [1.5, {"x": float("inf"), "y": None}],
    True,
    'a"b\\c\n\t',
    "\ud800",
    -0.0,
    1e300,
]


def no_emitter(stream: str) -> EmitFn:
    raise AssertionError(f"the parent formatted a line of {stream}")


def awkward_specs() -> tuple[ContextSpec, ...]:
    """`a` takes E (one line per event), `b` takes E and F (a line for every third event)."""

    def run_a(ctx: ContextRuntime) -> None:
        emit = ctx.emitter("A")
        seen = [0]

        def stream_A(ts: int, f: Fields) -> None:
            seen[0] += 1
            emit("A", ts, {"v": f["v"], "value": AWKWARD[f["v"] % len(AWKWARD)], "n": seen[0]})

        ctx.serve({"E": stream_A}, [])

    def run_b(ctx: ContextRuntime) -> None:
        emit = ctx.emitter("B")
        total = [0]

        def stream_B(ts: int, f: Fields) -> None:
            total[0] += f["v"]
            if f["v"] % 3 == 0:
                emit("B", ts, {"total": total[0], "mean": total[0] / (f["v"] + 1)})

        def flush_B() -> None:
            emit("B", -1, {"final": total[0]})

        ctx.serve({"E": stream_B, "F": stream_B}, [(0, flush_B)])

    return (
        ContextSpec("a", run_a, routes=("E",)),
        ContextSpec("b", run_b, routes=("E", "F")),
    )


def single_threaded_lines(specs: Sequence[ContextSpec], events: Sequence[Event]) -> list[str]:
    """What the single-threaded emitter writes for the streams of contexts that do not send."""
    written: list[str] = []

    class Direct:
        instrument = None

        def __init__(self) -> None:
            self.routes: dict[str, StreamFn] = {}
            self.flushes: Sequence[tuple[int, Callable[[], None]]] = ()

        def emitter(self, stream: str) -> EmitFn:
            return json_line_emitter(written.append, stream)

        def serve(
            self, routes: dict[str, StreamFn], flushes: Sequence[tuple[int, Callable[[], None]]]
        ) -> None:
            self.routes, self.flushes = routes, flushes

    contexts = []
    for spec in specs:
        ctx = Direct()
        spec.run(ctx)  # type: ignore[arg-type]  # duck-typed stand-in
        contexts.append(ctx)
    for event_type, timestamp, fields in events:
        for ctx in contexts:
            fn = ctx.routes.get(event_type)
            if fn is not None:
                fn(timestamp, fields)
    for _, flush in sorted((f for ctx in contexts for f in ctx.flushes), key=lambda f: f[0]):
        flush()
    return written


def by_stream(lines: Sequence[str]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for line in lines:
        result.setdefault(json.loads(line)["stream"], []).append(line)
    return result


def run_with_text(
    specs: Sequence[ContextSpec], events: Sequence[Event], **options: Any
) -> tuple[list[str], dict[str, int]]:
    """Run on the process backend with text output; the lines written and the line counts."""
    chunks: list[str] = []
    counts: dict[str, int] = {}

    def count_lines(stream: str, n: int) -> None:
        counts[stream] = counts.get(stream, 0) + n

    run_options = RunOptions(
        backend="process",
        text_output=TextOutput(json_line_emitter, chunks.append, count_lines),
        **options,
    )
    result: list[BaseException] = []

    def go() -> None:
        try:
            push, close = start_contexts(specs, no_emitter, None, run_options)
            for event in events:
                push(*event)
            close()
        except BaseException as exc:
            result.append(exc)

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "the pipeline hangs"
    if result:
        raise result[0]
    text = "".join(chunks)
    assert text.endswith("\n") or not text
    return text.splitlines(keepends=True), counts


def test_children_write_the_bytes_of_the_single_threaded_emitter() -> None:
    events: list[Event] = [("E" if i % 4 else "F", i, {"v": i}) for i in range(400)]
    expected = by_stream(single_threaded_lines(awkward_specs(), events))
    for batch in (1, 7, 64):
        lines, counts = run_with_text(
            awkward_specs(), events, batch_size=batch, queue_capacity=max(batch, 10)
        )
        assert by_stream(lines) == expected
        assert counts == {stream: len(found) for stream, found in expected.items()}
    assert '"value": null' in "".join(expected["A"])  # NaN and inf were in there
    assert '"value": 60.0' in "".join(expected["A"])


def test_long_lines_cross_the_pipes_whole() -> None:
    # Several megabytes of output from one pass: more than a pipe holds at once.
    def run_big(ctx: ContextRuntime) -> None:
        emit = ctx.emitter("Big")

        def stream_Big(ts: int, f: Fields) -> None:
            emit("Big", ts, {"v": f["v"], "blob": str(f["v"]) * 300_000})

        ctx.serve({"E": stream_Big}, [])

    specs = (ContextSpec("big", run_big, routes=("E",)),)
    events: list[Event] = [("E", i, {"v": i}) for i in range(12)]
    lines, counts = run_with_text(specs, events)
    assert lines == single_threaded_lines(specs, events)
    assert counts == {"Big": 12}


def test_text_is_shipped_before_the_context_waits_for_input() -> None:
    # Live input: a line must reach the output (and be flushed) without more input.
    written: queue.Queue[str] = queue.Queue()
    flushed = threading.Event()
    options = RunOptions(
        backend="process",
        flush_output=flushed.set,
        text_output=TextOutput(json_line_emitter, written.put),
    )
    push, close = start_contexts(awkward_specs(), no_emitter, None, options)
    try:
        push("E", 7, {"v": 3})
        for hook in options.hooks.idle:
            hook()
        lines = sorted(written.get(timeout=10).splitlines() + written.get(timeout=10).splitlines())
        assert [json.loads(line)["stream"] for line in lines] == ["A", "B"]
        assert flushed.wait(10)
    finally:
        close()


def test_lines_written_before_a_failure_are_shipped() -> None:
    def run_failing(ctx: ContextRuntime) -> None:
        emit = ctx.emitter("S")

        def stream_S(ts: int, f: Fields) -> None:
            emit("S", ts, {"v": f["v"]})
            if f["v"] == 4:
                raise ValueError("four")

        ctx.serve({"E": stream_S}, [])

    specs = (ContextSpec("failing", run_failing, routes=("E",)),)
    chunks: list[str] = []
    options = RunOptions(
        backend="process", text_output=TextOutput(json_line_emitter, chunks.append)
    )
    push, close = start_contexts(specs, no_emitter, None, options)
    with pytest.raises(ContextFailure, match="in stream 'S' at input event 5: ValueError: four"):
        for i in range(10):
            push("E", i, {"v": i})
        close()
    assert [json.loads(line)["fields"]["v"] for line in "".join(chunks).splitlines()] == [
        0,
        1,
        2,
        3,
        4,
    ]


def test_the_parent_closes_its_pipes() -> None:
    def open_fds() -> set[str]:
        gc.collect()  # what earlier tests left behind (process sentinels...)
        return set(os.listdir("/proc/self/fd"))

    events: list[Event] = [("E", i, {"v": i}) for i in range(50)]
    run_with_text(awkward_specs(), events)
    before = open_fds()
    run_with_text(awkward_specs(), events)
    assert open_fds() == before
    with pytest.raises(ContextFailure):  # {} has no "v": stream A raises
        run_with_text(awkward_specs(), [*events, ("E", 0, {})])
    assert open_fds() == before


# ---------------------------------------------------------------------------------------------
# The ingress and the batches


def test_ingress_hands_one_list_to_the_contexts_that_take_the_same_events() -> None:
    def run_none(ctx: ContextRuntime) -> None:
        raise AssertionError("not started")

    specs = (
        ContextSpec("x", run_none, routes=("A", "B")),
        ContextSpec("y", run_none, routes=("B", "A")),
        ContextSpec("z", run_none, routes=("B",)),
        ContextSpec("w", run_none, upstream=("x",)),
    )
    sent: list[tuple[int, list[Item], int]] = []
    counters = Counters()

    def send(target: int, items: list[Item], upto: int) -> None:
        sent.append((target, items, upto))

    ingress = Ingress(Graph.build(specs), send, 3, counters)
    ingress.push("A", 10, {"a": 0})
    ingress.push("B", 11, {"b": 1})
    ingress.push("C", 12, {})  # no context takes C: numbered all the same
    assert sent == []
    ingress.push("A", 13, {"a": 3})  # the third routed event fills the batch
    log = [
        ("A", 10, {"a": 0}, input_id(0)),
        ("B", 11, {"b": 1}, input_id(1)),
        ("A", 13, {"a": 3}, input_id(3)),
    ]
    upto = input_id(3) + 1  # nothing more below the next event (a barrier may come there)
    # w takes no input events: it gets nothing, not even promises (it needs none).
    assert sent == [(0, log, upto), (1, log, upto), (2, [log[1]], upto)]
    assert sent[0][1] is sent[1][1]  # one list: the process backend pickles it once
    assert counters.sent == 7
    ingress.push("B", 14, {})
    ingress.idle()
    upto = input_id(4) + 1
    assert [(target, len(items), promise) for target, items, promise in sent[3:]] == [
        (0, 1, upto),
        (1, 1, upto),
        (2, 1, upto),
    ]
    ingress.idle()  # nothing new: nothing sent
    assert len(sent) == 6


def test_batches_travel_as_columns_and_come_back_as_items() -> None:
    items: list[Item] = [
        ("A", 1, {"x": [1, 2.5, None], "s": "é"}, 7),
        ("B", -3, {}, 8),
        ("A", 1 << 62, {"nested": {"k": True}}, 9),
    ]
    for batch, upto in ((items, 10), ([], 1 << 63)):
        value = through_a_pipe(encode_batch(batch, upto))
        assert decode_batch(value) == (batch, upto)


def through_a_pipe(data: bytes) -> Any:
    """The object of one frame sent through a real pipe."""
    read, write = pipe()
    try:
        FrameWriter(write).write(data, lambda: None)
        (value,) = FrameReader(read).read()
        return value
    finally:
        os.close(read)
        os.close(write)


# ---------------------------------------------------------------------------------------------
# Pipes


def test_frames_are_read_whole() -> None:
    read, write = pipe()
    reader = FrameReader(read)
    data = dumps(("x", 1))
    frame = len(data).to_bytes(8, "little") + data
    os.write(write, frame[:5])
    assert reader.read() == []  # half a header
    os.write(write, frame[5:-1])
    assert reader.read() == []  # all but one byte
    os.write(write, frame[-1:] + frame)
    assert reader.read() == [("x", 1), ("x", 1)]
    writer = FrameWriter(write)
    for value in range(3):
        writer.write(dumps(value), lambda: None)
    assert reader.read() == [0, 1, 2]
    assert reader.open
    os.close(write)
    assert reader.read() == []
    assert not reader.open
    os.close(read)


def stop_on_call(n: int) -> tuple[Callable[[], None], list[int]]:
    calls: list[int] = []

    def check() -> None:
        calls.append(1)
        if len(calls) >= n:
            raise Stopped

    return check, calls


def test_a_writer_waits_on_a_full_pipe_until_check_stops_it() -> None:
    read, write = pipe()
    check, calls = stop_on_call(2)
    with pytest.raises(Stopped):
        FrameWriter(write).write(b"x" * (8 << 20), check)  # more than a pipe holds
    assert len(calls) == 2
    os.close(read)
    os.close(write)


def test_a_writer_whose_reader_is_gone_waits_for_check() -> None:
    # The parent notices a dead process and stops the pipeline; the writer must not fail
    # on its own (a BrokenPipeError would read as a closed output).
    read, write = pipe()
    os.close(read)
    check, calls = stop_on_call(2)
    with pytest.raises(Stopped):
        FrameWriter(write).write(b"data", check)
    assert len(calls) == 2
    os.close(write)


def test_a_sink_is_still_called_by_the_parent() -> None:
    # Without text_output (an embedding application's sink), lines travel as values.
    got: list[tuple[str, Fields]] = []

    def make_emitter(stream: str) -> EmitFn:
        def emit(_stream: str, _timestamp: int, fields: Fields) -> None:
            got.append((stream, fields))

        return emit

    push, close = start_contexts(awkward_specs(), make_emitter, None, RunOptions(backend="process"))
    for i in range(6):
        push("E", i, {"v": i})
    close()
    assert [f["v"] for s, f in got if s == "A"] == list(range(6))
    assert [f.get("final") for s, f in got if s == "B"][-1] == 15

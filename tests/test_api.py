"""The generated module as a library: `Pipeline(sink)`, `push(...)`, `close()`.

Each test compiles a program with `vplc.pipeline.compile_source`, executes the module's
source in a fresh namespace (as `import` would, without writing a file) and drives its
`Pipeline` directly. Expected outputs are worked out by hand from SEMANTICS §5-§7.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from vplc.pipeline import compile_source

Output = tuple[str, int, dict[str, Any]]


def load(source: str, filename: str = "p.vpl") -> dict[str, Any]:
    """The namespace of the module generated for `source`."""
    code = compile_source(source, filename)
    namespace: dict[str, Any] = {"__name__": "generated_p"}
    exec(compile(code, "p.py", "exec"), namespace)
    return namespace


class Recorder:
    """A sink that records every call."""

    def __init__(self) -> None:
        self.calls: list[Output] = []

    def __call__(self, stream: str, timestamp: int, fields: dict[str, Any]) -> None:
        self.calls.append((stream, timestamp, fields))

    def take(self) -> list[Output]:
        """The calls since the last `take`."""
        calls, self.calls = self.calls, []
        return calls


def pipeline(module: dict[str, Any]) -> tuple[Any, Recorder]:
    sink = Recorder()
    return module["Pipeline"](sink), sink


FILTER = """\
stream Big = Order
    .where(amount > 100)
    .emit(id: id, amount: amount, double: amount * 2)
"""

WINDOWS = """\
stream Totals = Trade
    .partition_by(sym)
    .window(10s)
    .aggregate(n: count(), total: sum(qty), hi: max(qty))
    .emit(sym: sym, n: n, total: total, hi: hi)

stream Sessions = Click
    .window(session: 5s)
    .aggregate(clicks: count(), pages: collect(page))
    .emit(clicks: clicks, pages: pages)

stream Batches = Trade
    .window(2)
    .aggregate(n: count())
    .emit(n: n)
"""


@pytest.fixture(scope="module")
def filter_module() -> dict[str, Any]:
    return load(FILTER)


@pytest.fixture(scope="module")
def windows_module() -> dict[str, Any]:
    return load(WINDOWS)


def test_module_exposes_the_api(filter_module: dict[str, Any]) -> None:
    assert callable(filter_module["Pipeline"])
    assert callable(filter_module["main"])
    p, _ = pipeline(filter_module)
    assert callable(p.push) and callable(p.close)


def test_push_calls_the_sink_with_stream_timestamp_fields(filter_module: dict[str, Any]) -> None:
    p, sink = pipeline(filter_module)
    p.push("Order", 1000, {"id": 1, "amount": 150})
    assert sink.take() == [("Big", 1000, {"id": 1, "amount": 150, "double": 300})]
    p.push("Order", 2000, {"id": 2, "amount": 50})
    assert sink.take() == []  # filtered out
    p.push("Order", 3000, {"id": 3, "amount": 100.5})
    assert sink.take() == [("Big", 3000, {"id": 3, "amount": 100.5, "double": 201.0})]
    p.close()
    assert sink.take() == []


def test_int_and_float_results_stay_distinct(filter_module: dict[str, Any]) -> None:
    p, sink = pipeline(filter_module)
    p.push("Order", 0, {"id": 7, "amount": 101})
    p.push("Order", 0, {"id": 8, "amount": 101.0})
    first, second = (call[2] for call in sink.take())
    assert type(first["double"]) is int and first["double"] == 202
    assert type(second["double"]) is float and second["double"] == 202.0


def test_push_accepts_keyword_arguments(filter_module: dict[str, Any]) -> None:
    p, sink = pipeline(filter_module)
    p.push(event_type="Order", timestamp=5, fields={"id": 1, "amount": 101})
    p.push(fields={"id": 2, "amount": 102}, timestamp=6, event_type="Order")
    assert sink.take() == [
        ("Big", 5, {"id": 1, "amount": 101, "double": 202}),
        ("Big", 6, {"id": 2, "amount": 102, "double": 204}),
    ]


def test_missing_fields_are_omitted(filter_module: dict[str, Any]) -> None:
    p, sink = pipeline(filter_module)
    p.push("Order", 0, {"amount": 200})
    assert sink.take() == [("Big", 0, {"amount": 200, "double": 400})]


def test_unknown_event_types_are_ignored(filter_module: dict[str, Any]) -> None:
    p, sink = pipeline(filter_module)
    p.push("Refund", 0, {"id": 1, "amount": 500})
    p.push("order", 0, {"id": 1, "amount": 500})  # types are case-sensitive
    p.close()
    assert sink.take() == []


def test_pushed_fields_are_not_modified(filter_module: dict[str, Any]) -> None:
    p, sink = pipeline(filter_module)
    fields = {"id": 1, "amount": 150, "note": "x"}
    p.push("Order", 0, fields)
    assert fields == {"id": 1, "amount": 150, "note": "x"}
    assert sink.take()[0][2] is not fields


def test_output_is_delivered_during_push(filter_module: dict[str, Any]) -> None:
    # Incremental processing (§1): the sink runs before push returns, not at close().
    seen: list[int] = []
    p = filter_module["Pipeline"](lambda stream, ts, fields: seen.append(ts))
    for ts in range(5):
        p.push("Order", ts, {"id": ts, "amount": 1000})
        assert seen == list(range(ts + 1))


def test_close_flushes_time_and_session_windows(windows_module: dict[str, Any]) -> None:
    p, sink = pipeline(windows_module)
    p.push("Trade", 0, {"sym": "a", "qty": 1})
    p.push("Trade", 1000, {"sym": "b", "qty": 2})
    p.push("Trade", 2000, {"sym": "a", "qty": 3})
    p.push("Click", 100, {"page": "home"})
    p.push("Click", 4000, {"page": "cart"})
    # The count window of Batches filled at the second trade; nothing else closed yet.
    assert sink.take() == [("Batches", 1000, {"n": 2})]
    p.close()
    # D8: open tumbling and session windows are flushed, partitions in first-seen order;
    # the count window holding the third trade emits nothing.
    assert sink.take() == [
        ("Totals", 2000, {"sym": "a", "n": 2, "total": 4.0, "hi": 3.0}),
        ("Totals", 1000, {"sym": "b", "n": 1, "total": 2.0, "hi": 2.0}),
        ("Sessions", 4000, {"clicks": 2, "pages": ["home", "cart"]}),
    ]


def test_windows_close_on_arrival_before_close(windows_module: dict[str, Any]) -> None:
    p, sink = pipeline(windows_module)
    p.push("Trade", 0, {"sym": "a", "qty": 1})
    p.push("Trade", 9999, {"sym": "a", "qty": 2})
    p.push("Trade", 10000, {"sym": "a", "qty": 4})  # t >= start + 10s closes [0, 9999]
    calls = sink.take()
    assert ("Totals", 9999, {"sym": "a", "n": 2, "total": 3.0, "hi": 2.0}) in calls
    p.push("Click", 0, {"page": "x"})
    p.push("Click", 5000, {"page": "y"})  # a gap of exactly 5s keeps the session
    p.push("Click", 10001, {"page": "z"})  # a gap of 5001 ms closes it
    assert sink.take() == [("Sessions", 5000, {"clicks": 2, "pages": ["x", "y"]})]
    p.close()
    assert sink.take() == [
        ("Totals", 10000, {"sym": "a", "n": 1, "total": 4.0, "hi": 4.0}),
        ("Sessions", 10001, {"clicks": 1, "pages": ["z"]}),
    ]


def test_two_pipelines_have_separate_state(windows_module: dict[str, Any]) -> None:
    p1, sink1 = pipeline(windows_module)
    p2, sink2 = pipeline(windows_module)
    p1.push("Trade", 0, {"sym": "a", "qty": 1})
    p2.push("Trade", 0, {"sym": "a", "qty": 10})
    # Each pipeline holds one trade: neither count window of two is full.
    assert sink1.take() == sink2.take() == []
    p1.push("Trade", 1, {"sym": "a", "qty": 2})
    assert sink1.take() == [("Batches", 1, {"n": 2})]
    assert sink2.take() == []
    p2.close()
    assert sink1.take() == []
    assert sink2.take() == [("Totals", 0, {"sym": "a", "n": 1, "total": 10.0, "hi": 10.0})]
    p1.close()
    assert sink1.take() == [("Totals", 1, {"sym": "a", "n": 2, "total": 3.0, "hi": 2.0})]


LIMITED = """\
stream First = Tick
    .distinct(sym)
    .limit(2)
    .emit(sym: sym)

stream Chained = First
    .emit(again: sym)
"""


def test_two_pipelines_have_separate_distinct_and_limit_state() -> None:
    module = load(LIMITED)
    p1, sink1 = pipeline(module)
    p2, sink2 = pipeline(module)
    for sym in ["a", "a", "b", "c"]:
        p1.push("Tick", 0, {"sym": sym})
    for sym in ["c", "b", "a"]:
        p2.push("Tick", 0, {"sym": sym})
    first1 = [c for c in sink1.take() if c[0] == "First"]
    first2 = [c for c in sink2.take() if c[0] == "First"]
    assert first1 == [("First", 0, {"sym": "a"}), ("First", 0, {"sym": "b"})]
    assert first2 == [("First", 0, {"sym": "c"}), ("First", 0, {"sym": "b"})]


def test_downstream_streams_reach_the_sink() -> None:
    module = load(LIMITED)
    p, sink = pipeline(module)
    p.push("Tick", 7, {"sym": "a"})
    calls = sink.take()
    assert sorted(calls, key=lambda c: c[0]) == [
        ("Chained", 7, {"again": "a"}),
        ("First", 7, {"sym": "a"}),
    ]


def test_sink_exceptions_reach_the_caller(filter_module: dict[str, Any]) -> None:
    def failing(stream: str, timestamp: int, fields: dict[str, Any]) -> None:
        raise KeyError("sink failed")

    p = filter_module["Pipeline"](failing)
    with pytest.raises(KeyError, match="sink failed"):
        p.push("Order", 0, {"id": 1, "amount": 500})


def test_loading_the_module_has_no_side_effects() -> None:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        module = load(FILTER)
    assert out.getvalue() == err.getvalue() == ""
    assert module["__name__"] == "generated_p"


def test_print_and_log_do_not_reach_the_sink() -> None:
    module = load('stream S = T\n    .print("seen", x)\n    .emit(x: x)\n')
    p, sink = pipeline(module)
    err = io.StringIO()
    with redirect_stderr(err):
        p.push("T", 0, {"x": 1})
    assert sink.take() == [("S", 0, {"x": 1})]
    assert "seen" in err.getvalue()  # D18: .print writes to stderr


def test_main_runs_the_command_line(tmp_path: Path, filter_module: dict[str, Any]) -> None:
    events = tmp_path / "in.evt"
    events.write_text("@5 Order { id: 1, amount: 150 }\n@6 Order { id: 2, amount: 1 }\n")
    out = tmp_path / "out.jsonl"
    err = io.StringIO()
    main: Callable[[list[str]], int] = filter_module["main"]
    with redirect_stderr(err):
        status = main(["--output", str(out), str(events)])
    assert status == 0
    assert out.read_text() == (
        '{"stream": "Big", "timestamp": 5, "fields": {"id": 1, "amount": 150, "double": 300}}\n'
    )
    assert "events in: 2, processed: 2, rejected: 0" in err.getvalue()


def test_push_after_close_is_refused_and_a_second_close_does_nothing() -> None:
    for source in (FILTER, "context c\nstream Big = Order .context(c) .emit(id: id)\n"):
        pipe, sink = pipeline(load(source))
        pipe.push("Order", 1, {"id": 1, "amount": 500})
        pipe.close()
        before = sink.take()
        assert len(before) == 1
        with pytest.raises(RuntimeError, match=r"push\(\) after close\(\)"):
            pipe.push("Order", 2, {"id": 2, "amount": 500})
        pipe.close()
        assert sink.take() == []

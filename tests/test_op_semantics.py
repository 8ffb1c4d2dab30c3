"""Per-op semantics of generated code (SEMANTICS §5.2, §6, §7): every op owns its state, and
the ops after a window run on the whole batch, one op after the other."""

from __future__ import annotations

import pytest
from pipeline_helpers import of, run

# -- each op owns its state ---------------------------------------------------------------


def test_two_distinct_ops_keep_separate_key_sets() -> None:
    program = "stream S = Order .distinct(x) .aggregate(n: count()) .distinct(n) .emit(n: n)"
    assert of(run(program, [("Order", 0, {"x": 1})]), "S") == [(0, {"n": 1})]


def test_two_limit_ops_around_a_window_keep_separate_counters() -> None:
    program = "stream S = Order .limit(1) .window(1) .limit(1) .emit(a: x)"
    assert of(run(program, [("Order", 0, {"x": 1})]), "S") == [(0, {"a": 1})]


def test_two_distinct_ops_around_a_window_keep_separate_key_sets() -> None:
    program = "stream S = Order .distinct(x) .window(1) .distinct(x) .emit(a: x)"
    events = [("Order", 0, {"x": 1}), ("Order", 1, {"x": 2})]
    assert of(run(program, events), "S") == [(0, {"a": 1}), (1, {"a": 2})]


# -- a window's batch runs through each op before the next --------------------------------

TWO_EVENTS = [("Order", 0, {"x": 1}), ("Order", 1, {"x": 2})]


def test_two_emits_after_a_window_write_op_by_op() -> None:
    program = "stream S = Order .window(2) .emit(a: x) .emit(b: a)"
    assert [f for _, f in of(run(program, TWO_EVENTS), "S")] == [
        {"a": 1},
        {"a": 2},
        {"b": 1},
        {"b": 2},
    ]


def test_print_and_emit_after_a_window_run_op_by_op(capsys: pytest.CaptureFixture[str]) -> None:
    # stdout and stderr are separate channels: the prints show the order between ops.
    program = "stream S = Order .window(2) .print(x) .emit(a: x) .print(a)"
    assert [f for _, f in of(run(program, TWO_EVENTS), "S")] == [{"a": 1}, {"a": 2}]
    assert capsys.readouterr().err.splitlines() == ["[S] 1", "[S] 2", "[S] 1", "[S] 2"]


def test_log_ops_between_window_and_aggregate_run_op_by_op(
    capsys: pytest.CaptureFixture[str],
) -> None:
    program = """
    stream S = Order .window(3) .log(message: "a", data: x) .where(x > 1)
        .log(message: "b", data: x) .aggregate(n: count()) .emit(n: n)
    """
    events = [("Order", t, {"x": x}) for t, x in enumerate([2, 1, 3])]
    assert of(run(program, events), "S") == [(2, {"n": 2})]
    assert capsys.readouterr().err.splitlines() == [
        "[INFO] S: a 2",
        "[INFO] S: a 1",
        "[INFO] S: a 3",
        "[INFO] S: b 2",
        "[INFO] S: b 3",
    ]


def test_results_of_a_partitioned_batch_run_op_by_op(capsys: pytest.CaptureFixture[str]) -> None:
    # One window batch, one result per key (§5.2): the results are a batch too.
    program = """
    stream S = Order .window(2) .partition_by(x) .aggregate(n: count()) .print(x) .emit(k: x)
    """
    assert [f for _, f in of(run(program, TWO_EVENTS), "S")] == [{"k": 1}, {"k": 2}]
    assert capsys.readouterr().err.splitlines() == ["[S] 1", "[S] 2"]
    program = """
    stream S = Order .window(2) .partition_by(x) .aggregate(n: count()) .emit(a: x) .emit(b: a)
    """
    assert [f for _, f in of(run(program, TWO_EVENTS), "S")] == [
        {"a": 1},
        {"a": 2},
        {"b": 1},
        {"b": 2},
    ]


def test_a_batch_is_routed_after_the_stream_is_done_with_it() -> None:
    # §5.1/§1.4: S writes both lines, then T (a direct call) gets both results.
    program = """
    stream S = Order .window(2) .emit(a: x)
    stream T = S .emit(b: a)
    """
    out = run(program, TWO_EVENTS)
    assert [(s, f) for s, _, f in out] == [
        ("S", {"a": 1}),
        ("S", {"a": 2}),
        ("T", {"b": 1}),
        ("T", {"b": 2}),
    ]


def test_end_of_input_flush_runs_op_by_op() -> None:
    program = "stream S = Order .window(10s) .emit(a: x) .emit(b: a)"
    assert [f for _, f in of(run(program, TWO_EVENTS), "S")] == [
        {"a": 1},
        {"a": 2},
        {"b": 1},
        {"b": 2},
    ]

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

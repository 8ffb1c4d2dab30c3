"""Semantics of generated modules (SEMANTICS §5–§7), driven end to end in-process."""

from __future__ import annotations

from pipeline_helpers import of, run


def test_breadth_first_order_when_two_chains_meet() -> None:
    # C consumes X (fed by A) and B; breadth-first, C sees B's event before X's (§5.1).
    program = """
    stream A = T .emit(src: "a")
    stream B = T .emit(src: "b")
    stream X = A .emit(src: "x")
    stream C = merge(stream l = X, stream r = B) .emit(src: src)
    """
    out = run(program, [("T", 1, {})])
    assert [f["src"] for _, f in of(out, "C")] == ["b", "x"]


def test_tree_shaped_programs_use_direct_calls_in_the_same_order() -> None:
    program = """
    stream Base = Tick .where(x > 0)
    stream Double = Base .where(x > 5) .emit(val: x)
    stream Triple = Base .where(x > 10) .emit(val: x)
    """
    out = run(program, [("Tick", i, {"x": x}) for i, x in enumerate([3, 7, 12, -1])])
    assert [(s, f["val"]) for s, _, f in out] == [("Double", 7), ("Double", 12), ("Triple", 12)]


def test_tumbling_window_aligns_to_first_event_and_flushes_at_end() -> None:
    program = "stream W = M .window(5s) .aggregate(n: count(), s: sum(a)) .emit(n: n, s: s)"
    events = [("M", t, {"a": 1}) for t in (1000, 3000, 6000, 6500, 20000)]
    assert of(run(program, events), "W") == [
        (3000, {"n": 2, "s": 2.0}),
        (6500, {"n": 2, "s": 2.0}),
        (20000, {"n": 1, "s": 1.0}),
    ]


def test_sliding_time_window_evicts_out_of_order_events() -> None:
    program = "stream W = M .window(10s, sliding: 1s) .aggregate(n: count(), lo: min(t)) .emit(n: n, lo: lo)"
    events = [("M", t, {"t": t}) for t in (20000, 5000, 21000)]
    # 5000 arrives before the next slide is due: no emission. At 21000 the horizon is
    # 11000: the late event at 5000 is evicted, 20000 stays.
    assert of(run(program, events), "W") == [
        (20000, {"n": 1, "lo": 20000.0}),
        (21000, {"n": 2, "lo": 20000.0}),
    ]


def test_partition_after_window_splits_only_the_aggregate() -> None:
    program = """
    stream S = T .window(4) .partition_by(k) .aggregate(n: count()) .emit(k: k, n: n)
    """
    events = [("T", t, {"k": k}) for t, k in enumerate(["a", "b", "a", "c"])]
    assert of(run(program, events), "S") == [
        (2, {"k": "a", "n": 2}),
        (1, {"k": "b", "n": 1}),
        (3, {"k": "c", "n": 1}),
    ]


def test_window_without_aggregate_releases_events_one_by_one() -> None:
    program = "stream S = T .window(2) .emit(x: x)"
    events = [("T", t, {"x": t}) for t in range(5)]
    assert [f["x"] for _, f in of(run(program, events), "S")] == [0, 1, 2, 3]


def test_aggregate_without_window_aggregates_each_event_alone() -> None:
    program = "stream S = T .aggregate(n: count(), s: sum(x)) .emit(n: n, s: s)"
    assert of(run(program, [("T", 5, {"x": 2})]), "S") == [(5, {"n": 1, "s": 2.0})]


def test_session_windows_per_partition_flush_in_first_seen_order() -> None:
    program = """
    stream S = T .partition_by(u) .window(session: 3s) .aggregate(n: count()) .emit(u: u, n: n)
    """
    events = [
        ("T", 0, {"u": "b"}),
        ("T", 1000, {"u": "a"}),
        ("T", 3000, {"u": "b"}),
        ("T", 9000, {"u": "a"}),
    ]
    assert of(run(program, events), "S") == [
        (1000, {"u": "a", "n": 1}),
        (3000, {"u": "b", "n": 2}),
        (9000, {"u": "a", "n": 1}),
    ]


def test_partition_keys_one_and_one_point_zero_are_the_same() -> None:
    program = (
        "stream S = T .partition_by(k) .window(2) .aggregate(n: count()) .emit(p: _partition, n: n)"
    )
    out = of(run(program, [("T", 0, {"k": 1}), ("T", 1, {"k": 1.0})]), "S")
    assert out == [(1, {"p": "1", "n": 2})]


def test_missing_partition_field_is_one_default_partition() -> None:
    program = "stream S = T .partition_by(k) .window(2) .aggregate(n: count()) .emit(p: _partition, k: k, n: n)"
    out = of(run(program, [("T", 0, {}), ("T", 1, {"x": 1})]), "S")
    assert out == [(1, {"p": "default", "n": 2})]


def test_distinct_and_limit() -> None:
    program = "stream S = T .distinct(k) .limit(2) .emit(k: k)"
    events = [("T", i, {"k": k}) for i, k in enumerate([1, 1.0, "1", 2, 3])]
    assert [f["k"] for _, f in of(run(program, events), "S")] == [1, "1"]


def test_distinct_without_argument_ignores_field_order() -> None:
    program = "stream S = T .distinct() .emit(a: a)"
    events = [("T", 0, {"a": 1, "b": 2}), ("T", 1, {"b": 2, "a": 1}), ("T", 2, {"a": 1})]
    assert len(of(run(program, events), "S")) == 2


def test_limit_zero_blocks_everything() -> None:
    assert run("stream S = T .limit(0) .emit(x: x)", [("T", 0, {"x": 1})]) == []


def test_constants_are_visible_and_shadow_fields() -> None:
    program = """
    const threshold = 10
    let label = "big"
    stream S = T .where(x > threshold) .emit(l: label, x: x)
    """
    out = run(program, [("T", 0, {"x": 11, "label": "field"}), ("T", 1, {"x": 9})])
    assert of(out, "S") == [(0, {"l": "big", "x": 11})]


def test_conditions_are_exactly_true() -> None:
    # Strings, bools, null and absent fields never satisfy a numeric comparison (§4, D2).
    program = "stream S = T .where(x >= 1) .emit(x: x)"
    values = [1, 1.0, 0, True, "2", None, [1]]
    events = [("T", i, {"x": v}) for i, v in enumerate(values)] + [("T", 9, {})]
    assert [f["x"] for _, f in of(run(program, events), "S")] == [1, 1.0]


def test_not_equal_literal_against_other_types() -> None:
    program = 'stream S = T .where(x != 1 and y != "a") .emit(x: x)'
    events = [("T", 0, {"x": "1", "y": 2}), ("T", 1, {"x": 1, "y": "b"}), ("T", 2, {"y": "b"})]
    assert [f["x"] for _, f in of(run(program, events), "S")] == ["1"]


def test_not_negates_and_missing_stays_missing() -> None:
    program = "stream S = T .where(not (x > 1)) .emit(x: x)"
    events = [("T", 0, {"x": 0}), ("T", 1, {"x": 5}), ("T", 2, {"x": "s"}), ("T", 3, {})]
    assert [f["x"] for _, f in of(run(program, events), "S")] == [0]


def test_emit_omits_missing_fields_and_keeps_argument_order() -> None:
    program = 'stream S = T .emit(b: y, a: x, c: x / 0, d: "lit")'
    assert of(run(program, [("T", 0, {"x": 4})]), "S") == [(0, {"a": 4, "d": "lit"})]


def test_aggregate_functions_skip_non_numbers() -> None:
    program = """
    stream S = T .window(4) .aggregate(
        s: sum(v), a: avg(v), lo: min(v), hi: max(v), sd: stddev(v), f: first(v), l: last(v),
        d: count_distinct(v), c: collect(v), p: percentile(v, 50), e: ema(v, 3), n: count())
    .emit(s: s, a: a, lo: lo, hi: hi, sd: sd, f: f, l: l, d: d, c: c, p: p, e: e, n: n)
    """
    events = [("T", 0, {"v": 2}), ("T", 1, {"v": "x"}), ("T", 2, {}), ("T", 3, {"v": 4.0})]
    [(ts, fields)] = of(run(program, events), "S")
    assert ts == 3
    assert fields == {
        "s": 6.0,
        "a": 3.0,
        "lo": 2.0,
        "hi": 4.0,
        "sd": 2.0**0.5,
        "f": 2,
        "l": 4.0,
        "d": 3,
        "c": [2, "x", 4.0],
        "p": 3.0,
        "e": 3.0,
        "n": 4,
    }


def test_empty_numeric_aggregates_are_null() -> None:
    program = "stream S = T .window(1) .aggregate(a: avg(v), lo: min(v), sd: stddev(v), s: sum(v)) .emit(a: a, lo: lo, sd: sd, s: s)"
    assert of(run(program, [("T", 0, {})]), "S") == [
        (0, {"a": None, "lo": None, "sd": None, "s": 0.0})
    ]


def test_allowed_lateness_drops_events_older_than_watermark_minus_lateness() -> None:
    program = """
    stream S = T .watermark(out_of_order: 1s) .allowed_lateness(2s) .emit(t: t)
    """
    times = [10000, 8500, 6000, 12000]
    out = of(run(program, [("T", t, {"t": t}) for t in times]), "S")
    # watermark after 10000 is 9000: 8500 is late but within 2s, 6000 is dropped.
    assert [f["t"] for _, f in out] == [10000, 8500, 12000]


def test_flush_cascades_through_downstream_windows() -> None:
    program = """
    stream A = T .window(5s) .aggregate(n: count())
    stream B = A .window(session: 1s) .aggregate(total: sum(n)) .emit(total: total)
    """
    # A closes [0, 1000] at 7000; at end of input A flushes [7000], which closes B's
    # session (gap 6s > 1s) before B flushes its own last session.
    events = [("T", t, {}) for t in (0, 1000, 7000)]
    assert of(run(program, events), "B") == [(1000, {"total": 2.0}), (7000, {"total": 1.0})]

"""The checker (`vplc.check.checker.check`): every diagnostic with its position, schema inference
(D21), the checked model, and the conformance corpus's error and output programs."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from vplc.check.checker import check
from vplc.check.model import (
    AggFunc,
    Aggregate,
    AllowedLateness,
    CheckedProgram,
    Concurrent,
    Distinct,
    Emit,
    Limit,
    Log,
    PartitionBy,
    Print,
    Select,
    Strategy,
    Watermark,
    Where,
    Window,
    WindowKind,
)
from vplc.diagnostics import CompileError, Diagnostic, Severity
from vplc.frontend import syntax
from vplc.frontend.parser import parse

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("VPL_CONFORMANCE_DIR", ROOT.parent / "shared" / "conformance"))


# ---------------------------------------------------------------------------------------
# Helpers


def _source(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def checked(text: str) -> CheckedProgram:
    """The checked program of `text`, which must have no error."""
    source = _source(text)
    return check(parse(source, "t.vpl"), source, "t.vpl")


def diagnostics(text: str) -> list[Diagnostic]:
    """Every diagnostic of `text`, errors or not, in the order reported."""
    source = _source(text)
    try:
        return list(check(parse(source, "t.vpl"), source, "t.vpl").warnings)
    except CompileError as exc:
        return list(exc.diagnostics)


def one(text: str, code: str) -> Diagnostic:
    """The single diagnostic with `code`."""
    found = [d for d in diagnostics(text) if d.code == code]
    assert len(found) == 1, diagnostics(text)
    return found[0]


def at(diagnostic: Diagnostic) -> tuple[int, int]:
    return diagnostic.span.line, diagnostic.span.column


def codes(text: str) -> list[str]:
    return [d.code for d in diagnostics(text)]


def error_at(text: str, code: str, line: int, column: int) -> Diagnostic:
    """Assert that `text` fails with `code` at line:column."""
    source = _source(text)
    with pytest.raises(CompileError) as caught:
        check(parse(source, "t.vpl"), source, "t.vpl")
    found = [d for d in caught.value.diagnostics if d.code == code]
    assert found, caught.value.diagnostics
    assert found[0].severity is Severity.ERROR
    assert at(found[0]) == (line, column), found[0]
    return found[0]


def warning_at(text: str, code: str, line: int, column: int) -> Diagnostic:
    """Assert that `text` compiles with warning `code` at line:column."""
    program = checked(text)
    found = [d for d in program.warnings if d.code == code]
    assert found, program.warnings
    assert found[0].severity is Severity.WARNING
    assert at(found[0]) == (line, column), found[0]
    return found[0]


ORDER = """
event Order:
    id: int
    amount: float
    customer: str
    paid: bool
"""


# ---------------------------------------------------------------------------------------
# Declarations


def test_e001_duplicate_event_at_second_name() -> None:
    error_at("event A:\n    x: int\nevent A:\n    y: int\n", "E001", 3, 7)


def test_e002_duplicate_stream_at_second_name() -> None:
    error_at("stream Output = A\nstream Output = B\n", "E002", 2, 8)


def test_e005_duplicate_context_at_second_name() -> None:
    error_at("context c\ncontext c (cores: [1])\n", "E005", 2, 9)


def test_e033_repeated_core_at_the_repeat() -> None:
    error_at("context c (cores: [1, 2, 1])\n", "E033", 1, 26)


def test_contexts_in_model() -> None:
    program = checked("context a (cores: [0, 2])\ncontext b\n")
    assert [(c.name, c.cores) for c in program.contexts] == [("a", (0, 2)), ("b", ())]


def test_e040_assignment_to_let_const_or_undeclared() -> None:
    error_at("let x = 10\nx := 20\n", "E040", 2, 1)
    error_at("const x = 10\n  x := 20\n", "E040", 2, 3)
    error_at("y := 1\n", "E040", 1, 1)
    assert not codes("var x = 1\nx := x + 1\n")


def test_e050_unknown_function_in_initializer() -> None:
    error_at("let x = 1\nconst y = frob(x)\n", "E050", 2, 11)
    error_at("var z = 0\nz := count()\n", "E050", 2, 6)


def test_w041_initializer_reads_a_later_constant() -> None:
    warning_at("let a = b + 1\nlet b = 2\n", "W041", 1, 9)


def test_bindings_and_constant_names_in_program_order() -> None:
    program = checked('let a = 1\nvar b = a + 1\nconst c = "x"\nb := 5\n')
    assert [b.name for b in program.bindings] == ["a", "b", "c", "b"]
    assert program.constant_names == frozenset({"a", "b", "c"})


def test_events_with_inherited_fields() -> None:
    program = checked("""
        event Base:
            id: int
            tags: [str]
        event Child extends Base:
            note: str?
        """)
    child = program.events[1]
    assert child.name == "Child"
    assert [(f.name, f.type, f.optional) for f in child.fields] == [
        ("id", "int", False),
        ("tags", "[str]", False),
        ("note", "str", True),
    ]


def test_e003_unknown_base_event() -> None:
    error_at("event B extends Nope:\n    x: int\n", "E003", 1, 17)


def test_e004_inheritance_cycle() -> None:
    error_at("event A extends B:\n    x: int\nevent B extends A:\n    y: int\n", "E004", 3, 17)


def test_inherited_field_is_known_and_typed() -> None:
    text = """
        event Base:
            id: int
        event Child extends Base:
            name: str
        stream S = Child .where(id > 1 and name == "a") .emit(id: id)
        """
    assert "E020" not in codes(text)
    bad = text.replace('name == "a"', "name > 1")
    error_at(bad, "E021", 5, 41)


# ---------------------------------------------------------------------------------------
# Stream structure


def test_e010_having_without_aggregate_at_op_name() -> None:
    error_at("stream S = Events\n    .having(total > 100)\n", "E010", 2, 6)


def test_e011_second_aggregate() -> None:
    error_at(
        "stream S = E .window(2) .aggregate(a: count())\n    .aggregate(b: count())\n",
        "E011",
        2,
        6,
    )


def test_e012_second_window() -> None:
    error_at("stream S = Events\n    .window(5)\n    .window(10)\n", "E012", 3, 6)


@pytest.mark.parametrize(
    ("args", "column"),
    [
        ("x", 22),  # not a literal
        ("0", 22),  # count must be positive
        ("1.5", 22),
        ('"5m"', 22),
        ("5m, sliding: 3", 35),  # slide of the other kind
        ("5, sliding: 1s", 34),
        ("session: 5", 31),  # session gap must be a duration
        ("5, foo: 1", 25),  # unknown named argument, at its name
        ("session: 5s, sliding: 1s", 35),
    ],
)
def test_e013_bad_window_arguments(args: str, column: int) -> None:
    error_at(f"stream S = E .window({args})\n", "E013", 1, column)


def test_e013_window_without_size() -> None:
    error_at("stream S = E .window()\n", "E013", 1, 15)


def test_e014_partition_by_needs_a_field_name() -> None:
    error_at("stream S = E .partition_by(a + b)\n", "E014", 1, 28)
    error_at('stream S = E .partition_by("a")\n', "E014", 1, 28)
    error_at("let k = 1\nstream S = E .partition_by(k)\n", "E014", 2, 28)


def test_e016_cycle_reported_at_closing_stream() -> None:
    error_at("stream A = B\nstream B = A\n", "E016", 2, 8)


def test_e016_self_loop() -> None:
    error_at("stream Loop = Loop .where(x > 1)\n", "E016", 1, 8)


def test_e016_one_error_per_cycle_set() -> None:
    found = [d for d in diagnostics("""
            stream A = merge(B, C)
            stream B = A
            stream C = A
            stream D = E
            stream E = D
            stream F = A
            """) if d.code == "E016"]
    assert [at(d) for d in found] == [(3, 8), (5, 8)]


def test_e031_undefined_context() -> None:
    error_at("stream S = Events\n    .context(missing_ctx)\n", "E031", 2, 14)
    error_at("stream S = E .emit(context: nowhere, x: 1)\n", "E031", 1, 29)


def test_e060_non_boolean_literal_condition() -> None:
    error_at("stream S = E .where(1)\n", "E060", 1, 21)
    error_at('stream S = E .window(2) .aggregate(n: count()) .having("yes")\n', "E060", 1, 56)
    assert "E060" not in codes("stream S = E .where(true)\n")


def test_e061_allowed_lateness_literal_kinds() -> None:
    error_at('stream S = E .allowed_lateness("5s")\n', "E061", 1, 32)
    error_at("stream S = E .allowed_lateness(1.5)\n", "E061", 1, 32)
    error_at("stream S = E .allowed_lateness(null)\n", "E061", 1, 32)
    program = checked("stream S = E .allowed_lateness(30s)\nstream T = E .allowed_lateness(7)\n")
    assert program.streams[0].ops == (AllowedLateness(30000, program.streams[0].ops[0].origin),)
    op = program.streams[1].ops[0]
    assert isinstance(op, AllowedLateness) and op.lateness_ms == 7


def test_e070_unknown_aggregate_function() -> None:
    error_at("stream S = X.window(1m).aggregate(x: median(val))\n", "E070", 1, 38)


def test_e071_aggregate_without_argument() -> None:
    error_at("stream S = X.window(2).aggregate(x: sum())\n", "E071", 1, 37)


def test_e072_ema_and_percentile_parameters() -> None:
    error_at("stream S = X.window(2).aggregate(x: ema(v))\n", "E072", 1, 37)
    error_at("stream S = X.window(2).aggregate(x: ema(v, 0))\n", "E072", 1, 44)
    error_at("stream S = X.window(2).aggregate(x: ema(v, n))\n", "E072", 1, 44)
    error_at("stream S = X.window(2).aggregate(x: percentile(v, 150))\n", "E072", 1, 51)


def test_e074_too_many_aggregate_arguments() -> None:
    error_at("stream S = X.window(2).aggregate(x: sum(a, b))\n", "E074", 1, 44)


def test_e073_field_outside_aggregate_call() -> None:
    error_at("stream S = X.window(2).aggregate(x: price * 2)\n", "E073", 1, 37)
    error_at("stream S = X.window(2).aggregate(x: sum(a) + b)\n", "E073", 1, 46)
    # constants and literals are fine leaves (D6b)
    assert "E073" not in codes("let k = 2\nstream S = X.window(2).aggregate(x: sum(a) * k + 1)\n")


def test_e080_unknown_log_and_watermark_parameters() -> None:
    error_at('stream S = E .log(level: "info", colour: 1)\n', "E080", 1, 34)
    error_at("stream S = SensorEvent\n    .watermark(delay: 5s)\n", "E080", 2, 16)
    program = checked("stream S = E .watermark(out_of_order: 2s) .log(message: x, data: y)\n")
    watermark = program.streams[0].ops[0]
    assert isinstance(watermark, Watermark) and watermark.out_of_order_ms == 2000


def test_load_limit_needs_an_integer_literal() -> None:
    error_at("let max_n = 5\nstream S = Tick\n    .limit(max_n)\n", "LOAD", 3, 12)
    error_at('stream S = Tick .limit("3")\n', "LOAD", 1, 24)
    limit = checked("stream S = Tick .limit(0)\n").streams[0].ops[0]
    assert isinstance(limit, Limit) and limit.count == 0


def test_e090_process_and_on_error() -> None:
    error_at("stream S = E .process(f())\n", "E090", 1, 15)
    error_at("stream S = E .on_error(x)\n", "E090", 1, 15)


def test_e091_unknown_operation() -> None:
    error = error_at("stream S = E .frobnicate(1)\n", "E091", 1, 15)
    assert "frobnicate" in error.message


def test_e092_malformed_arguments() -> None:
    error_at("stream S = E .where(a, b)\n", "E092", 1, 21)
    error_at("stream S = E .select(a + 1)\n", "E092", 1, 22)
    error_at("context c\nstream S = E .context(c) .context(c)\n", "E092", 2, 27)


def test_e015_merge_source_accepts_only_where() -> None:
    error_at("stream M = merge(stream A = X .window(3), Y)\n", "E015", 1, 32)


# ---------------------------------------------------------------------------------------
# Type checking (D21)


def test_e020_unknown_field_with_did_you_mean() -> None:
    error = error_at(ORDER + "stream S = Order\n    .where(amout > 10)\n", "E020", 7, 12)
    assert error.message == "event 'Order' has no field 'amout' (did you mean 'amount'?)"


def test_e020_without_close_match() -> None:
    error = error_at(ORDER + "stream S = Order .emit(zzz: qqqq)\n", "E020", 6, 29)
    assert error.message == "event 'Order' has no field 'qqqq'"


def test_e020_in_merge_of_declared_types() -> None:
    text = (
        ORDER + "event Refund:\n    id: int\n" + "stream M = merge(Order, Refund) .emit(x: idd)\n"
    )
    error = error_at(text, "E020", 8, 42)
    assert error.message.startswith("events 'Order', 'Refund' have no field 'idd'")


def test_merge_with_undeclared_source_is_dynamic() -> None:
    assert "E020" not in codes(ORDER + "stream M = merge(Order, Other) .emit(x: anything)\n")


def test_constant_shadows_field_and_is_not_an_unknown_field() -> None:
    assert not [
        c
        for c in codes(
            ORDER + "let limit_amount = 10.0\nstream S = Order .where(amount > limit_amount)"
        )
        if c.startswith("E")
    ]


@pytest.mark.parametrize(
    ("expression", "column"),
    [
        ("customer > 5", 36),  # ordering str against int, at the operator
        ("paid + 1", 32),  # arithmetic on bool
        ('amount - "x"', 34),
        ("id and paid", 30),
        ('"a" in 5', 31),
        ("-customer", 27),
    ],
)
def test_e021_ill_typed_operators(expression: str, column: int) -> None:
    error_at(ORDER + f"stream S = Order .emit(x: {expression})\n", "E021", 6, column)


def test_e021_condition_that_can_only_be_non_boolean() -> None:
    error_at(ORDER + "stream S = Order .where(amount)\n", "E021", 6, 25)
    error_at(ORDER + "stream S = Order .where(amount * 2)\n", "E021", 6, 25)
    error_at(ORDER + "stream S = Order .where(not customer)\n", "E021", 6, 25)


def test_no_type_error_when_an_operand_is_unknown() -> None:
    assert not [c for c in codes('stream S = E .where(a + 1 > "x" and b < 2)\n') if c == "E021"]
    assert "E021" not in codes(ORDER + "stream S = Order .where(customer > other)\n")


def test_well_typed_declared_expressions() -> None:
    text = ORDER + (
        "stream S = Order\n"
        '    .where(amount >= 100 and customer != "x" and not paid)\n'
        '    .where(customer + "!" > "a" and id % 2 == 0 and amount / id < 3.5)\n'
        "    .emit(s: to_string(amount) + customer, n: len(customer) * 2)\n"
    )
    assert not [c for c in codes(text) if c.startswith("E")]


def test_e021_on_constant_types() -> None:
    error_at(ORDER + 'let cutoff = "x"\nstream S = Order .where(amount > cutoff)\n', "E021", 7, 32)


def test_e021_in_initializer() -> None:
    error_at('let x = 1 + "a"\n', "E021", 1, 11)


# ---------------------------------------------------------------------------------------
# Schemas through streams


def test_w040_after_select_in_same_stream() -> None:
    warning = warning_at(
        ORDER + "stream S = Order .select(a: amount) .emit(b: amount)\n", "W040", 6, 46
    )
    assert "'.select' on line 6 produces 'a'" in warning.message


def test_w040_downstream_of_a_select() -> None:
    text = ORDER + "stream A = Order .select(total: amount)\nstream B = A .emit(x: totl)\n"
    warning = warning_at(text, "W040", 7, 23)
    assert "stream 'A' produces 'total'" in warning.message
    assert "(did you mean 'total'?)" in warning.message


def test_schema_after_partitioned_aggregate() -> None:
    base = (
        "stream A = E .partition_by(sym) .window(3)"
        " .aggregate(n: count(), avg_p: avg(p), f: first(q))\n"
    )
    text = base + "stream B = A .emit(k: _partition, s: sym, n: n, a: avg_p, f: f)\n"
    assert set(codes(text)) == {"W030"}
    warning_at(base + "stream B = A .emit(x: p)\n", "W040", 2, 23)


def test_aggregate_result_types_are_known_downstream() -> None:
    text = "stream A = E .window(2) .aggregate(total: sum(x), n: count())\n"
    error_at(text + 'stream B = A .where(total > "x")\n', "E021", 2, 27)
    error_at(text + "stream B = A .where(n and true)\n", "E021", 2, 23)
    assert "E021" not in codes(text + "stream B = A .where(total / n > 2)\n")


def test_schema_after_emit() -> None:
    text = ORDER + "stream A = Order .emit(c: customer)\nstream B = A .where(c > 3)\n"
    error_at(text, "E021", 7, 23)
    warning_at(ORDER + "stream A = Order .emit(c: customer) .where(amount > 1)\n", "W040", 6, 44)


def test_stream_without_projection_passes_its_schema_on() -> None:
    text = ORDER + "stream A = Order .where(paid)\nstream B = A .emit(x: amont)\n"
    warning = warning_at(text, "W040", 7, 23)
    assert "did you mean 'amount'" in warning.message


def test_stream_and_event_of_the_same_name_are_merged() -> None:
    text = ORDER + "stream Order = X .emit(extra: 1)\nstream S = Order .emit(a: extra, b: amount)\n"
    assert not [c for c in codes(text) if c in ("E020", "W040")]


# ---------------------------------------------------------------------------------------
# Warnings


def test_w001_aggregate_without_window() -> None:
    warning_at("stream S = E .aggregate(n: count())\n", "W001", 1, 15)


def test_w002_partition_by_after_window() -> None:
    warning_at("stream S = E .window(3) .partition_by(k) .aggregate(n: count())\n", "W002", 1, 26)


def test_w030_undeclared_source_but_stream_names_are_fine() -> None:
    warning_at("stream A = Ticks\nstream B = A\n", "W030", 1, 12)
    assert [at(d) for d in checked("stream A = Ticks\nstream B = A\n").warnings] == [(1, 12)]


def test_w031_emit_as_undeclared_type() -> None:
    warning_at("stream S = E .emit as Alert(x: 1)\n", "W031", 1, 23)
    assert "W031" not in codes("event Alert:\n    x: int\nstream S = E .emit as Alert(x: 1)\n")


def test_w032_emit_context_without_consumer_there() -> None:
    text = """
        context a
        context b
        stream S = E .context(a) .emit(context: b, x: 1)
        stream T = S .context(a)
        """
    warning_at(text, "W032", 3, 41)
    assert "W032" not in codes(text.replace("stream T = S .context(a)", "stream T = S .context(b)"))


def test_w050_unknown_function_and_w051_arity_in_streams() -> None:
    warning_at("stream S = E .where(frob(x) > 1)\n", "W050", 1, 21)
    warning_at("stream S = E .emit(x: abs(1, 2))\n", "W051", 1, 23)


def test_w060_arithmetic_condition() -> None:
    warning_at("stream S = E .where(x + 1)\n", "W060", 1, 21)


def test_w021_operator_always_missing() -> None:
    warning_at("stream S = E .emit(x: a & 1)\n", "W021", 1, 25)


def test_w013_window_policy_ignored() -> None:
    warning_at("stream S = E .window(5, sliding: 1, policy: x)\n", "W013", 1, 37)


# ---------------------------------------------------------------------------------------
# Worker pools (§10)


def _pool(text: str) -> Concurrent:
    program = checked(text)
    pools = [op for op in program.streams[0].ops if isinstance(op, Concurrent)]
    assert len(pools) == 1
    return pools[0]


def test_concurrent_defaults() -> None:
    pool = _pool("stream S = E .partition_by(k) .concurrent(workers: 4) .emit(x: 1)\n")
    assert (pool.workers, pool.strategy, pool.ordered) == (4, Strategy.CONSISTENT_HASH, False)
    assert isinstance(pool.key, syntax.Name) and pool.key.name == "k"
    pool = _pool("stream S = E .concurrent(workers: 2, ordered: true) .where(x > 1)\n")
    assert (pool.strategy, pool.key, pool.ordered) == (Strategy.ROUND_ROBIN, None, True)
    pool = _pool("stream S = E .concurrent(key: a, workers: 3, strategy: broadcast)\n")
    assert (pool.strategy, pool.key) == (Strategy.BROADCAST, None)


def test_e100_bad_concurrent_arguments() -> None:
    error_at("stream S = E .concurrent(workers: 0)\n", "E100", 1, 35)
    error_at("stream S = E .concurrent(workers: 2, strategy: random)\n", "E100", 1, 48)
    error_at("stream S = E .concurrent(workers: 2, speed: 1)\n", "E100", 1, 38)
    error_at("stream S = E .concurrent(ordered: true)\n", "E100", 1, 15)
    error_at('stream S = E .concurrent(workers: 2, ordered: "yes")\n', "E100", 1, 47)


def test_e101_second_concurrent() -> None:
    error_at("stream S = E .concurrent(workers: 2) .concurrent(workers: 3)\n", "E101", 1, 39)


def test_e102_stateful_op_not_keyed_by_pool_key() -> None:
    text = "stream S = E .concurrent(workers: 2, key: a) .window(3) .aggregate(n: count())\n"
    error_at(text, "E102", 1, 47)
    ok = "stream S = E .concurrent(workers: 2, key: a) .partition_by(a) .window(3)\n"
    assert "E102" not in codes(ok)
    error_at("stream S = E .concurrent(workers: 2, key: a) .limit(3)\n", "E102", 1, 47)
    error_at(
        "stream S = E .concurrent(workers: 2, strategy: broadcast) .distinct()\n", "E102", 1, 60
    )


def test_e103_round_robin_followed_by_stateful_op() -> None:
    error_at("stream S = E .concurrent(workers: 2) .where(x > 1) .window(3)\n", "E103", 1, 53)


def test_e104_consistent_hash_without_key() -> None:
    error_at("stream S = E .concurrent(workers: 2, strategy: consistent_hash)\n", "E104", 1, 48)


def test_w103_unordered_pool_feeds_order_sensitive_op() -> None:
    text = """
        stream S = E .partition_by(k) .concurrent(workers: 2) .emit(k: k)
        stream T = S .window(3) .aggregate(n: count())
        """
    warning_at(text, "W103", 1, 32)
    assert "W103" not in codes(text.replace("workers: 2", "workers: 2, ordered: true"))


# ---------------------------------------------------------------------------------------
# The model


def test_model_streams_ops_and_origins() -> None:
    program = checked("""
        context c
        stream S = E
            .context(c)
            .where(x   >   1)
            .select(x, y: x * 2)
            .window(5m, sliding: 30s)
            .aggregate(n: count(), u: count(distinct(x)), c: count(x), e: ema(x, 3))
            .having(n > 1)
            .emit(context: c, n, u: u)
        stream T = S
        """)
    stream = program.streams[0]
    assert (stream.name, stream.context, stream.span.line) == ("S", "c", 2)
    where, select, window, aggregate, having, emit = stream.ops
    assert isinstance(where, Where) and not where.is_having
    assert (where.origin.line, where.origin.column) == (4, 5)
    assert where.origin.text == ".where(x > 1)"
    assert isinstance(select, Select)
    assert [item.name for item in select.items] == ["x", "y"]
    assert window == Window(WindowKind.SLIDING_TIME, 300000, 30000, window.origin)
    assert isinstance(aggregate, Aggregate)
    calls = [(c.func, c.arg, c.param) for item in aggregate.items for c in item.calls]
    assert calls[0] == (AggFunc.COUNT, None, None)
    assert calls[1][0] is AggFunc.COUNT_DISTINCT and isinstance(calls[1][1], syntax.Name)
    assert calls[2] == (AggFunc.COUNT, None, None)
    assert calls[3][0] is AggFunc.EMA and calls[3][2] == 3
    assert isinstance(having, Where) and having.is_having
    assert isinstance(emit, Emit) and emit.context == "c"
    assert [item.name for item in emit.items] == ["n", "u"]
    assert [s.name for s in program.streams] == ["S", "T"]
    assert program.filename == "t.vpl"


def test_model_other_ops_and_multiline_origin() -> None:
    program = checked("""
        event Alert:
            level: int
        stream S = E
            .partition_by(k)
            .distinct(k)
            .print(k, "seen")
            .log(level: "info", data: k)
            .emit as Alert(
                level:   1,
                k
            )
        """)
    partition, distinct, printed, logged, emit = program.streams[0].ops
    assert isinstance(partition, PartitionBy) and partition.field == "k"
    assert isinstance(distinct, Distinct) and isinstance(distinct.key, syntax.Name)
    assert isinstance(printed, Print) and len(printed.args) == 2
    assert isinstance(logged, Log) and logged.message is None and logged.data is not None
    assert isinstance(emit, Emit) and emit.as_type == "Alert"
    assert emit.origin.text == ".emit as Alert( level: 1, k )"
    assert (emit.origin.line, emit.origin.column) == (8, 5)


@pytest.mark.parametrize(
    ("args", "kind", "size", "slide"),
    [
        ("3", WindowKind.COUNT, 3, None),
        ("5, sliding: 2", WindowKind.SLIDING_COUNT, 5, 2),
        ("5s", WindowKind.TUMBLING_TIME, 5000, None),
        ("1m, sliding: 10s", WindowKind.SLIDING_TIME, 60000, 10000),
        ("session: 3s", WindowKind.SESSION, 3000, None),
    ],
)
def test_window_kinds(args: str, kind: WindowKind, size: int, slide: int | None) -> None:
    window = checked(f"stream S = E .window({args})\n").streams[0].ops[0]
    assert isinstance(window, Window)
    assert (window.kind, window.size, window.slide) == (kind, size, slide)


def test_merge_sources_and_filters() -> None:
    program = checked("""
        stream M = merge(
            stream S1 = Sensor .where(id == "S1") .where(t > 2),
            stream S2 = Sensor .where(id == "S2"),
            Other
        )
        """)
    first, second, third = program.streams[0].sources
    assert first.name == "Sensor"
    assert isinstance(first.filter, syntax.Binary) and first.filter.op is syntax.BinaryOp.AND
    assert isinstance(second.filter, syntax.Binary) and second.filter.op is syntax.BinaryOp.EQ
    assert (third.name, third.filter) == ("Other", None)


def test_aggregate_item_combining_calls() -> None:
    program = checked(
        "stream S = T .window(2)"
        " .aggregate(vwap: sum(p * v) / sum(v), r: round(avg(p)), pc: percentile(p, 90.5))\n"
    )
    aggregate = program.streams[0].ops[1]
    assert isinstance(aggregate, Aggregate)
    vwap, rounded, pc = aggregate.items
    assert [c.func for c in vwap.calls] == [AggFunc.SUM, AggFunc.SUM]
    assert [c.func for c in rounded.calls] == [AggFunc.AVG]
    assert pc.calls[0].param == 90.5


def test_warnings_are_sorted() -> None:
    program = checked("stream B = Y .where(x + 1)\nstream A = X .aggregate(n: count())\n")
    assert [d.code for d in program.warnings] == ["W030", "W060", "W030", "W001"]


def test_all_errors_collected_and_sorted() -> None:
    text = """
        stream S = E .having(x > 1)
        stream S = E .window(x)
        let a = 1
        a := 2
        stream T = E .frob()
        """
    found = diagnostics(text)
    errors = [d for d in found if d.is_error]
    assert [(d.code, d.span.line) for d in errors] == [
        ("E010", 1),
        ("E002", 2),
        ("E013", 2),
        ("E040", 4),
        ("E091", 5),
    ]
    assert found == sorted(found, key=lambda d: (d.span.line, d.span.column, not d.is_error))


# ---------------------------------------------------------------------------------------
# The conformance corpus


def _corpus(expect: str) -> list[object]:
    if not CORPUS.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"no corpus at {CORPUS}"))]
    marker = "expected_error.txt" if expect == "error" else "expected.jsonl"
    cases = sorted(p for p in CORPUS.iterdir() if (p / marker).is_file())
    return [pytest.param(case, id=case.name) for case in cases]


def _expected_error(case: Path) -> dict[str, str]:
    lines = (case / "expected_error.txt").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if ": " in line)


@pytest.mark.parametrize("case", _corpus("error"))
def test_conformance_error_cases(case: Path) -> None:
    expected = _expected_error(case)
    if expected["kind"] == "PARSE":
        pytest.skip("parse errors are the parser's")
    source = (case / "program.vpl").read_text()
    with pytest.raises(CompileError) as caught:
        check(parse(source, "program.vpl"), source, "program.vpl")
    lines = {int(expected["line"]), int(expected.get("statement_line", expected["line"]))}
    errors = [d for d in caught.value.diagnostics if d.is_error]
    assert any(d.code == expected["kind"] and d.span.line in lines for d in errors), errors


@pytest.mark.parametrize("case", _corpus("output"))
def test_conformance_output_cases_check(case: Path) -> None:
    source = (case / "program.vpl").read_text()
    program = check(parse(source, "program.vpl"), source, "program.vpl")
    assert program.streams


def test_undeclared_source_is_warned_once_at_its_first_use() -> None:
    # `b` reads `a`, so `a` is checked first; the warning still goes to the first use.
    text = (
        "stream b = a.emit(x)\n"
        "stream z = Req.emit(x)\n"
        "stream a = Req.emit(x)\n"
        "stream c = merge(Req, Other.where(x > 1))\n"
        "stream d = Other\n"
    )
    found = [(d.message.split("'")[1], at(d)) for d in checked(text).warnings if d.code == "W030"]
    assert found == [("Req", (2, 12)), ("Other", (4, 23))]

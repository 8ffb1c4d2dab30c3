"""Event data cannot exhaust memory (D33): builtins and operators that would allocate in
proportion to a value give MISSING past `MAX_ELEMENTS` elements or characters, and int
products past 127 bits are MISSING, so no float conversion or `to_string` overflows.

Each case runs through a generated module on hostile event values: no exception escapes,
and the emitted field is absent (MISSING), while a small value still works.
"""

from __future__ import annotations

from typing import Any

import pytest
from pipeline_helpers import run

from vpl_runtime.values import MAX_ELEMENTS

BIG = MAX_ELEMENTS + 1
LONG = "a" * 2_000
SEP = "-" * 100_000

# (expression, hostile fields, fields for which it still works, the value then)
CASES: list[tuple[str, dict[str, Any], dict[str, Any], Any]] = [
    ("len(range(n))", {"n": 10**15}, {"n": 3}, 3),
    ("len(range(m, n))", {"m": -(10**15), "n": 10**15}, {"m": 1, "n": 3}, 2),
    ("len(m..n)", {"m": 0, "n": BIG}, {"m": 0, "n": MAX_ELEMENTS}, MAX_ELEMENTS),
    ("len(m..=n)", {"m": 0, "n": MAX_ELEMENTS}, {"m": 1, "n": MAX_ELEMENTS}, MAX_ELEMENTS),
    ("len(range(n))", {"n": 9_223_372_036_854_775_807}, {"n": 0}, 0),
    ("len(join(range(n), s))", {"n": 20, "s": SEP}, {"n": 3, "s": "ab"}, 7),
    ("len(join(a, s))", {"a": [SEP] * 11, "s": ""}, {"a": ["x", 1], "s": ","}, 3),
    ("len(replace(s, o, r))", {"s": LONG, "o": "", "r": LONG}, {"s": "ab", "o": "", "r": "-"}, 5),
    ("len(replace(s, o, r))", {"s": LONG, "o": "a", "r": LONG}, {"s": "ab", "o": "a", "r": "xy"}, 3),
    ("x * x * x * x", {"x": 2**62}, {"x": 3}, 81),
    ("to_string(x * x * x * x * x)", {"x": -(2**63)}, {"x": 2}, "32"),
    ("sqrt(x * x * x * x * x * x)", {"x": 2**63 - 1}, {"x": 2}, 8.0),
    ("to_float(x * x * x * x * 1)", {"x": 2**62}, {"x": 2}, 16.0),
    ("to_int(s)", {"s": "9" * 5_000}, {"s": "-42"}, -42),
    ("x * x * x * x + 0.5", {"x": 2**62}, {"x": 1}, 1.5),
    ("x * x * x * x / 2.0", {"x": 2**62}, {"x": 2}, 8.0),
]


@pytest.mark.parametrize(("expr", "hostile", "ok", "value"), CASES, ids=[c[0] for c in CASES])
def test_hostile_values_give_missing_not_an_exception(
    expr: str, hostile: dict[str, Any], ok: dict[str, Any], value: Any
) -> None:
    source = f"stream S = T\n    .emit(v: {expr}, k: 1)\n"
    outputs = run(source, [("T", 0, hostile), ("T", 1, ok)])
    assert outputs == [("S", 0, {"k": 1}), ("S", 1, {"v": value, "k": 1})]


def test_constant_ranges_are_bounded_at_compile_time_too() -> None:
    source = f"let r = range({BIG})\nstream S = T\n    .emit(n: len(r), k: 1)\n"
    assert run(source, [("T", 0, {})]) == [("S", 0, {"k": 1})]


def test_integer_literal_past_2_to_the_63_is_a_positioned_error() -> None:
    # `int` refuses more than 4300 digits: this was a traceback from the compiler.
    from vplc.diagnostics import CompileError
    from vplc.frontend.parser import parse

    assert parse("let x = -9223372036854775808")
    for digits in ("9223372036854775809", "9" * 5_000):
        with pytest.raises(CompileError) as info:
            parse(f"let x = {digits}")
        d = info.value.diagnostics[0]
        assert (d.code, d.span.column, d.message) == (
            "PARSE", 9, "integer literal too large (more than 2**63)"
        )

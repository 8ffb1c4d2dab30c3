"""vpl_runtime builtin scalar functions (SEMANTICS §4 "Builtin scalar functions")."""

from __future__ import annotations

import inspect
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vpl_runtime import builtins as rt
from vpl_runtime.builtins import BUILTIN_ARITY, BUILTIN_IMPL
from vpl_runtime.values import MISSING

NAN = math.nan
INF = math.inf


def same(actual: Any, expected: Any) -> bool:
    """Equal with the same type (2 is not 2.0, True is not 1); NaN matches NaN."""
    if expected is MISSING or actual is MISSING:
        return actual is expected
    if type(actual) is not type(expected):
        return False
    if isinstance(expected, float) and math.isnan(expected):
        return math.isnan(actual)
    if isinstance(expected, list):
        return len(actual) == len(expected) and all(map(same, actual, expected))
    if isinstance(expected, dict):
        return actual.keys() == expected.keys() and all(
            same(actual[k], expected[k]) for k in expected
        )
    return bool(actual == expected)


def call(name: str, *args: Any) -> Any:
    """Call VPL builtin `name` the way generated code does, through the tables."""
    low, high = BUILTIN_ARITY[name]
    assert low <= len(args) <= high
    return getattr(rt, BUILTIN_IMPL[name])(*args)


# ---------------------------------------------------------------------------------------
# Tables

SPEC_BUILTINS = {
    "abs", "sqrt", "log", "log10", "exp", "sin", "cos", "tan", "floor", "ceil", "round",
    "pow", "min", "max",
    "len", "trim", "lower", "lowercase", "upper", "uppercase", "starts_with", "ends_with",
    "contains", "replace", "split", "join", "substring", "reverse", "to_string", "to_int",
    "to_float",
    "first", "last", "push", "pop", "sort", "keys", "values", "get", "set", "range", "sum",
    "avg",
    "type_of", "is_null", "is_int", "is_float", "is_string", "is_bool", "is_array", "is_map",
}  # fmt: skip
NOT_IMPLEMENTED = {
    "to_upper", "to_lower", "clamp", "concat", "unique", "flatten", "zip", "coalesce",
    "if_null", "format", "parse", "now", "timestamp", "uuid", "random",
}  # fmt: skip


def test_tables_list_exactly_the_spec_builtins() -> None:
    assert set(BUILTIN_ARITY) == SPEC_BUILTINS
    assert set(BUILTIN_IMPL) == SPEC_BUILTINS
    assert not NOT_IMPLEMENTED & set(BUILTIN_ARITY)


def test_aliases_share_one_function() -> None:
    assert BUILTIN_IMPL["lowercase"] == BUILTIN_IMPL["lower"] == "fn_lower"
    assert BUILTIN_IMPL["uppercase"] == BUILTIN_IMPL["upper"] == "fn_upper"
    assert BUILTIN_IMPL["abs"] == "fn_abs"


@pytest.mark.parametrize("name", sorted(SPEC_BUILTINS))
def test_arity_matches_the_python_signature(name: str) -> None:
    function = getattr(rt, BUILTIN_IMPL[name])
    params = inspect.signature(function).parameters.values()
    required = sum(1 for p in params if p.default is inspect.Parameter.empty)
    assert BUILTIN_ARITY[name] == (required, len(params))


@pytest.mark.parametrize(
    ("name", "arity"),
    [("abs", (1, 1)), ("pow", (2, 2)), ("substring", (2, 3)), ("range", (1, 2)), ("set", (3, 3))],
)
def test_some_arities(name: str, arity: tuple[int, int]) -> None:
    assert BUILTIN_ARITY[name] == arity


SAMPLE_ARGS: list[Any] = [3, 2.5, "ab", True, None, [1, "x"], {"k": 1}]


@pytest.mark.parametrize("name", sorted(SPEC_BUILTINS))
def test_missing_argument_gives_missing(name: str) -> None:
    low, high = BUILTIN_ARITY[name]
    for count in range(low, high + 1):
        for position in range(count):
            for filler in SAMPLE_ARGS:
                args = [filler] * count
                args[position] = MISSING
                assert call(name, *args) is MISSING, (name, args)


# ---------------------------------------------------------------------------------------
# Math


@pytest.mark.parametrize(
    ("name", "arg", "expected"),
    [
        ("abs", -3, 3),
        ("abs", 3, 3),
        ("abs", -2.5, 2.5),
        ("abs", -0.0, 0.0),
        ("sqrt", 16, 4.0),
        ("sqrt", 2.25, 1.5),
        ("sqrt", -1, NAN),
        ("sqrt", INF, INF),
        ("log", 1, 0.0),
        ("log", math.e, 1.0),
        ("log", 0, -INF),
        ("log", -1.0, NAN),
        ("log", INF, INF),
        ("log10", 1000, 3.0),
        ("log10", 0.0, -INF),
        ("log10", -5, NAN),
        ("exp", 0, 1.0),
        ("exp", 1.0, math.e),
        ("exp", 1000, INF),
        ("exp", -INF, 0.0),
        ("sin", 0, 0.0),
        ("sin", INF, NAN),
        ("cos", 0, 1.0),
        ("cos", -INF, NAN),
        ("tan", 0.0, 0.0),
        ("tan", INF, NAN),
        ("floor", 2.7, 2),
        ("floor", -2.2, -3),
        ("floor", 5, 5),
        ("floor", -0.5, -1),
        ("ceil", 2.2, 3),
        ("ceil", -2.7, -2),
        ("ceil", 5, 5),
        ("round", 2.5, 3),
        ("round", -2.5, -3),
        ("round", 0.5, 1),
        ("round", -0.5, -1),
        ("round", 1.4999, 1),
        ("round", 0.49999999999999994, 0),  # floor(x + 0.5) would give 1
        ("round", 2.4, 2),
        ("round", -2.6, -3),
        ("round", 4503599627370497.0, 4503599627370497),
        ("round", 7, 7),
        ("floor", 1e20, 100000000000000000000),
    ],
)
def test_math_functions(name: str, arg: Any, expected: Any) -> None:
    result = call(name, arg)
    if isinstance(expected, float) and not math.isnan(expected) and math.isfinite(expected):
        assert type(result) is float
        assert result == pytest.approx(expected, abs=1e-12)
    else:
        assert same(result, expected)


MATH_ONE = ["abs", "sqrt", "log", "log10", "exp", "sin", "cos", "tan", "floor", "ceil", "round"]


@pytest.mark.parametrize("name", MATH_ONE)
@pytest.mark.parametrize("bad", [True, False, "1", None, [1], {"k": 1}])
def test_math_functions_reject_non_numbers(name: str, bad: Any) -> None:
    assert call(name, bad) is MISSING


@pytest.mark.parametrize("name", ["floor", "ceil", "round"])
@pytest.mark.parametrize("bad", [NAN, INF, -INF])
def test_rounding_of_non_finite_is_missing(name: str, bad: float) -> None:
    assert call(name, bad) is MISSING


def test_float_results_of_math_on_ints_are_floats() -> None:
    for name in ("sqrt", "log", "log10", "exp", "sin", "cos", "tan"):
        assert type(call(name, 1)) is float


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [(2, 10, 1024), (2, -1, 0), (2.0, 3, 8.0), (9, 0.5, 3.0), (-8.0, 0.5, NAN), (2, "3", MISSING)],
)
def test_pow(a: Any, b: Any, expected: Any) -> None:
    assert same(call("pow", a, b), expected)


@pytest.mark.parametrize(
    ("name", "a", "b", "expected"),
    [
        ("min", 3, 5, 3),
        ("min", 5, 3, 3),
        ("min", 3, 5.0, 3.0),
        ("min", 2.5, 1, 1.0),
        ("min", 1.5, 2.5, 1.5),
        ("min", NAN, 2, 2.0),
        ("min", 2, NAN, 2.0),
        ("max", 3, 5, 5),
        ("max", 3.0, 5, 5.0),
        ("max", 7, 5.5, 7.0),
        ("max", NAN, 2.5, 2.5),
        ("max", 2.5, NAN, 2.5),
        ("min", True, 1, MISSING),
        ("max", "a", "b", MISSING),
        ("max", None, 1, MISSING),
    ],
)
def test_min_max(name: str, a: Any, b: Any, expected: Any) -> None:
    assert same(call(name, a, b), expected)


# ---------------------------------------------------------------------------------------
# Strings


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("len", ("héllo",), 5),  # code points, not UTF-8 bytes (D15)
        ("len", ("",), 0),
        ("len", ("日本",), 2),
        ("len", ([1, 2, 3],), 3),
        ("len", ({"a": 1, "b": 2},), 2),
        ("len", (12,), MISSING),
        ("len", (None,), MISSING),
        ("trim", ("  a b \t\n",), "a b"),
        ("trim", ("\u3000x\u00a0",), "x"),  # Unicode White_Space
        ("trim", ("\x1fx\x1f",), "\x1fx\x1f"),  # not White_Space, though Python's isspace
        ("trim", (1,), MISSING),
        ("lower", ("AbC É",), "abc é"),
        ("lowercase", ("XY",), "xy"),
        ("upper", ("abc é",), "ABC É"),
        ("uppercase", ("straße",), "STRASSE"),
        ("lower", (True,), MISSING),
        ("upper", (None,), MISSING),
        ("starts_with", ("hello", "he"), True),
        ("starts_with", ("hello", "lo"), False),
        ("starts_with", ("hello", ""), True),
        ("starts_with", ("hello", 1), MISSING),
        ("ends_with", ("hello", "lo"), True),
        ("ends_with", ("hello", "he"), False),
        ("ends_with", (["lo"], "lo"), MISSING),
        ("replace", ("a-b-c", "-", "+"), "a+b+c"),
        ("replace", ("aaa", "aa", "b"), "ba"),
        ("replace", ("ab", "", "-"), "-a-b-"),
        ("replace", ("ab", "a", 1), MISSING),
        ("split", ("a,b,,c", ","), ["a", "b", "", "c"]),
        ("split", ("abc", ","), ["abc"]),
        ("split", ("", ","), [""]),
        ("split", ("ab", ""), ["", "a", "b", ""]),  # Rust's split on ""
        ("split", ("a b", None), MISSING),
        ("join", (["a", "b"], "-"), "a-b"),
        ("join", ([1, 2.0, 2.5, True, None, "s"], ","), "1,2,2.5,true,null,s"),
        ("join", ([], ","), ""),
        ("join", ([[1, "a"]], ";"), '[1,"a"]'),
        ("join", ("ab", ","), MISSING),
        ("substring", ("hello", 1), "ello"),
        ("substring", ("hello", 1, 3), "el"),
        ("substring", ("héllo", 1, 2), "é"),
        ("substring", ("héllo", 2), "llo"),  # end defaults to the code-point length
        ("substring", ("hello", 0, 5), "hello"),
        ("substring", ("hello", 5), ""),
        ("substring", ("hello", 2, 2), ""),
        ("substring", ("hello", 6), MISSING),
        ("substring", ("hello", 0, 6), MISSING),
        ("substring", ("hello", 3, 2), MISSING),
        ("substring", ("hello", -1), MISSING),
        ("substring", ("hello", 1.0), MISSING),
        ("substring", ("hello", 0, None), MISSING),
        ("substring", ([1, 2], 0, 1), MISSING),
        ("reverse", ("héllo",), "olléh"),
        ("reverse", ([1, 2, 3],), [3, 2, 1]),
        ("reverse", ({"a": 1},), MISSING),
        ("contains", ("hello", "ell"), True),
        ("contains", ("hello", "xyz"), False),
        ("contains", ([1, 2], 2.0), True),  # D2 element equality, as `in`
        ("contains", ([1, 2], True), False),
        ("contains", ([None], None), True),
        ("contains", ({"k": 1}, "k"), True),
        ("contains", ({"k": 1}, "v"), False),
        ("contains", ("123", 1), MISSING),
        ("contains", (5, 5), MISSING),
    ],
)
def test_string_and_collection_functions(name: str, args: tuple[Any, ...], expected: Any) -> None:
    assert same(call(name, *args), expected)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("abc", "abc"),  # no quotes (D15)
        ("", ""),
        (42, "42"),
        (-1, "-1"),
        (2.0, "2"),  # Rust Display, like key rendering
        (2.5, "2.5"),
        (1e20, "100000000000000000000"),
        (1e-7, "0.0000001"),
        (NAN, "NaN"),
        (INF, "inf"),
        (True, "true"),
        (False, "false"),
        (None, "null"),
        ([1, "a", 2.0], '[1,"a",2]'),
        ({"k": [True]}, '{"k":[true]}'),
    ],
)
def test_to_string(value: Any, text: str) -> None:
    assert call("to_string", value) == text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (7, 7),
        (3.9, 3),
        (-3.9, -3),
        (NAN, 0),  # Rust `as i64`
        (INF, 2**63 - 1),
        (-INF, -(2**63)),
        (1e300, 2**63 - 1),
        ("12", 12),
        ("-12", -12),
        ("+12", 12),
        ("007", 7),
        ("9223372036854775807", 2**63 - 1),
        ("9223372036854775808", MISSING),  # out of i64
        ("1.5", MISSING),
        (" 12", MISSING),
        ("1_000", MISSING),
        ("١٢", MISSING),  # non-ASCII digits
        ("", MISSING),
        ("-", MISSING),
        ("abc", MISSING),
        (True, 1),
        (False, 0),
        (None, MISSING),
        ([1], MISSING),
    ],
)
def test_to_int(value: Any, expected: Any) -> None:
    assert same(call("to_int", value), expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (7, 7.0),
        (2.5, 2.5),
        ("2.5", 2.5),
        ("-2.5", -2.5),
        ("1e3", 1000.0),
        ("1E-2", 0.01),
        ("5", 5.0),
        ("5.", 5.0),
        (".5", 0.5),
        ("+.5e1", 5.0),
        ("inf", INF),
        ("-Infinity", -INF),
        ("NaN", NAN),
        ("", MISSING),
        (".", MISSING),
        ("e5", MISSING),
        (" 1.5", MISSING),
        ("1_0", MISSING),
        ("0x10", MISSING),
        ("abc", MISSING),
        (True, MISSING),
        (None, MISSING),
    ],
)
def test_to_float(value: Any, expected: Any) -> None:
    assert same(call("to_float", value), expected)


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_to_int_of_to_string_round_trips(n: int) -> None:
    assert call("to_int", call("to_string", n)) == n


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_to_float_of_to_string_round_trips(x: float) -> None:
    assert call("to_float", call("to_string", x)) == x


# ---------------------------------------------------------------------------------------
# Collections


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("first", ([4, 5, 6],), 4),
        ("first", ([],), MISSING),
        ("first", ("abc",), MISSING),
        ("last", ([4, 5, 6],), 6),
        ("last", ([None],), None),
        ("last", ([],), MISSING),
        ("push", ([1], 2), [1, 2]),
        ("push", ([], None), [None]),
        ("push", ("a", "b"), MISSING),
        ("pop", ([1, 2, 3],), [1, 2]),  # the shortened array, as the reference
        ("pop", ([1],), []),
        ("pop", ([],), MISSING),
        ("sort", ([3, 1, 2],), [1, 2, 3]),
        ("sort", ([2.5, 1, 2],), [1, 2, 2.5]),
        ("sort", ([3, NAN, 1],), [1, 3, NAN]),
        ("sort", (["b", "B", "a"],), ["B", "a", "b"]),
        ("sort", ([],), []),
        ("sort", ("cba",), MISSING),
        ("keys", ({"b": 1, "a": 2},), ["b", "a"]),
        ("keys", ({},), []),
        ("keys", ([1],), MISSING),
        ("values", ({"b": 1, "a": [2]},), [1, [2]]),
        ("values", ("ab",), MISSING),
        ("get", ([10, 20], 1), 20),
        ("get", ([10, 20], 2), MISSING),
        ("get", ([10, 20], -1), MISSING),  # no negative index, as the reference
        ("get", ([10, 20], True), MISSING),
        ("get", ({"k": 1}, "k"), 1),
        ("get", ({"k": None}, "k"), None),
        ("get", ({"k": 1}, "x"), MISSING),
        ("get", ("abc", 0), MISSING),
        ("set", ([1, 2], 0, 9), [9, 2]),
        ("set", ([1, 2], 5, 9), [1, 2]),  # out of range: unchanged copy
        ("set", ([1, 2], -1, 9), [1, 2]),
        ("set", ({"a": 1}, "b", 2), {"a": 1, "b": 2}),
        ("set", ({"a": 1}, "a", None), {"a": None}),
        ("set", ({"a": 1}, 1, 2), MISSING),
        ("set", ("abc", 0, "x"), MISSING),
        ("range", (3,), [0, 1, 2]),
        ("range", (0,), []),
        ("range", (-2,), []),
        ("range", (2, 5), [2, 3, 4]),
        ("range", (5, 2), []),
        ("range", (3.0,), MISSING),
        ("range", (1, "5"), MISSING),
        ("range", (True,), MISSING),
        ("sum", ([1, 2.5, "x", None, True],), 3.5),
        ("sum", ([1, 2],), 3.0),
        ("sum", ([],), 0.0),
        ("sum", ("12",), MISSING),
        ("avg", ([1, 2, "x"],), 1.5),
        ("avg", ([],), 0.0),
        ("avg", (["a", None],), 0.0),
        ("avg", ({"a": 1},), MISSING),
    ],
)
def test_collection_functions(name: str, args: tuple[Any, ...], expected: Any) -> None:
    assert same(call(name, *args), expected)


def test_sort_of_mixed_kinds_does_not_crash() -> None:
    result = call("sort", [2, "b", None, 1, "a", [0]])
    assert type(result) is list
    assert sorted(map(repr, result)) == sorted(map(repr, [2, "b", None, 1, "a", [0]]))


def test_collection_functions_do_not_mutate_their_arguments() -> None:
    arr = [3, 1, 2]
    mapping = {"a": 1}
    call("push", arr, 4)
    call("pop", arr)
    call("sort", arr)
    call("reverse", arr)
    call("set", arr, 0, 9)
    call("set", mapping, "b", 2)
    assert arr == [3, 1, 2]
    assert mapping == {"a": 1}


# ---------------------------------------------------------------------------------------
# Types


@pytest.mark.parametrize(
    ("value", "type_name", "predicate"),
    [
        (1, "int", "is_int"),
        (1.0, "float", "is_float"),
        ("1", "string", "is_string"),
        (True, "bool", "is_bool"),
        ([1], "array", "is_array"),
        ({"k": 1}, "map", "is_map"),
        (None, "null", "is_null"),
    ],
)
def test_type_functions(value: Any, type_name: str, predicate: str) -> None:
    assert call("type_of", value) == type_name
    for other in ("is_null", "is_int", "is_float", "is_string", "is_bool", "is_array", "is_map"):
        assert call(other, value) is (other == predicate)

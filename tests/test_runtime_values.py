"""vpl_runtime value semantics: MISSING, operators (SEMANTICS §4), keys (§7), aggregates (§7)."""

from __future__ import annotations

import copy
import itertools
import math
import operator
import pickle
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vpl_runtime.aggfns import (
    agg_avg,
    agg_batch_ema,
    agg_batch_stddev,
    agg_collect,
    agg_count_distinct,
    agg_max,
    agg_min,
    agg_number,
    agg_numbers,
    agg_percentile,
    agg_stddev,
    agg_sum,
    agg_value_or_null,
    agg_welford,
    ema_alpha,
)
from vpl_runtime.keys import event_key, key_of, key_text
from vpl_runtime.values import (
    MISSING,
    Missing,
    v_add,
    v_and,
    v_div,
    v_eq,
    v_ge,
    v_gt,
    v_in,
    v_index,
    v_le,
    v_lt,
    v_mod,
    v_mul,
    v_ne,
    v_neg,
    v_not,
    v_not_in,
    v_or,
    v_pow,
    v_range,
    v_slice,
    v_sub,
)

NAN = math.nan
INF = math.inf

# One value of every VPL type, plus MISSING.
SAMPLES: dict[str, Any] = {
    "int": 3,
    "float": 1.5,
    "str": "a",
    "bool": True,
    "null": None,
    "array": [1],
    "map": {"k": 1},
    "missing": MISSING,
}
NUMBER_KINDS = {"int", "float"}


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


# ---------------------------------------------------------------------------------------
# MISSING


def test_missing_repr_and_identity() -> None:
    assert repr(MISSING) == "MISSING"
    assert isinstance(MISSING, Missing)
    assert MISSING == MISSING


@pytest.mark.parametrize("other", [None, 0, False, "", [], {}, "MISSING", Missing()])
def test_missing_equals_nothing_else(other: Any) -> None:
    assert operator.ne(MISSING, other)  # MISSING on the left, then on the right
    assert other != MISSING


def test_missing_has_no_truth_value() -> None:
    with pytest.raises(TypeError):
        bool(MISSING)
    with pytest.raises(TypeError):
        if MISSING:  # pragma: no cover - the test is that this raises
            pass


def test_missing_is_not_orderable() -> None:
    with pytest.raises(TypeError):
        _ = MISSING < MISSING
    with pytest.raises(TypeError):
        _ = MISSING >= 1


def test_missing_survives_pickle_and_copy() -> None:
    assert pickle.loads(pickle.dumps(MISSING)) is MISSING
    assert pickle.loads(pickle.dumps([MISSING, {"k": MISSING}]))[1]["k"] is MISSING
    assert copy.copy(MISSING) is MISSING
    assert copy.deepcopy([MISSING])[0] is MISSING
    assert hash(MISSING) == hash(MISSING)


# ---------------------------------------------------------------------------------------
# Arithmetic


@pytest.mark.parametrize(
    ("op", "a", "b", "expected"),
    [
        (v_add, 2, 3, 5),
        (v_add, 2, 0.5, 2.5),
        (v_add, 0.5, 2, 2.5),
        (v_add, 0.25, 0.5, 0.75),
        (v_add, "ab", "cd", "abcd"),
        (v_add, "", "", ""),
        (v_sub, 2, 3, -1),
        (v_sub, 2.5, 1, 1.5),
        (v_sub, 1, 2.5, -1.5),
        (v_mul, 4, 5, 20),
        (v_mul, 4, 0.5, 2.0),
        (v_mul, 2, 3.0, 6.0),
        (v_div, 7, 2, 3),
        (v_div, 6, 3, 2),
        (v_div, 7.0, 2, 3.5),
        (v_div, 7, 2.0, 3.5),
        (v_div, 1.0, 4.0, 0.25),
        (v_mod, 7, 3, 1),
        (v_mod, 7.5, 2, 1.5),
        (v_mod, 7, 2.5, 2.0),
        (v_pow, 2, 10, 1024),
        (v_pow, 2, 0, 1),
        (v_pow, 2.0, 3, 8.0),
        (v_pow, 2, 0.5, math.sqrt(2)),
        (v_pow, 4.0, 0.5, 2.0),
    ],
)
def test_arithmetic_values(op: Any, a: Any, b: Any, expected: Any) -> None:
    assert same(op(a, b), expected)


@pytest.mark.parametrize(
    ("a", "b", "quotient", "remainder"),
    [
        (7, 2, 3, 1),
        (-7, 2, -3, -1),
        (7, -2, -3, 1),
        (-7, -2, 3, -1),
        (1, -2, 0, 1),
        (-1, 2, 0, -1),
        (-8, 2, -4, 0),
        (0, -5, 0, 0),
    ],
)
def test_int_division_truncates_and_remainder_takes_dividend_sign(
    a: int, b: int, quotient: int, remainder: int
) -> None:
    assert same(v_div(a, b), quotient)
    assert same(v_mod(a, b), remainder)


@pytest.mark.parametrize(
    ("a", "b", "expected"), [(-7.5, 2, -1.5), (7.5, -2, 1.5), (-7.5, -2.0, -1.5), (-6.0, 3, -0.0)]
)
def test_float_remainder_takes_dividend_sign(a: Any, b: Any, expected: float) -> None:
    r = v_mod(a, b)
    assert same(r, expected)
    assert math.copysign(1.0, r) == math.copysign(1.0, expected)


@pytest.mark.parametrize("op", [v_div, v_mod])
@pytest.mark.parametrize(("a", "b"), [(1, 0), (1.5, 0), (1, 0.0), (1.5, 0.0), (0, 0), (1, -0.0)])
def test_division_by_zero_is_missing(op: Any, a: Any, b: Any) -> None:
    assert op(a, b) is MISSING


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (2, -1, 0),
        (2, -2, 0),
        (-2, 3, -8),
        (-2, -1, 0),
        (10, 2, 100),
        (0, 0, 1),
        (3, 39, int(3.0**39)),  # float power, not exact integer power
        (10, 400, 2**63 - 1),  # overflow: saturated, must not crash
        (-10, 401, -(2**63)),
        (0, -1, 2**63 - 1),  # 0.0 ** -1 = inf, saturated like Rust `as i64`
    ],
)
def test_int_pow_is_truncated_float_power(a: int, b: int, expected: int) -> None:
    assert same(v_pow(a, b), expected)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (-8.0, 1 / 3, NAN),  # negative ** fractional: NaN like powf, never complex
        (-8, 0.5, NAN),
        (10.0, 400, INF),
        (-10.0, 401.0, -INF),
        (-10.0, 400.0, INF),
        (0.0, -1.0, INF),
        (-0.0, -1.0, -INF),
        (-0.0, -2.0, INF),
        (0.0, -0.5, INF),
        (2.0, -1, 0.5),
        (NAN, 0, 1.0),
    ],
)
def test_float_pow_follows_ieee(a: Any, b: Any, expected: float) -> None:
    assert same(v_pow(a, b), expected)


def test_unary_minus() -> None:
    assert same(v_neg(5), -5)
    assert same(v_neg(-2.5), 2.5)
    for bad in (True, "a", None, [1], {"k": 1}, MISSING):
        assert v_neg(bad) is MISSING


def test_float_arithmetic_overflow_and_nan() -> None:
    assert same(v_mul(1e308, 10), INF)
    assert same(v_div(1e308, 1e-10), INF)
    assert same(v_sub(INF, INF), NAN)
    assert same(v_mod(INF, 2), NAN)
    assert same(v_mod(5, INF), 5.0)
    assert same(v_div(NAN, 2), NAN)


ARITHMETIC = [v_add, v_sub, v_mul, v_div, v_mod, v_pow]


@pytest.mark.parametrize("op", ARITHMETIC)
@pytest.mark.parametrize(("ka", "kb"), list(itertools.product(SAMPLES, SAMPLES)))
def test_arithmetic_type_matrix(op: Any, ka: str, kb: str) -> None:
    result = op(SAMPLES[ka], SAMPLES[kb])
    if ka in NUMBER_KINDS and kb in NUMBER_KINDS:
        expected_type = int if ka == kb == "int" else float
        assert type(result) is expected_type
    elif op is v_add and ka == kb == "str":
        assert result == "aa"
    else:
        assert result is MISSING  # bools are not numbers; null and MISSING propagate


# ---------------------------------------------------------------------------------------
# Comparison (D2)


@pytest.mark.parametrize(
    ("a", "b", "eq"),
    [
        (5, 5.0, True),
        (5, 5.5, False),
        (1, "1", False),
        (True, 1, False),
        (False, 0, False),
        (True, True, True),
        (None, None, True),
        (None, 0, False),
        (None, "", False),
        ("a", "a", True),
        ("a", "b", False),
        ([1, "x"], [1.0, "x"], True),
        ([1], [1, 2], False),
        ([1], [True], False),
        ([[1, 2]], [[1.0, 2.0]], True),
        ({"a": 1, "b": [2]}, {"b": [2.0], "a": 1.0}, True),  # entry order ignored
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ({"a": 1}, {"b": 1}, False),
        ({"a": None}, {"b": None}, False),
        ([1], {"k": 1}, False),
        (NAN, NAN, False),
        ([NAN], [NAN], False),
        (0.0, -0.0, True),
    ],
)
def test_equality(a: Any, b: Any, eq: bool) -> None:
    assert v_eq(a, b) is eq
    assert v_eq(b, a) is eq
    assert v_ne(a, b) is (not eq)
    assert v_ne(b, a) is (not eq)


def test_equality_with_shared_nan_object() -> None:
    # Python's list `==` would call these equal through object identity.
    x = [NAN]
    assert v_eq(x, x) is False


@pytest.mark.parametrize("kind", list(SAMPLES))
def test_comparisons_with_missing_are_missing(kind: str) -> None:
    for op in (v_eq, v_ne, v_lt, v_le, v_gt, v_ge):
        assert op(SAMPLES[kind], MISSING) is MISSING
        assert op(MISSING, SAMPLES[kind]) is MISSING


@pytest.mark.parametrize(
    ("a", "b", "lt", "le", "gt", "ge"),
    [
        (1, 2, True, True, False, False),
        (2, 2, False, True, False, True),
        (150.0, 100, False, False, True, True),  # Ref gives MISSING for `>=` here (D2 fixes)
        (100, 100.0, False, True, False, True),
        (1, 1.5, True, True, False, False),
        ("a", "b", True, True, False, False),
        ("b", "a", False, False, True, True),
        ("a", "a", False, True, False, True),
        ("Z", "a", True, True, False, False),  # code point order
        ("é", "z", False, False, True, True),
        ("", "a", True, True, False, False),
        (NAN, 1, False, False, False, False),
        (-INF, -1e308, True, True, False, False),
    ],
)
def test_ordering(a: Any, b: Any, lt: bool, le: bool, gt: bool, ge: bool) -> None:
    assert v_lt(a, b) is lt
    assert v_le(a, b) is le
    assert v_gt(a, b) is gt
    assert v_ge(a, b) is ge


def test_big_int_against_float_compares_exactly() -> None:
    big = 2**53 + 1
    assert v_eq(big, float(2**53)) is False
    assert v_gt(big, float(2**53)) is True


@pytest.mark.parametrize("op", [v_lt, v_le, v_gt, v_ge])
@pytest.mark.parametrize(("ka", "kb"), list(itertools.product(SAMPLES, SAMPLES)))
def test_ordering_type_matrix(op: Any, ka: str, kb: str) -> None:
    result = op(SAMPLES[ka], SAMPLES[kb])
    orderable = (ka in NUMBER_KINDS and kb in NUMBER_KINDS) or ka == kb == "str"
    if orderable:
        assert type(result) is bool
    else:
        assert result is MISSING


@pytest.mark.parametrize(("ka", "kb"), list(itertools.product(SAMPLES, SAMPLES)))
def test_equality_type_matrix(ka: str, kb: str) -> None:
    result = v_eq(SAMPLES[ka], SAMPLES[kb])
    if "missing" in (ka, kb):
        assert result is MISSING
    elif ka == kb:
        assert result is True
    else:
        assert result is False  # 3 ≠ 1.5; any other mixed pair is unequal (D2)


# ---------------------------------------------------------------------------------------
# Logic


@pytest.mark.parametrize(("a", "b"), list(itertools.product([True, False], repeat=2)))
def test_logic_on_bools(a: bool, b: bool) -> None:
    assert v_and(a, b) is (a and b)
    assert v_or(a, b) is (a or b)
    assert v_not(a) is (not a)


@pytest.mark.parametrize("other", [1, 0, 1.0, "true", None, [True], {"k": True}, MISSING])
def test_logic_needs_bools_on_both_sides(other: Any) -> None:
    # No short circuit, no truthiness: `false and x` is MISSING when x is not a bool.
    for op in (v_and, v_or):
        assert op(False, other) is MISSING
        assert op(True, other) is MISSING
        assert op(other, True) is MISSING
        assert op(other, False) is MISSING
    assert v_not(other) is MISSING


# ---------------------------------------------------------------------------------------
# Membership and access


@pytest.mark.parametrize(
    ("a", "container", "expected"),
    [
        (1, [1, 2], True),
        (1.0, [1, 2], True),
        (2, [1.0, 2.0], True),
        (1, [True], False),
        (True, [1], False),
        (True, [False, True], True),
        ("1", [1], False),
        ("a", ["a", "b"], True),
        (None, [None], True),
        (None, [0, ""], False),
        ([1], [[1.0], 2], True),
        ({"k": 1}, [{"k": 1.0}], True),
        (NAN, [NAN], False),
        (3, [], False),
        ("ell", "hello", True),
        ("", "hello", True),
        ("xyz", "hello", False),
        ("k", {"k": 1}, True),
        ("v", {"k": "v"}, False),
    ],
)
def test_membership(a: Any, container: Any, expected: bool) -> None:
    assert v_in(a, container) is expected
    assert v_not_in(a, container) is (not expected)


@pytest.mark.parametrize(
    ("a", "container"),
    [
        (1, "123"),  # substring needs a string on the left
        (1, {"1": 1}),  # map keys are strings
        (1, 1),
        ("a", None),
        (MISSING, [MISSING]),
        (MISSING, "abc"),
        ("a", MISSING),
        (1, MISSING),
    ],
)
def test_membership_missing(a: Any, container: Any) -> None:
    assert v_in(a, container) is MISSING
    assert v_not_in(a, container) is MISSING


@pytest.mark.parametrize(
    ("target", "index", "expected"),
    [
        ([10, 20, 30], 0, 10),
        ([10, 20, 30], 2, 30),
        ([10, 20, 30], -1, 30),
        ([10, 20, 30], -3, 10),
        ([10, 20, 30], 3, MISSING),
        ([10, 20, 30], -4, MISSING),
        ([], 0, MISSING),
        ([10, 20], True, MISSING),
        ([10, 20], 1.0, MISSING),
        ([10, 20], "0", MISSING),
        ({"k": 1, "n": None}, "k", 1),
        ({"k": 1, "n": None}, "n", None),
        ({"k": 1}, "x", MISSING),
        ({"1": 1}, 1, MISSING),
        ("héllo", 1, "é"),
        ("héllo", -1, "o"),
        ("héllo", 5, MISSING),
        ("abc", 0.0, MISSING),
        (None, 0, MISSING),
        (5, 0, MISSING),
        (MISSING, 0, MISSING),
        ([1], MISSING, MISSING),
    ],
)
def test_index(target: Any, index: Any, expected: Any) -> None:
    assert same(v_index(target, index), expected)


@pytest.mark.parametrize(
    ("target", "start", "end", "expected"),
    [
        ([1, 2, 3, 4], 1, 3, [2, 3]),
        ([1, 2, 3, 4], None, 2, [1, 2]),
        ([1, 2, 3, 4], 2, None, [3, 4]),
        ([1, 2, 3, 4], None, None, [1, 2, 3, 4]),
        ([1, 2, 3, 4], -2, None, [3, 4]),
        ([1, 2, 3, 4], None, -1, [1, 2, 3]),
        ([1, 2, 3, 4], 1, 100, [2, 3, 4]),
        ([1, 2, 3, 4], -100, 2, [1, 2]),
        ([1, 2, 3, 4], 3, 1, []),
        ("héllo", 1, 3, "él"),
        ("héllo", -3, None, "llo"),
        ("abc", 5, 9, ""),
        ("abc", 1.0, None, MISSING),
        ("abc", None, True, MISSING),
        ("abc", MISSING, None, MISSING),
        ({"a": 1}, 0, 1, MISSING),
        (12345, 0, 1, MISSING),
        (MISSING, 0, 1, MISSING),
    ],
)
def test_slice(target: Any, start: Any, end: Any, expected: Any) -> None:
    assert same(v_slice(target, start, end), expected)


def test_slice_returns_a_copy() -> None:
    original = [1, 2, 3]
    result = v_slice(original, None, None)
    assert result == original
    assert result is not original


@pytest.mark.parametrize(
    ("a", "b", "inclusive", "expected"),
    [
        (0, 3, False, [0, 1, 2]),
        (0, 3, True, [0, 1, 2, 3]),
        (3, 3, False, []),
        (3, 3, True, [3]),
        (5, 2, True, []),
        (-2, 1, False, [-2, -1, 0]),
        (0, 3.0, False, MISSING),
        (0.0, 3, True, MISSING),
        (True, 3, False, MISSING),
        ("0", 3, False, MISSING),
        (MISSING, 3, False, MISSING),
    ],
)
def test_range(a: Any, b: Any, inclusive: bool, expected: Any) -> None:
    assert same(v_range(a, b, inclusive), expected)


# ---------------------------------------------------------------------------------------
# Properties


I64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@given(a=I64, b=I64.filter(lambda b: b != 0))
def test_int_division_identity(a: int, b: int) -> None:
    q = v_div(a, b)
    r = v_mod(a, b)
    assert a == q * b + r
    assert abs(r) < abs(b)
    assert r == 0 or (r < 0) == (a < 0)
    assert abs(q) == abs(a) // abs(b)  # truncated toward zero


@given(st.integers(min_value=-(2**53), max_value=2**53))
def test_key_of_int_equals_key_of_float(x: int) -> None:
    assert key_of(x) == key_of(float(x))
    assert hash(key_of(x)) == hash(key_of(float(x)))
    assert key_text(x) == key_text(float(x))
    assert v_eq(x, float(x)) is True


SCALARS = st.one_of(
    st.integers(min_value=-(2**60), max_value=2**60),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.booleans(),
    st.none(),
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.text(max_size=3), children, max_size=3),
    ),
    max_leaves=8,
)


@given(VALUES, VALUES)
def test_key_equality_matches_value_equality(a: Any, b: Any) -> None:
    # Without NaN, two values are one key exactly when `==` (D2) holds.
    assert (key_of(a) == key_of(b)) is v_eq(a, b)


@given(VALUES)
def test_key_of_is_hashable_and_stable(v: Any) -> None:
    assert hash(key_of(v)) == hash(key_of(copy.deepcopy(v)))
    assert pickle.loads(pickle.dumps(key_of(v))) == key_of(v)


# ---------------------------------------------------------------------------------------
# Keys


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (1, 1.0),
        (0, -0.0),
        (-3, -3.0),
        (None, None),
        (MISSING, MISSING),
        (NAN, float("nan")),
        ([1, 2.0], [1.0, 2]),
        ({"a": 1, "b": 2}, {"b": 2.0, "a": 1}),
        ("x", "x"),
        (True, True),
    ],
)
def test_same_key(a: Any, b: Any) -> None:
    assert key_of(a) == key_of(b)
    assert hash(key_of(a)) == hash(key_of(b))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("1", 1),
        (True, 1),
        (False, 0),
        (True, "true"),
        (None, "null"),
        (None, MISSING),
        (MISSING, "default"),
        (1.5, 1),
        ([1], 1),
        ([1], (1,)),
        ([True], [1]),
        ([], {}),
        ({"a": 1}, [["a", 1]]),
        (NAN, "nan"),
        (INF, -INF),
        (INF, 2**1024),
    ],
)
def test_different_keys(a: Any, b: Any) -> None:
    assert key_of(a) != key_of(b)


def test_common_keys_are_cheap() -> None:
    s = "symbol"
    assert key_of(s) is s
    assert key_of(12) == 12
    assert type(key_of(12.0)) is int
    assert key_of(2.5) == 2.5


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("abc", "abc"),
        ("", ""),
        (42, "42"),
        (-7, "-7"),
        (2.0, "2"),
        (2.5, "2.5"),
        (-0.5, "-0.5"),
        (0.1, "0.1"),
        (1e20, "100000000000000000000"),
        (1.5e-7, "0.00000015"),
        (1e16, "10000000000000000"),
        (123456789.125, "123456789.125"),
        (-1.25e21, "-1250000000000000000000"),
        (INF, "inf"),
        (-INF, "-inf"),
        (NAN, "NaN"),
        (True, "true"),
        (False, "false"),
        (None, "null"),
        (MISSING, "default"),
        ([1, "a"], '[1,"a"]'),
        ([], "[]"),
        ([2.0, 2.5, None, True, [NAN]], "[2,2.5,null,true,[null]]"),
        ({"k": 1, "é": '"q"'}, '{"k":1,"é":"\\"q\\""}'),
        ({}, "{}"),
    ],
)
def test_key_text(value: Any, text: str) -> None:
    assert key_text(value) == text


def test_event_key_ignores_field_order() -> None:
    a = event_key({"x": 1, "y": "s"})
    assert a == event_key({"y": "s", "x": 1.0})
    assert a != event_key({"x": 1, "y": "s", "z": None})
    assert a != event_key({"x": "1", "y": "s"})
    assert event_key({}) == event_key({})
    assert hash(event_key({"x": [1]})) == hash(event_key({"x": [1.0]}))


# ---------------------------------------------------------------------------------------
# Aggregates


@pytest.mark.parametrize(
    ("value", "counts"),
    [
        (1, True),
        (0, True),
        (1.5, True),
        (INF, True),
        (NAN, False),
        (True, False),
        (None, False),
        ("1", False),
        (MISSING, False),
        ([1], False),
    ],
)
def test_agg_number(value: Any, counts: bool) -> None:
    assert agg_number(value) is counts


BATCH = [None, 10.0, MISSING, "x", True, 30, NAN, 20.0]


def test_batch_numeric_aggregates_skip_non_numbers() -> None:
    assert agg_numbers(BATCH) == [10.0, 30.0, 20.0]
    assert same(agg_sum(BATCH), 60.0)
    assert same(agg_avg(BATCH), 20.0)
    assert same(agg_min(BATCH), 10.0)
    assert same(agg_max(BATCH), 30.0)
    assert same(agg_batch_stddev(BATCH), 10.0)


def test_batch_aggregates_of_ints_are_floats() -> None:
    assert same(agg_sum([3, 1, 2]), 6.0)
    assert same(agg_avg([3, 1, 2]), 2.0)
    assert same(agg_min([3, 1, 2]), 1.0)
    assert same(agg_max([3, 1, 2]), 3.0)


@pytest.mark.parametrize("empty", [[], [None, MISSING, "a", NAN, False]])
def test_batch_aggregates_without_numbers(empty: list[Any]) -> None:
    assert same(agg_sum(empty), 0.0)
    assert agg_avg(empty) is None
    assert agg_min(empty) is None
    assert agg_max(empty) is None
    assert agg_batch_stddev(empty) is None
    assert agg_batch_ema(empty, 3) is None
    assert agg_percentile(agg_numbers(empty), 50) is None


def test_sum_adds_left_to_right_without_compensation() -> None:
    # Compensated summation (Python 3.12's sum, math.fsum) would give 2.0.
    assert agg_sum([1e16, 1.0, 1.0, -1e16]) == 0.0


def test_stddev_conformance_values() -> None:
    assert agg_batch_stddev([10.0, 20.0, 30.0]) == pytest.approx(10.0, abs=1e-9)
    assert agg_batch_stddev([10.0, 30.0]) == pytest.approx(14.142135623730951, abs=1e-9)
    assert agg_batch_stddev([42.0]) is None
    assert same(agg_batch_stddev([5, 5, 5]), 0.0)


def welford(values: list[float]) -> tuple[int, float, float]:
    n, mean, m2 = 0, 0.0, 0.0
    for x in values:
        n, mean, m2 = agg_welford(n, mean, m2, x)
    return n, mean, m2


def test_incremental_stddev() -> None:
    n, mean, m2 = welford([10.0, 20.0, 30.0])
    assert (n, mean) == (3, 20.0)
    assert agg_stddev(n, m2) == pytest.approx(10.0, abs=1e-12)
    n, _, m2 = welford([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0])
    assert agg_stddev(n, m2) == pytest.approx(math.sqrt(32 / 7), abs=1e-12)
    assert agg_stddev(1, 0.0) is None
    assert agg_stddev(0, 0.0) is None
    assert same(agg_stddev(2, -1e-18), 0.0)


@given(st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=2, max_size=30))
def test_incremental_and_batch_stddev_agree(xs: list[float]) -> None:
    n, _, m2 = welford(xs)
    assert agg_stddev(n, m2) == pytest.approx(agg_batch_stddev(xs), rel=1e-6, abs=1e-6)


def test_ema() -> None:
    assert ema_alpha(3) == 0.5
    assert ema_alpha(1) == 1.0
    assert ema_alpha(9) == 0.2
    # SEMANTICS conformance case 042: 100..140 with n = 3.
    assert agg_batch_ema([100.0, 110.0, 120.0, 130.0, 140.0], 3) == pytest.approx(130.625)
    assert same(agg_batch_ema([None, 7, "x"], 5), 7.0)
    assert same(agg_batch_ema([MISSING, 4, 8], 3), 6.0)


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        # Hand-computed with numpy's "linear" method: index = (n-1)·p/100.
        ([10, 40, 20, 50, 30], 50, 30.0),
        ([10, 40, 20, 50, 30], 90, 46.0),  # index 3.6: 40 + 0.6·10
        ([10, 40, 20, 50, 30], 0, 10.0),
        ([10, 40, 20, 50, 30], 100, 50.0),
        ([10, 40, 20, 50, 30], 25, 20.0),
        ([1, 2, 3, 4], 50, 2.5),  # index 1.5
        ([1, 2, 3, 4], 10, 1.3),  # index 0.3
        ([1, 2, 3, 4], 75, 3.25),  # index 2.25
        ([1, 2, 3, 4], 95, 3.85),  # index 2.85
        ([15, 20, 35, 40, 50], 40, 29.0),  # index 1.6: 20 + 0.6·15
        ([7], 0, 7.0),
        ([7], 63, 7.0),
        ([3.5, -1.0], 50, 1.25),
        ([2, 2, 2], 33, 2.0),
    ],
)
def test_percentile_numpy_linear(values: list[Any], p: float, expected: float) -> None:
    result = agg_percentile(values, p)
    assert type(result) is float
    assert result == pytest.approx(expected, abs=1e-12)


def test_percentile_edge_cases() -> None:
    assert agg_percentile([], 50) is None
    assert agg_percentile([1, 2], -1) is None
    assert agg_percentile([1, 2], 100.5) is None
    assert agg_percentile([1, 2], NAN) is None
    assert agg_percentile([0.1, 0.7], 100) == 0.7
    values = [3, 1, 2]
    agg_percentile(values, 50)
    assert values == [3, 1, 2]  # input not sorted in place


def test_count_distinct() -> None:
    values = ["A", "B", "A", "C", "B", "A", MISSING]
    assert agg_count_distinct(values) == 3
    assert agg_count_distinct([1, 1.0, "1", True, None, None, MISSING]) == 4
    assert agg_count_distinct([[1], [1.0], {"a": 1}]) == 2
    assert agg_count_distinct([]) == 0
    assert agg_count_distinct([MISSING, MISSING]) == 0


def test_collect_and_first_last() -> None:
    assert agg_collect([10, MISSING, None, 20.0, "x"]) == [10, None, 20.0, "x"]
    assert agg_collect([]) == []
    assert agg_value_or_null(MISSING) is None
    assert agg_value_or_null(None) is None
    assert agg_value_or_null(3) == 3

"""VPL value semantics: the MISSING sentinel and every operator (SEMANTICS §4).

VPL values are plain Python objects: `int` (i64), `float` (f64), `str`, `bool`, `None`
(null), `list` (array) and `dict` (map, str keys). `bool` is never a number here, so every
type test is `type(x) is int`, not `isinstance`. An operator that does not apply to its
operands returns `MISSING` (the reference's `None`), and MISSING propagates through all of
them. These functions run once per event and operator: they test exact types in the order
of the common cases and allocate nothing they do not return.
"""

from __future__ import annotations

import math
from typing import Any, NoReturn

# A VPL value (see the module docstring for the Python types that represent one).
Value = Any


class Missing:
    """Type of `MISSING`, the "no value" result; use the `MISSING` instance, never another.

    It equals only itself (identity), cannot be ordered, and refuses truthiness so that an
    accidental `if value:` on a VPL value fails loudly instead of guessing.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> NoReturn:
        raise TypeError("MISSING has no truth value; compare with `is MISSING`")

    # One instance per process: pickling (process backend) and copying keep identity.
    def __reduce__(self) -> str:
        return "MISSING"

    def __copy__(self) -> Missing:
        return self

    def __deepcopy__(self, memo: object) -> Missing:
        return self


MISSING: Any = Missing()

_I64_MAX = 2**63 - 1
_I64_MIN = -(2**63)
# Floats at or beyond these bounds saturate when cast to i64 (Rust `as i64`).
_I64_CEIL = 9.223372036854775807e18
# Values that would take memory in proportion to an operand are MISSING past these (D33):
# `a..b` longer than this many elements; an int product past this many bits (i64 overflow is
# unspecified; keeping ints this small keeps every float conversion and `to_string` finite).
MAX_ELEMENTS = 1_000_000
_MAX_INT_BITS = 127
_INF = math.inf
_NAN = math.nan


# ---------------------------------------------------------------------------------------
# Arithmetic


def v_add(a: Value, b: Value) -> Value:
    """`a + b`: numbers (int+int → int, else float) or string concatenation."""
    ta = type(a)
    tb = type(b)
    if ta is int or ta is float:
        if tb is int or tb is float:
            try:
                return a + b
            except OverflowError:  # an int beyond f64 plus a float
                return MISSING
    elif ta is str and tb is str:
        return a + b
    return MISSING


def v_sub(a: Value, b: Value) -> Value:
    """`a - b` on numbers."""
    ta = type(a)
    tb = type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        try:
            return a - b
        except OverflowError:  # an int beyond f64 minus a float
            return MISSING
    return MISSING


def v_mul(a: Value, b: Value) -> Value:
    """`a * b` on numbers; an int product past 127 bits is MISSING (D33)."""
    ta = type(a)
    tb = type(b)
    if ta is int and tb is int:
        r = a * b
        return r if r.bit_length() <= _MAX_INT_BITS else MISSING
    if (ta is int or ta is float) and (tb is int or tb is float):
        try:
            return a * b
        except OverflowError:  # an int beyond f64 times a float
            return MISSING
    return MISSING


def v_div(a: Value, b: Value) -> Value:
    """`a / b`: int/int truncates toward zero (Rust); by zero (0 or 0.0) → MISSING."""
    ta = type(a)
    tb = type(b)
    if ta is int and tb is int:
        if b == 0:
            return MISSING
        q = a // b
        # Python floors; Rust truncates: they differ for an inexact negative quotient.
        if q < 0 and q * b != a:
            q += 1
        return q
    if (ta is int or ta is float) and (tb is int or tb is float):
        if b == 0:
            return MISSING
        try:
            return a / b
        except OverflowError:  # an int beyond f64 and a float
            return MISSING
    return MISSING


def v_mod(a: Value, b: Value) -> Value:
    """`a % b` with the sign of the dividend (Rust); by zero (0 or 0.0) → MISSING."""
    ta = type(a)
    tb = type(b)
    if ta is int and tb is int:
        if b == 0:
            return MISSING
        r = a % b
        # Python's remainder takes the divisor's sign; move it to the dividend's.
        if r != 0 and (r < 0) != (a < 0):
            r -= b
        return r
    if (ta is int or ta is float) and (tb is int or tb is float):
        if b == 0:
            return MISSING
        try:
            return math.fmod(a, b)
        except ValueError:  # fmod(±inf, y): NaN in Rust
            return _NAN
        except OverflowError:  # an int beyond f64 and a float
            return MISSING
    return MISSING


def _odd_integer(y: float) -> bool:
    return math.isfinite(y) and abs(math.fmod(y, 2.0)) == 1.0


def _powf(x: float, y: float) -> float:
    """IEEE `pow` (Rust `powf`): math.pow raises where C returns inf or NaN."""
    try:
        return math.pow(x, y)
    except OverflowError:
        return -_INF if x < 0 and _odd_integer(y) else _INF
    except ValueError:
        if x == 0:  # 0 ** negative: ±inf
            return math.copysign(_INF, x) if _odd_integer(y) else _INF
        return _NAN  # negative ** fractional


def _f64_to_i64(f: float) -> int:
    """Rust `f as i64`: truncate toward zero, saturate at the i64 bounds, NaN → 0."""
    if f != f:
        return 0
    if f >= _I64_CEIL:
        return _I64_MAX
    if f <= -_I64_CEIL:
        return _I64_MIN
    return int(f)


def v_pow(a: Value, b: Value) -> Value:
    """`a ** b`: int ** int is the float power truncated toward zero (`2 ** -1` → 0)."""
    ta = type(a)
    tb = type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        try:
            x = float(a)
            y = float(b)
        except OverflowError:  # an int beyond f64 (only after unspecified overflow)
            return MISSING
        r = _powf(x, y)
        if ta is int and tb is int:
            return _f64_to_i64(r)
        return r
    return MISSING


def v_neg(a: Value) -> Value:
    """Unary `-` on a number."""
    ta = type(a)
    if ta is int or ta is float:
        return -a
    return MISSING


# ---------------------------------------------------------------------------------------
# Comparison (DECISION D2)


def v_eq(a: Value, b: Value) -> Value:
    """`a == b`: numbers numerically, arrays/maps structurally, other mixed types false."""
    ta = type(a)
    tb = type(b)
    if ta is tb:
        if ta is list:
            if len(a) != len(b):
                return False
            return all(v_eq(x, y) is True for x, y in zip(a, b, strict=True))
        if ta is dict:
            if len(a) != len(b):
                return False
            for k, x in a.items():
                y = b.get(k, MISSING)
                if y is MISSING or v_eq(x, y) is not True:
                    return False
            return True
        if a is MISSING:
            return MISSING
        return a == b  # int, float (IEEE: NaN ≠ NaN), str, bool, None
    if (ta is int and tb is float) or (ta is float and tb is int):
        # Python compares exactly; Rust converts the int to f64 first: same for |int| ≤ 2**53.
        return a == b
    if a is MISSING or b is MISSING:
        return MISSING
    return False


def v_ne(a: Value, b: Value) -> Value:
    """`a != b`: the negation of `==` (MISSING stays MISSING)."""
    r = v_eq(a, b)
    if r is MISSING:
        return MISSING
    return not r


def v_lt(a: Value, b: Value) -> Value:
    """`a < b`: numbers numerically, two strings by code point, else MISSING."""
    ta = type(a)
    tb = type(b)
    if ((ta is int or ta is float) and (tb is int or tb is float)) or (ta is str and tb is str):
        return a < b
    return MISSING


def v_le(a: Value, b: Value) -> Value:
    """`a <= b`: numbers numerically, two strings by code point, else MISSING."""
    ta = type(a)
    tb = type(b)
    if ((ta is int or ta is float) and (tb is int or tb is float)) or (ta is str and tb is str):
        return a <= b
    return MISSING


def v_gt(a: Value, b: Value) -> Value:
    """`a > b`: numbers numerically, two strings by code point, else MISSING."""
    ta = type(a)
    tb = type(b)
    if ((ta is int or ta is float) and (tb is int or tb is float)) or (ta is str and tb is str):
        return a > b
    return MISSING


def v_ge(a: Value, b: Value) -> Value:
    """`a >= b`: numbers numerically, two strings by code point, else MISSING."""
    ta = type(a)
    tb = type(b)
    if ((ta is int or ta is float) and (tb is int or tb is float)) or (ta is str and tb is str):
        return a >= b
    return MISSING


# ---------------------------------------------------------------------------------------
# Logic: both operands are always evaluated; no truthiness.


def v_and(a: Value, b: Value) -> Value:
    """`a and b` on two bools, else MISSING."""
    if type(a) is bool and type(b) is bool:
        return a and b
    return MISSING


def v_or(a: Value, b: Value) -> Value:
    """`a or b` on two bools, else MISSING."""
    if type(a) is bool and type(b) is bool:
        return a or b
    return MISSING


def v_not(a: Value) -> Value:
    """`not a` on a bool, else MISSING (DECISION D1)."""
    if type(a) is bool:
        return not a
    return MISSING


# ---------------------------------------------------------------------------------------
# Membership and access


def v_in(a: Value, container: Value) -> Value:
    """`a in container`: array element (D2 equality), substring, or map key."""
    tc = type(container)
    if a is MISSING:
        return MISSING
    if tc is list:
        ta = type(a)
        # Python `in` is right for str and null; numbers need D2 (True is not 1, NaN ≠ NaN).
        if ta is str or a is None:
            return a in container
        return any(v_eq(a, item) is True for item in container)
    if (tc is str or tc is dict) and type(a) is str:
        return a in container
    return MISSING


def v_not_in(a: Value, container: Value) -> Value:
    """`a not in container`: the negation of `in` (MISSING stays MISSING)."""
    r = v_in(a, container)
    if r is MISSING:
        return MISSING
    return not r


def v_index(target: Value, i: Value) -> Value:
    """`target[i]`: array or string (int index, negative from the end) or map (str key)."""
    tt = type(target)
    if tt is dict:
        if type(i) is str:
            return target.get(i, MISSING)
        return MISSING
    if (tt is list or tt is str) and type(i) is int:
        n = len(target)
        if -n <= i < n:
            return target[i]
    return MISSING


def v_slice(target: Value, start: Value, end: Value) -> Value:
    """`target[start:end]` on an array or string; `None` is an omitted bound.

    Bounds are ints, negative ones counting from the end, clamped like Python slicing.
    """
    tt = type(target)
    if tt is not list and tt is not str:
        return MISSING
    if (start is not None and type(start) is not int) or (end is not None and type(end) is not int):
        return MISSING
    return target[start:end]


def v_range(a: Value, b: Value, inclusive: bool) -> Value:
    """`a..b` / `a..=b`: the list of ints between two int bounds, else MISSING."""
    if type(a) is int and type(b) is int:
        end = b + 1 if inclusive else b
        return list(range(a, end)) if end - a <= MAX_ELEMENTS else MISSING
    return MISSING

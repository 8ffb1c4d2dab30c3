"""Builtin scalar functions of VPL (SEMANTICS §4 "Builtin scalar functions").

`fn_<name>` implements the VPL function `<name>`; `BUILTIN_ARITY` and `BUILTIN_IMPL` tell the
compiler which names exist, how many arguments each takes and which Python function to call
(aliases share one). A call with a bad arity never reaches these functions: the compiler
makes it MISSING. A wrong argument type, or a MISSING argument, gives MISSING. Behaviour
follows the reference evaluator except where a DECISION (D2, D15) or the notes say otherwise.
"""

from __future__ import annotations

import math
import re
from functools import cmp_to_key

from vpl_runtime.keys import key_text
from vpl_runtime.values import MAX_ELEMENTS, MISSING, Value, v_in, v_pow

# Default of optional parameters: distinct from null (None) and from MISSING.
_ABSENT: Value = object()
# Rust `char::is_whitespace` (Unicode White_Space); Python's `isspace` also has U+001C..1F.
_WHITESPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# What Rust's `str::parse::<i64>` / `::<f64>` accept (ASCII only, no spaces, no `_`).
_INT_RE = re.compile(r"[+-]?[0-9]+")
_FLOAT_RE = re.compile(
    r"[+-]?(?:[0-9]+\.?[0-9]*(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?"
    r"|(?i:inf|infinity|nan))"
)
_I64_MIN = -(2**63)
_I64_MAX = 2**63 - 1
_TYPE_NAMES: dict[type, str] = {
    int: "int",
    float: "float",
    str: "string",
    bool: "bool",
    list: "array",
    dict: "map",
    type(None): "null",
}


def _number(a: Value) -> float | None:
    """`a` as a float if it is an int or float (not bool), else None."""
    t = type(a)
    if t is float:
        return a  # type: ignore[no-any-return]
    if t is int:
        try:
            return float(a)
        except OverflowError:  # an int beyond f64: not a number a float function can take
            return None
    return None


# ---------------------------------------------------------------------------------------
# Math


def fn_abs(a: Value) -> Value:
    """`abs(x)`: int → int, float → float."""
    t = type(a)
    if t is int or t is float:
        return abs(a)
    return MISSING


def fn_sqrt(a: Value) -> Value:
    """`sqrt(x)` → float (negative → NaN, as Rust)."""
    x = _number(a)
    if x is None:
        return MISSING
    return math.sqrt(x) if not x < 0 else math.nan


def fn_log(a: Value) -> Value:
    """`log(x)`: natural logarithm → float (0 → -inf, negative → NaN, as Rust)."""
    x = _number(a)
    if x is None:
        return MISSING
    if x > 0 or x != x:
        return math.log(x)
    return -math.inf if x == 0 else math.nan


def fn_log10(a: Value) -> Value:
    """`log10(x)` → float (0 → -inf, negative → NaN, as Rust)."""
    x = _number(a)
    if x is None:
        return MISSING
    if x > 0 or x != x:
        return math.log10(x)
    return -math.inf if x == 0 else math.nan


def fn_exp(a: Value) -> Value:
    """`exp(x)` → float (overflow → inf)."""
    x = _number(a)
    if x is None:
        return MISSING
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def fn_sin(a: Value) -> Value:
    """`sin(x)` → float (±inf → NaN)."""
    x = _number(a)
    if x is None:
        return MISSING
    return math.sin(x) if not math.isinf(x) else math.nan


def fn_cos(a: Value) -> Value:
    """`cos(x)` → float (±inf → NaN)."""
    x = _number(a)
    if x is None:
        return MISSING
    return math.cos(x) if not math.isinf(x) else math.nan


def fn_tan(a: Value) -> Value:
    """`tan(x)` → float (±inf → NaN)."""
    x = _number(a)
    if x is None:
        return MISSING
    return math.tan(x) if not math.isinf(x) else math.nan


def fn_floor(a: Value) -> Value:
    """`floor(x)`: float → int, int unchanged; NaN/inf → MISSING."""
    t = type(a)
    if t is int:
        return a
    if t is float and math.isfinite(a):
        return math.floor(a)
    return MISSING


def fn_ceil(a: Value) -> Value:
    """`ceil(x)`: float → int, int unchanged; NaN/inf → MISSING."""
    t = type(a)
    if t is int:
        return a
    if t is float and math.isfinite(a):
        return math.ceil(a)
    return MISSING


def fn_round(a: Value) -> Value:
    """`round(x)`: float → int, half away from zero (Rust); int unchanged; NaN/inf → MISSING."""
    t = type(a)
    if t is int:
        return a
    if t is float and math.isfinite(a):
        whole = math.trunc(a)
        # `a - whole` is exact, so halves are detected without rounding error.
        if abs(a - whole) >= 0.5:
            whole += 1 if a > 0 else -1
        return whole
    return MISSING


def fn_pow(a: Value, b: Value) -> Value:
    """`pow(a, b)`: the same as `a ** b`."""
    return v_pow(a, b)


def fn_min(a: Value, b: Value) -> Value:
    """`min(a, b)`: int if both ints, else float; a NaN operand yields the other (Rust)."""
    ta = type(a)
    tb = type(b)
    if ta is int and tb is int:
        return a if a <= b else b
    x = _number(a)
    y = _number(b)
    if x is None or y is None:
        return MISSING
    if x != x:
        return y
    return x if x <= y or y != y else y


def fn_max(a: Value, b: Value) -> Value:
    """`max(a, b)`: int if both ints, else float; a NaN operand yields the other (Rust)."""
    ta = type(a)
    tb = type(b)
    if ta is int and tb is int:
        return a if a >= b else b
    x = _number(a)
    y = _number(b)
    if x is None or y is None:
        return MISSING
    if x != x:
        return y
    return x if x >= y or y != y else y


# ---------------------------------------------------------------------------------------
# Strings


def fn_len(a: Value) -> Value:
    """`len(x)`: code points of a string (D15), elements of an array or map."""
    t = type(a)
    if t is str or t is list or t is dict:
        return len(a)
    return MISSING


def fn_trim(a: Value) -> Value:
    """`trim(s)`: strip Unicode whitespace at both ends."""
    if type(a) is str:
        return a.strip(_WHITESPACE)
    return MISSING


def fn_lower(a: Value) -> Value:
    """`lower(s)` / `lowercase(s)`."""
    if type(a) is str:
        return a.lower()
    return MISSING


def fn_upper(a: Value) -> Value:
    """`upper(s)` / `uppercase(s)`."""
    if type(a) is str:
        return a.upper()
    return MISSING


def fn_starts_with(s: Value, prefix: Value) -> Value:
    """`starts_with(s, prefix)` on two strings."""
    if type(s) is str and type(prefix) is str:
        return s.startswith(prefix)
    return MISSING


def fn_ends_with(s: Value, suffix: Value) -> Value:
    """`ends_with(s, suffix)` on two strings."""
    if type(s) is str and type(suffix) is str:
        return s.endswith(suffix)
    return MISSING


def fn_contains(container: Value, item: Value) -> Value:
    """`contains(c, x)`: the same as `x in c` (array member per D2, substring, map key)."""
    return v_in(item, container)


def fn_replace(s: Value, old: Value, new: Value) -> Value:
    """`replace(s, old, new)`: every occurrence."""
    if type(s) is str and type(old) is str and type(new) is str:
        # The result's length, known before building it (D33): "" matches len(s) + 1 times.
        matches = len(s) + 1 if not old else s.count(old)
        if len(s) + matches * (len(new) - len(old)) > MAX_ELEMENTS:
            return MISSING
        return s.replace(old, new)
    return MISSING


def fn_split(s: Value, sep: Value) -> Value:
    """`split(s, sep)` → array of strings; an empty `sep` splits around every code point
    (Rust: `"ab"` → `["", "a", "b", ""]`)."""
    if type(s) is str and type(sep) is str:
        if sep:
            return s.split(sep)
        return ["", *s, ""]
    return MISSING


def fn_join(items: Value, sep: Value) -> Value:
    """`join(arr, sep)`: elements rendered as by `to_string` (strings unquoted, D15)."""
    if type(items) is list and type(sep) is str:
        if len(sep) * (len(items) - 1) > MAX_ELEMENTS:
            return MISSING
        parts = [key_text(item) for item in items]
        if sum(map(len, parts)) > MAX_ELEMENTS:
            return MISSING
        return sep.join(parts)
    return MISSING


def fn_substring(s: Value, start: Value, end: Value = _ABSENT) -> Value:
    """`substring(s, start[, end])`: code-point indices, end exclusive; out of range → MISSING."""
    if type(s) is not str or type(start) is not int:
        return MISSING
    if end is _ABSENT:
        end = len(s)
    elif type(end) is not int:
        return MISSING
    if 0 <= start <= end <= len(s):
        return s[start:end]
    return MISSING


def fn_reverse(a: Value) -> Value:
    """`reverse(x)`: a string's code points or an array's elements, reversed."""
    t = type(a)
    if t is str or t is list:
        return a[::-1]
    return MISSING


def fn_to_string(a: Value) -> Value:
    """`to_string(x)`: strings unquoted (D15), floats as Rust (`2.0` → "2"), arrays/maps as
    compact JSON — the rendering of keys (`key_text`)."""
    if a is MISSING:
        return MISSING
    return key_text(a)


def _f64_to_i64(f: float) -> int:
    """Rust `f as i64`: truncate, saturate at the i64 bounds, NaN → 0."""
    if f != f:
        return 0
    if f >= 9.223372036854775807e18:
        return _I64_MAX
    if f <= -9.223372036854775807e18:
        return _I64_MIN
    return int(f)


def fn_to_int(a: Value) -> Value:
    """`to_int(x)`: float truncated (Rust cast), numeric string parsed as i64, bool → 0/1."""
    t = type(a)
    if t is int:
        return a
    if t is float:
        return _f64_to_i64(a)
    if t is str:
        # More than 20 digits is out of the i64 range, and too long for `int` past 4300.
        if len(a) > 21 or _INT_RE.fullmatch(a) is None:
            return MISSING
        n = int(a)
        return n if _I64_MIN <= n <= _I64_MAX else MISSING
    if t is bool:
        return 1 if a else 0
    return MISSING


def fn_to_float(a: Value) -> Value:
    """`to_float(x)`: int or float → float, string parsed as Rust f64 (`1e3`, `inf`, `nan`)."""
    t = type(a)
    if t is float:
        return a
    if t is int:
        x = _number(a)
        return MISSING if x is None else x
    if t is str and _FLOAT_RE.fullmatch(a) is not None:
        return float(a)
    return MISSING


# ---------------------------------------------------------------------------------------
# Collections


def fn_first(a: Value) -> Value:
    """`first(arr)`: the first element; empty → MISSING."""
    if type(a) is list and a:
        return a[0]
    return MISSING


def fn_last(a: Value) -> Value:
    """`last(arr)`: the last element; empty → MISSING."""
    if type(a) is list and a:
        return a[-1]
    return MISSING


def fn_push(a: Value, item: Value) -> Value:
    """`push(arr, x)`: a new array with `x` appended."""
    if type(a) is list and item is not MISSING:
        return [*a, item]
    return MISSING


def fn_pop(a: Value) -> Value:
    """`pop(arr)`: a new array without its last element (Ref); empty → MISSING."""
    if type(a) is list and a:
        return a[:-1]
    return MISSING


def _compare(x: Value, y: Value) -> int:
    """The reference's sort order: numbers (D2: int/float mixed), strings; else equal."""
    tx = type(x)
    ty = type(y)
    if ((tx is int or tx is float) and (ty is int or ty is float)) or (tx is str and ty is str):
        return -1 if x < y else (1 if x > y else 0)
    return 0


def fn_sort(a: Value) -> Value:
    """`sort(arr)`: a stably sorted copy. All numbers: numeric order, NaN last; all strings:
    code point order; mixed kinds: the reference's comparator (other pairs are equal), whose
    order for such arrays is unspecified."""
    if type(a) is not list:
        return MISSING
    kinds = {type(item) for item in a}
    if kinds <= {int, float}:
        return sorted(a, key=lambda x: (x != x, x if x == x else 0.0))
    if kinds <= {str}:
        return sorted(a)
    return sorted(a, key=cmp_to_key(_compare))


def fn_keys(a: Value) -> Value:
    """`keys(map)` → array of its keys, in order."""
    if type(a) is dict:
        return list(a)
    return MISSING


def fn_values(a: Value) -> Value:
    """`values(map)` → array of its values, in order."""
    if type(a) is dict:
        return list(a.values())
    return MISSING


def fn_get(container: Value, key: Value) -> Value:
    """`get(c, k)`: array element at int k ≥ 0 (no negative index, Ref) or map value."""
    tc = type(container)
    if tc is list:
        if type(key) is int and 0 <= key < len(container):
            return container[key]
    elif tc is dict and type(key) is str:
        return container.get(key, MISSING)
    return MISSING


def fn_set(container: Value, key: Value, item: Value) -> Value:
    """`set(c, k, v)`: a copy with element k (in range, else unchanged; Ref) or key k set."""
    if item is MISSING:
        return MISSING
    tc = type(container)
    if tc is list and type(key) is int:
        copy = list(container)
        if 0 <= key < len(copy):
            copy[key] = item
        return copy
    if tc is dict and type(key) is str:
        new = dict(container)
        new[key] = item
        return new
    return MISSING


def fn_range(a: Value, b: Value = _ABSENT) -> Value:
    """`range(n)` → [0, n), `range(a, b)` → [a, b), ints only."""
    if b is _ABSENT:
        a, b = 0, a
    if type(a) is int and type(b) is int and b - a <= MAX_ELEMENTS:
        return list(range(a, b))
    return MISSING


def fn_sum(a: Value) -> Value:
    """`sum(arr)` → float sum of its numbers (others skipped), added left to right."""
    if type(a) is not list:
        return MISSING
    total = 0.0
    for item in a:
        t = type(item)
        if t is float or t is int:
            try:
                total += item
            except OverflowError:  # an int beyond f64
                return MISSING
    return total


def fn_avg(a: Value) -> Value:
    """`avg(arr)` → float mean of its numbers (others skipped); no numbers → 0.0."""
    if type(a) is not list:
        return MISSING
    total = 0.0
    n = 0
    for item in a:
        t = type(item)
        if t is float or t is int:
            try:
                total += item
            except OverflowError:  # an int beyond f64
                return MISSING
            n += 1
    return total / n if n else 0.0


# ---------------------------------------------------------------------------------------
# Types


def fn_type_of(a: Value) -> Value:
    """`type_of(x)`: "int", "float", "string", "bool", "array", "map" or "null"."""
    return _TYPE_NAMES.get(type(a), MISSING)


def fn_is_null(a: Value) -> Value:
    """`is_null(x)`."""
    return MISSING if a is MISSING else a is None


def fn_is_int(a: Value) -> Value:
    """`is_int(x)` (a bool is not an int)."""
    return MISSING if a is MISSING else type(a) is int


def fn_is_float(a: Value) -> Value:
    """`is_float(x)`."""
    return MISSING if a is MISSING else type(a) is float


def fn_is_string(a: Value) -> Value:
    """`is_string(x)`."""
    return MISSING if a is MISSING else type(a) is str


def fn_is_bool(a: Value) -> Value:
    """`is_bool(x)`."""
    return MISSING if a is MISSING else type(a) is bool


def fn_is_array(a: Value) -> Value:
    """`is_array(x)`."""
    return MISSING if a is MISSING else type(a) is list


def fn_is_map(a: Value) -> Value:
    """`is_map(x)`."""
    return MISSING if a is MISSING else type(a) is dict


# ---------------------------------------------------------------------------------------
# Tables read by the compiler

# VPL name → (min, max) number of arguments.
BUILTIN_ARITY: dict[str, tuple[int, int]] = {
    **dict.fromkeys(
        ("abs", "sqrt", "log", "log10", "exp", "sin", "cos", "tan", "floor", "ceil", "round"),
        (1, 1),
    ),
    **dict.fromkeys(("pow", "min", "max"), (2, 2)),
    **dict.fromkeys(("len", "trim", "lower", "lowercase", "upper", "uppercase", "reverse"), (1, 1)),
    **dict.fromkeys(("starts_with", "ends_with", "contains", "split", "join"), (2, 2)),
    "replace": (3, 3),
    "substring": (2, 3),
    **dict.fromkeys(("to_string", "to_int", "to_float"), (1, 1)),
    **dict.fromkeys(("first", "last", "pop", "sort", "keys", "values", "sum", "avg"), (1, 1)),
    **dict.fromkeys(("push", "get"), (2, 2)),
    "set": (3, 3),
    "range": (1, 2),
    **dict.fromkeys(
        (
            "type_of",
            "is_null",
            "is_int",
            "is_float",
            "is_string",
            "is_bool",
            "is_array",
            "is_map",
        ),
        (1, 1),
    ),
}

_ALIASES = {"lowercase": "lower", "uppercase": "upper"}

# VPL name → name of the implementing function in this module.
BUILTIN_IMPL: dict[str, str] = {name: "fn_" + _ALIASES.get(name, name) for name in BUILTIN_ARITY}

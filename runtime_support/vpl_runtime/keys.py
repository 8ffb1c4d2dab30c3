"""Keys of partitions, `.distinct` and `count_distinct` (SEMANTICS §7, §5.2).

Key equality: `1` and `1.0` are one key, `"1"` and `1` are two, `true` and `1` are two,
null is a key, MISSING is one key, arrays and maps are keys compared structurally (map
entry order ignored). `key_of` maps a value to a hashable Python object with exactly that
equality; `key_text` renders a key as the reference does for `_partition`.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Hashable
from typing import Any

from vpl_runtime.values import MISSING, Value

# Tagged tuples keep keys of different kinds apart: a tag is a type object, which no VPL
# value's key can be, so e.g. `(bool, True)` never equals an array key or the int 1.
_TRUE = (bool, True)
_FALSE = (bool, False)
_NAN = (float, "nan")  # NaN ≠ NaN, so all NaNs share this one key


def key_of(v: Value) -> Hashable:
    """The canonical hashable key of a VPL value (or MISSING).

    Strings and ints are their own key and integral floats become ints, so the common
    cases allocate nothing. Keys are picklable and equal across processes.
    """
    t = type(v)
    if t is str or t is int:
        return v  # type: ignore[no-any-return]
    if t is float:
        if v.is_integer():
            return int(v)
        if v != v:
            return _NAN
        return v  # type: ignore[no-any-return]
    if t is bool:
        return _TRUE if v else _FALSE
    if v is None or v is MISSING:
        return v
    if t is list:
        return (list, tuple([key_of(item) for item in v]))
    if t is dict:
        return (dict, frozenset([(k, key_of(item)) for k, item in v.items()]))
    return (object, repr(v))  # not a VPL value; keep it usable rather than crash


def event_key(fields: dict[str, Any]) -> Hashable:
    """The key of a whole event for `.distinct()`: its (name, value) pairs, order ignored."""
    return frozenset([(name, key_of(value)) for name, value in fields.items()])


def _float_text(f: float) -> str:
    """A float like Rust's `Display`: shortest round-trip digits, never an exponent."""
    if f != f:
        return "NaN"
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    r = repr(f)
    if "e" in r:
        return _expand_exponent(r)
    if r.endswith(".0"):
        return r[:-2]
    return r


def _expand_exponent(r: str) -> str:
    """Write Python's `1.5e-07` / `1e+20` as plain decimal digits."""
    mantissa, _, exponent = r.partition("e")
    sign = ""
    if mantissa.startswith("-"):
        sign = "-"
        mantissa = mantissa[1:]
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + int(exponent)  # position of the decimal point within `digits`
    if point <= 0:
        text = "0." + "0" * -point + digits
    elif point >= len(digits):
        text = digits + "0" * (point - len(digits))
    else:
        text = digits[:point] + "." + digits[point:]
    return sign + text


def _json(v: Value, out: list[str]) -> None:
    """Compact JSON of a value inside an array or map; floats as in `_float_text`."""
    t = type(v)
    if t is str:
        out.append(json.dumps(v, ensure_ascii=False))
    elif t is bool:
        out.append("true" if v else "false")
    elif t is int:
        out.append(str(v))
    elif t is float:
        # JSON has no NaN or infinity: written as null, like the output writer (D19).
        out.append(_float_text(v) if math.isfinite(v) else "null")
    elif t is list:
        out.append("[")
        for i, item in enumerate(v):
            if i:
                out.append(",")
            _json(item, out)
        out.append("]")
    elif t is dict:
        out.append("{")
        for i, (k, item) in enumerate(v.items()):
            if i:
                out.append(",")
            out.append(json.dumps(k, ensure_ascii=False))
            out.append(":")
            _json(item, out)
        out.append("}")
    else:  # null, or MISSING, which a container never holds
        out.append("null")


def key_text(v: Value) -> str:
    """A key rendered as text (`_partition`): strings as is, `2.0` → "2", arrays/maps as
    compact JSON, `true`/`false`/`null`; MISSING → "default" (the reference's key for
    events lacking the partition field)."""
    t = type(v)
    if t is str:
        return v  # type: ignore[no-any-return]
    if t is int:
        return str(v)
    if t is float:
        return _float_text(v)
    if t is bool:
        return "true" if v else "false"
    if v is None:
        return "null"
    if v is MISSING:
        return "default"
    out: list[str] = []
    _json(v, out)
    return "".join(out)


def stable_hash(v: Value) -> int:
    """A hash of the key of `v` that is the same in every run and process (unlike `hash()`,
    which is salted): equal keys (§7: `1` and `1.0`, every NaN, MISSING) hash alike."""
    if type(v) is str:
        return zlib.crc32(v.encode("utf-8", "surrogatepass"))
    out: list[str] = []
    _canonical(key_of(v), out)
    return zlib.crc32("".join(out).encode("utf-8", "surrogatepass"))


def _canonical(k: object, out: list[str]) -> None:
    """Text of a key (from `key_of`) that equal keys share; maps in sorted order."""
    if type(k) is tuple and len(k) == 2 and isinstance(k[0], type):
        tag, inner = k
        if tag is list:
            out.append("[")
            for item in inner:
                _canonical(item, out)
                out.append(",")
            out.append("]")
        elif tag is dict:
            entries = []
            for name, item in inner:
                part: list[str] = []
                _canonical(item, part)
                entries.append(f"{name!r}:{''.join(part)}")
            out.append("{" + ",".join(sorted(entries)) + "}")
        else:  # bool, NaN, or a foreign object
            out.append(f"{tag.__name__}:{inner!r}")
    elif k is MISSING:
        out.append("missing")
    else:  # str, int, non-integral float, None
        out.append(f"{type(k).__name__}:{k!r}")


def jump_hash(key: int, buckets: int) -> int:
    """Jump consistent hash (Lamping & Veach, 2014): a bucket in [0, buckets) for `key`;
    when `buckets` grows by one, only 1/buckets of the keys move, all to the new bucket."""
    b, j = -1, 0
    while j < buckets:
        b = j
        key = (key * 2862933555777391717 + 1) & 0xFFFFFFFFFFFFFFFF
        j = int((b + 1) * (2147483648.0 / ((key >> 33) + 1)))
    return b

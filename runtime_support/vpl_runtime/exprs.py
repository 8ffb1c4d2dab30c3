"""Small helpers that compiled VPL expressions use besides the operators of `values`."""

from __future__ import annotations

import json
import sys
from typing import Any

from vpl_runtime.values import MISSING

# `x.__class__ in NUMERIC` is the number test of compiled comparisons: bool is not a number
# in VPL, and a tuple membership test of two classes is cheaper than a call.
NUMERIC = (int, float)


def not_a_number() -> Any:
    """Leave the common-case path of building an event: an operand is not a number, so
    the general code (which may give MISSING) must decide."""
    raise KeyError("not a number")


def v_array(*items: Any) -> Any:
    """`[a, b, ...]`: MISSING if any element is MISSING (it propagates like an argument)."""
    for item in items:
        if item is MISSING:
            return MISSING
    return list(items)


def v_map(keys: tuple[str, ...], *items: Any) -> Any:
    """`{k: v, ...}`: MISSING if any value is MISSING."""
    for item in items:
        if item is MISSING:
            return MISSING
    return dict(zip(keys, items, strict=False))


def vpl_print(stream: str, fields: dict[str, Any], values: tuple[Any, ...]) -> None:
    """`.print(e, ...)`: the values space-separated on stderr; no values: the whole event."""
    if values:
        text = " ".join(_show(v) for v in values)
    else:
        text = json.dumps(fields, ensure_ascii=False, default=str)
    sys.stderr.write(f"[{stream}] {text}\n")


def vpl_log(stream: str, level: Any, message: Any, data: Any) -> None:
    """`.log(level: ..., message: ..., data: ...)`: one line on stderr."""
    parts = [f"[{_show(level).upper() if level is not None else 'INFO'}]", f"{stream}:"]
    if message is not None:
        parts.append(_show(message))
    if data is not None:
        parts.append(json.dumps(data, ensure_ascii=False, default=str))
    sys.stderr.write(" ".join(parts) + "\n")


def _show(value: Any) -> str:
    if value is MISSING:
        return "<missing>"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)

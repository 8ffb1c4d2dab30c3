"""The only ways VPL text enters generated Python: mangled names and repr'd literals.

VPL identifiers (`[A-Za-z_][A-Za-z0-9_]*`) may be Python keywords or builtins (`class`,
`None`, `__import__`), so they never become Python names by themselves: `mangle` prefixes a
role word without underscores, which makes the mapping injective (the role is the text before
the first underscore, an index the text after the last one). Field names and stream names
that appear as data go through `py_literal`.
"""

from __future__ import annotations

import math
import re

_ROLE = re.compile(r"[A-Za-z][A-Za-z0-9]*\Z")
_VPL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def mangle(role: str, name: str, index: int | None = None) -> str:
    """The Python identifier of a generated object: `role_name` or `role_name_index`."""
    if not _ROLE.match(role):
        raise ValueError(f"bad role {role!r}")
    if not _VPL_NAME.match(name):
        raise ValueError(f"not a VPL identifier: {name!r}")
    return f"{role}_{name}" if index is None else f"{role}_{name}_{index}"


def py_literal(value: object) -> str:
    """Python source that evaluates to `value` (a VPL value: None, bool, int, float, str,
    list or dict of those). Floats that repr cannot spell (nan, inf) become calls."""
    if value is None or isinstance(value, (bool, int, str)):
        return repr(value)
    if isinstance(value, float):
        if math.isnan(value):
            return 'float("nan")'
        if math.isinf(value):
            return 'float("inf")' if value > 0 else 'float("-inf")'
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(py_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{py_literal(k)}: {py_literal(v)}" for k, v in value.items())
        return "{" + items + "}"
    raise TypeError(f"not a VPL value: {value!r}")


def comment_text(text: str) -> str:
    """`text` made safe for one `#` comment line: no line breaks, no control characters."""
    return "".join(ch if ch.isprintable() else " " for ch in text)

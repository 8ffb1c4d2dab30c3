"""The only ways VPL text enters generated Python: mangled names and repr'd literals.

VPL identifiers (`[A-Za-z_][A-Za-z0-9_]*`) may be Python keywords or builtins (`class`,
`None`, `__import__`), so they never become Python names by themselves: `mangle` prefixes a
role word without underscores (the role is the text before the first underscore). A quoted
identifier (D46) can hold any text but a backtick or a line break; when it is not a plain
identifier, `mangle` spells it `0` followed by its ASCII letters and digits as they are and
every other character as `_<hex code>_` (`user-id` -> `0user_2d_id`). Plain names never
start with a digit, and the escapes come in pairs of underscores, so an index appended as
`_<index>` is told apart by the odd count: the mapping stays injective. Field names and
stream names that appear as data go through `py_literal`.
"""

from __future__ import annotations

import math
import re

_ROLE = re.compile(r"[A-Za-z][A-Za-z0-9]*\Z")
_VPL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")


def mangle(role: str, name: str, index: int | None = None) -> str:
    """The Python identifier of a generated object: `role_name` or `role_name_index`."""
    if not _ROLE.match(role):
        raise ValueError(f"bad role {role!r}")
    if not name or "`" in name or "\n" in name or "\r" in name:
        raise ValueError(f"not a VPL identifier: {name!r}")
    if not _VPL_NAME.match(name):
        name = "0" + "".join(c if c in _ALNUM else f"_{ord(c):x}_" for c in name)
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

"""What the checker knows about builtin scalar functions (SEMANTICS §4): arity and result type.

The names and arities are the runtime's (`vpl_runtime.builtins.BUILTIN_ARITY`), so the
checker and the generated code agree on which calls exist. Result types are only a typing
aid: builtin argument types are not checked (D21), so a call whose arguments have the wrong
type is typed by its normal result.
"""

from __future__ import annotations

from collections.abc import Sequence

from vpl_runtime.builtins import BUILTIN_ARITY
from vplc.check.types import NUMERIC, Ty

_FIXED_RESULT: dict[str, Ty] = {
    **dict.fromkeys(("sqrt", "log", "log10", "exp", "sin", "cos", "tan"), Ty.FLOAT),
    **dict.fromkeys(("floor", "ceil", "round", "len", "to_int"), Ty.INT),
    **dict.fromkeys(("to_float", "sum", "avg"), Ty.FLOAT),
    **dict.fromkeys(
        ("trim", "lower", "lowercase", "upper", "uppercase", "to_string", "join", "substring"),
        Ty.STR,
    ),
    "replace": Ty.STR,
    "type_of": Ty.STR,
    **dict.fromkeys(("starts_with", "ends_with", "contains"), Ty.BOOL),
    **dict.fromkeys(
        ("is_null", "is_int", "is_float", "is_string", "is_bool", "is_array", "is_map"),
        Ty.BOOL,
    ),
    **dict.fromkeys(("split", "keys", "values", "sort", "push", "range"), Ty.ARRAY),
    "set": Ty.MAP,
}


__all__ = ["BUILTIN_ARITY", "builtin_result"]


def builtin_result(name: str, args: Sequence[Ty]) -> Ty:
    """The result type of builtin `name` applied to arguments of types `args`."""
    fixed = _FIXED_RESULT.get(name)
    if fixed is not None:
        return fixed
    if name == "abs" and args and args[0] in NUMERIC:
        return args[0]
    if name == "reverse" and args and args[0] in (Ty.STR, Ty.ARRAY):
        return args[0]
    if name in ("min", "max", "pow") and len(args) == 2:
        return _numeric_pair(name, args[0], args[1])
    return Ty.ANY


def _numeric_pair(name: str, left: Ty, right: Ty) -> Ty:
    if left not in NUMERIC or right not in NUMERIC:
        return Ty.ANY
    if Ty.FLOAT in (left, right):
        return Ty.FLOAT
    if left is Ty.INT and right is Ty.INT:
        return Ty.INT  # min/max keep ints; int ** int is truncated to int (§4)
    return Ty.NUM

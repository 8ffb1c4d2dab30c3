"""Constant declarations (`let`, `var`, `const`, D3), evaluated at plan time.

The initializer is walked and every operator is applied by its run-time function
(`vpl_runtime`), so a constant has exactly the value the generated code would compute for
the same expression on an event without fields: no code is generated or `eval`ed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vpl_runtime import builtins as rt_builtins
from vpl_runtime import values as rt_values
from vpl_runtime.exprs import v_array, v_map
from vpl_runtime.values import MISSING
from vplc.frontend.syntax import (
    ArrayLit,
    Attribute,
    Binary,
    BinaryOp,
    Call,
    Expr,
    IfExpr,
    Index,
    Literal,
    MapLit,
    Name,
    Slice,
    Unary,
    UnaryOp,
)

# The run-time function of each binary operator; the others are MISSING (SEMANTICS §4),
# ranges are v_range. The code generator calls the same functions.
BINARY_FUNCTIONS: dict[BinaryOp, str] = {
    BinaryOp.ADD: "v_add",
    BinaryOp.SUB: "v_sub",
    BinaryOp.MUL: "v_mul",
    BinaryOp.DIV: "v_div",
    BinaryOp.MOD: "v_mod",
    BinaryOp.POW: "v_pow",
    BinaryOp.EQ: "v_eq",
    BinaryOp.NE: "v_ne",
    BinaryOp.LT: "v_lt",
    BinaryOp.LE: "v_le",
    BinaryOp.GT: "v_gt",
    BinaryOp.GE: "v_ge",
    BinaryOp.IN: "v_in",
    BinaryOp.NOT_IN: "v_not_in",
    BinaryOp.AND: "v_and",
    BinaryOp.OR: "v_or",
}


def evaluate_constant(e: Expr, constants: Mapping[str, Any]) -> Any:
    """The value of a `let/var/const` initializer: field names in it are MISSING."""
    match e:
        case Literal(value=value):
            return value
        case Name(name=name):
            return constants.get(name, MISSING)
        case Binary(op=op, left=left, right=right):
            ranges = (BinaryOp.RANGE, BinaryOp.RANGE_INCLUSIVE)
            if op not in BINARY_FUNCTIONS and op not in ranges:
                return MISSING
            a, b = evaluate_constant(left, constants), evaluate_constant(right, constants)
            if op in ranges:
                return rt_values.v_range(a, b, op is BinaryOp.RANGE_INCLUSIVE)
            return getattr(rt_values, BINARY_FUNCTIONS[op])(a, b)
        case Unary(op=op, operand=operand):
            a = evaluate_constant(operand, constants)
            if op is UnaryOp.NEG:
                return rt_values.v_neg(a)
            return rt_values.v_not(a) if op is UnaryOp.NOT else MISSING
        case Call(func=func, args=args):
            arity = rt_builtins.BUILTIN_ARITY.get(func)
            if arity is None or not arity[0] <= len(args) <= arity[1]:
                return MISSING  # unknown function or bad arity (the checker warned)
            values = [evaluate_constant(a, constants) for a in args]
            return getattr(rt_builtins, rt_builtins.BUILTIN_IMPL[func])(*values)
        case Index(target=target, index=index):
            return rt_values.v_index(
                evaluate_constant(target, constants), evaluate_constant(index, constants)
            )
        case Slice(target=target, start=start, end=end):
            lo = None if start is None else evaluate_constant(start, constants)
            hi = None if end is None else evaluate_constant(end, constants)
            return rt_values.v_slice(evaluate_constant(target, constants), lo, hi)
        case Attribute():
            return MISSING
        case IfExpr(cond=cond, then=then, otherwise=otherwise):
            test = evaluate_constant(cond, constants)
            if test is True:
                return evaluate_constant(then, constants)
            return MISSING if test is MISSING else evaluate_constant(otherwise, constants)
        case ArrayLit(items=items):
            return v_array(*(evaluate_constant(i, constants) for i in items))
        case MapLit(items=pairs):
            keys = tuple(k for k, _ in pairs)
            return v_map(keys, *(evaluate_constant(v, constants) for _, v in pairs))
    raise AssertionError(f"unhandled expression {e!r}")

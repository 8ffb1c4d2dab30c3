"""The syntax tree's printer: canonical VPL text of an expression, for comments in generated
code, plan dumps and the identity of aggregate calls (two calls are one if their texts are)."""

from __future__ import annotations

import math
import re

from vplc.frontend.syntax import (
    ArrayLit,
    Attribute,
    Binary,
    Call,
    Expr,
    IfExpr,
    Index,
    Literal,
    LiteralKind,
    MapLit,
    Name,
    Slice,
    Unary,
    UnaryOp,
)

_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Words the grammar reads as keywords in an expression (grammar.lark).
_KEYWORDS = frozenset(
    {"event", "extends", "context", "let", "var", "const", "stream", "as", "if", "then",
     "else", "not", "and", "or", "in", "is", "true", "false", "null"}
)  # fmt: skip


def vpl_name(name: str) -> str:
    """`name` as VPL source text: quoted (D46) unless it is a plain identifier."""
    return name if _PLAIN_NAME.match(name) and name not in _KEYWORDS else f"`{name}`"


def unparse(e: Expr) -> str:
    """Canonical VPL text of `e`: fully parenthesised inside, no outer parentheses."""
    text = _unparse(e)
    if isinstance(e, (Binary, Unary, IfExpr)):
        return text[1:-1]
    return text


def _unparse(e: Expr) -> str:
    match e:
        case Literal(kind=kind, value=value):
            if kind is LiteralKind.STR:
                return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
            if kind is LiteralKind.BOOL:
                return "true" if value else "false"
            if kind is LiteralKind.NULL:
                return "null"
            if kind is LiteralKind.DURATION:
                return f"{value}ms"
            return _number(value)
        case Name(name=name):
            return vpl_name(name)  # `sum(x)` quoted is a field, not the call
        case Binary(op=op, left=left, right=right):
            return f"({_unparse(left)} {op.value} {_unparse(right)})"
        case Unary(op=op, operand=operand):
            space = " " if op is UnaryOp.NOT else ""
            return f"({op.value}{space}{_unparse(operand)})"
        case Call(func=func, args=args):
            return f"{vpl_name(func)}({', '.join(unparse(a) for a in args)})"
        case Index(target=target, index=index):
            return f"{_unparse(target)}[{_unparse(index)}]"
        case Slice(target=target, start=start, end=end):
            lo = "" if start is None else _unparse(start)
            hi = "" if end is None else _unparse(end)
            return f"{_unparse(target)}[{lo}:{hi}]"
        case Attribute(target=target, name=name):
            return f"{_unparse(target)}.{vpl_name(name)}"
        case IfExpr(cond=cond, then=then, otherwise=otherwise):
            return f"(if {_unparse(cond)} then {_unparse(then)} else {_unparse(otherwise)})"
        case ArrayLit(items=items):
            return "[" + ", ".join(_unparse(i) for i in items) + "]"
        case MapLit(items=items):
            keys = [_unparse(Literal(LiteralKind.STR, k, e.span)) for k, _ in items]
            pairs = zip(keys, items, strict=True)
            return "{" + ", ".join(f"{k}: {_unparse(v)}" for k, (_, v) in pairs) + "}"
    raise AssertionError(f"unhandled expression {e!r}")


def _number(value: object) -> str:
    """An int or float literal's value as text; nan and inf are spelled apart from names, as
    `vplc.plan.names.py_literal` spells them."""
    if isinstance(value, float) and math.isnan(value):
        return 'float("nan")'
    if isinstance(value, float) and math.isinf(value):
        return 'float("inf")' if value > 0 else 'float("-inf")'
    return repr(value)

"""Typing of VPL expressions against a schema (D21), reporting what can be proven wrong.

`ExprTyper.infer` returns an expression's lattice type and records diagnostics:
E020/W040 for unknown fields, E021 for operators whose operand types are all known and
invalid, W050/W051 for unknown builtins and bad arities, W021 for operators that always
evaluate to MISSING. Unknown scalar functions are warnings, not errors, in stream expressions
because §4 defines them (they evaluate to MISSING); in a `let/var/const` initializer the
reference validator rejects them (E050).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field

from vplc.check.builtins import BUILTIN_ARITY, builtin_result
from vplc.check.types import NUMERIC, Schema, Ty, assert_never, join, literal_type
from vplc.diagnostics import Diagnostic, error, warning
from vplc.frontend import syntax
from vplc.frontend.syntax import BinaryOp, UnaryOp

_ARITHMETIC = frozenset(
    {BinaryOp.ADD, BinaryOp.SUB, BinaryOp.MUL, BinaryOp.DIV, BinaryOp.MOD, BinaryOp.POW}
)
_ORDERING = frozenset({BinaryOp.LT, BinaryOp.LE, BinaryOp.GT, BinaryOp.GE})
# Parsed but never evaluated (§2, §4): the result is always MISSING.
_UNEVALUATED = frozenset(
    {
        BinaryOp.SHL,
        BinaryOp.SHR,
        BinaryOp.BIT_AND,
        BinaryOp.BIT_XOR,
        BinaryOp.BIT_OR,
        BinaryOp.IS,
    }
)
_CONTAINERS = frozenset({Ty.ARRAY, Ty.STR, Ty.MAP})


@dataclass
class Env:
    """What every expression may refer to, and where diagnostics go."""

    constants: Mapping[str, Ty]  # D3: visible in every stream expression
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def report(self, diagnostic: Diagnostic) -> None:
        self.diagnostics.append(diagnostic)


def did_you_mean(name: str, candidates: tuple[str, ...]) -> str:
    """` (did you mean 'x'?)` for the closest candidate, or an empty string."""
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def quoted(names: tuple[str, ...] | list[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)


class ExprTyper:
    """Infers expression types in one scope: a stream point (`schema`) or an initializer."""

    def __init__(self, env: Env, schema: Schema, *, initializer: bool = False) -> None:
        self.env = env
        self.schema = schema
        self.initializer = initializer

    def infer(self, expr: syntax.Expr) -> Ty:
        """The type of `expr`; diagnostics go to the environment."""
        match expr:
            case syntax.Literal():
                return literal_type(expr.kind)
            case syntax.Name():
                return self.name(expr)
            case syntax.Binary():
                return self._binary(expr)
            case syntax.Unary():
                return self._unary(expr)
            case syntax.Call():
                return self.call(expr)
            case syntax.Index():
                target = self.infer(expr.target)
                self.infer(expr.index)
                return Ty.STR if target is Ty.STR else Ty.ANY
            case syntax.Slice():
                return self._slice(expr)
            case syntax.Attribute():
                # Sequence aliases are out of scope: the target is not a field reference.
                self.env.report(
                    warning("W021", f"'.{expr.name}' always evaluates to missing", expr.span)
                )
                return Ty.ANY
            case syntax.IfExpr():
                self.infer(expr.cond)
                return join(self.infer(expr.then), self.infer(expr.otherwise))
            case syntax.ArrayLit():
                for item in expr.items:
                    self.infer(item)
                return Ty.ARRAY
            case syntax.MapLit():
                for _, value in expr.items:
                    self.infer(value)
                return Ty.MAP
            case _:
                assert_never(expr)

    # -- names --------------------------------------------------------------------------

    def name(self, expr: syntax.Name) -> Ty:
        """A constant (D3: constants shadow fields) or a field of the current schema."""
        constant = self.env.constants.get(expr.name)
        if constant is not None:
            return constant
        if self.initializer:
            self.env.report(
                warning(
                    "W041",
                    f"'{expr.name}' is not a constant declared before this one "
                    "(it evaluates to missing)",
                    expr.span,
                )
            )
            return Ty.ANY
        ty = self.schema.field_type(expr.name)
        if ty is None:
            self.env.report(unknown_field(expr.name, expr.span, self.schema))
            return Ty.ANY
        return ty

    # -- calls --------------------------------------------------------------------------

    def call(self, expr: syntax.Call) -> Ty:
        """A builtin scalar function call (§4)."""
        args = [self.infer(arg) for arg in expr.args]
        arity = BUILTIN_ARITY.get(expr.func)
        if arity is None:
            if self.initializer:
                self.env.report(error("E050", f"unknown function '{expr.func}'", expr.func_span))
            else:
                self.env.report(
                    warning(
                        "W050",
                        f"unknown function '{expr.func}' (it evaluates to missing)",
                        expr.func_span,
                    )
                )
            return Ty.ANY
        low, high = arity
        if not low <= len(args) <= high:
            expected = str(low) if low == high else f"{low} to {high}"
            self.env.report(
                warning(
                    "W051",
                    f"function '{expr.func}' takes {expected} argument(s), got {len(args)} "
                    "(it evaluates to missing)",
                    expr.func_span,
                )
            )
            return Ty.ANY
        return builtin_result(expr.func, args)

    # -- operators ----------------------------------------------------------------------

    def _binary(self, expr: syntax.Binary) -> Ty:
        left = self.infer(expr.left)
        right = self.infer(expr.right)
        op = expr.op
        if op in _ARITHMETIC:
            return self._arithmetic(expr, left, right)
        if op in _ORDERING:
            if _known(left, right) and not _orderable(left, right):
                self._ill_typed(expr, f"cannot order '{left.value}' and '{right.value}'")
            return Ty.BOOL
        if op in (BinaryOp.EQ, BinaryOp.NE):
            return Ty.BOOL  # D2: any two values compare for equality
        if op in (BinaryOp.IN, BinaryOp.NOT_IN):
            self._membership(expr, left, right)
            return Ty.BOOL
        if op in (BinaryOp.AND, BinaryOp.OR):
            if _known(left, right) and (left is not Ty.BOOL or right is not Ty.BOOL):
                self._ill_typed(
                    expr, f"needs bool operands, got '{left.value}' and '{right.value}'"
                )
            return Ty.BOOL
        if op in _UNEVALUATED:
            self.env.report(
                warning("W021", f"operator '{op.value}' always evaluates to missing", expr.op_span)
            )
        return Ty.ANY  # the unevaluated operators and ranges

    def _arithmetic(self, expr: syntax.Binary, left: Ty, right: Ty) -> Ty:
        if not _known(left, right):
            return Ty.ANY
        if left in NUMERIC and right in NUMERIC:
            if Ty.FLOAT in (left, right):
                return Ty.FLOAT
            return Ty.INT if left is right is Ty.INT else Ty.NUM
        if expr.op is BinaryOp.ADD and left is right is Ty.STR:
            return Ty.STR
        self._ill_typed(expr, f"cannot be applied to '{left.value}' and '{right.value}'")
        return Ty.ANY

    def _membership(self, expr: syntax.Binary, left: Ty, right: Ty) -> None:
        if right is Ty.ANY:
            return
        if right not in _CONTAINERS:
            self._ill_typed(
                expr, f"needs an array, string or map on the right, got '{right.value}'"
            )
        elif right is Ty.STR and left is not Ty.ANY and left is not Ty.STR:
            self._ill_typed(expr, f"cannot look for '{left.value}' in a string")

    def _unary(self, expr: syntax.Unary) -> Ty:
        operand = self.infer(expr.operand)
        match expr.op:
            case UnaryOp.NEG:
                if operand is Ty.ANY or operand in NUMERIC:
                    return operand
                message = f"operator '-' cannot be applied to '{operand.value}'"
            case UnaryOp.NOT:
                if operand in (Ty.ANY, Ty.BOOL):
                    return Ty.BOOL
                message = f"operator 'not' needs a bool operand, got '{operand.value}'"
            case UnaryOp.BIT_NOT:
                self.env.report(
                    warning("W021", "operator '~' always evaluates to missing", expr.span)
                )
                return Ty.ANY
            case _:
                assert_never(expr.op)
        self.env.report(error("E021", message, expr.span))
        return Ty.ANY

    def _slice(self, expr: syntax.Slice) -> Ty:
        target = self.infer(expr.target)
        for bound in (expr.start, expr.end):
            if bound is not None:
                self.infer(bound)
        return target if target in (Ty.STR, Ty.ARRAY) else Ty.ANY

    def _ill_typed(self, expr: syntax.Binary, what: str) -> None:
        self.env.report(error("E021", f"operator '{expr.op.value}' {what}", expr.op_span))


def _known(left: Ty, right: Ty) -> bool:
    return left is not Ty.ANY and right is not Ty.ANY


def _orderable(left: Ty, right: Ty) -> bool:
    """D2: numbers order numerically, strings by code point; nothing else orders."""
    return (left in NUMERIC and right in NUMERIC) or left is right is Ty.STR


def unknown_field(name: str, span: syntax.Span, schema: Schema) -> Diagnostic:
    """E020 where a declared event type is read directly, else W040 (always MISSING)."""
    hint = did_you_mean(name, schema.names())
    if schema.events:
        if len(schema.events) == 1:
            message = f"event '{schema.events[0]}' has no field '{name}'"
        else:
            message = f"events {quoted(schema.events)} have no field '{name}'"
        return error("E020", message + hint, span)
    produced = quoted(schema.names()) if schema.fields else "no fields"
    return warning(
        "W040",
        f"field '{name}' is always missing here: {schema.origin} produces {produced}{hint}",
        span,
    )

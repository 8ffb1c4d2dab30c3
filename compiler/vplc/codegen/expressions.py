"""Compile VPL expressions (SEMANTICS §4) to Python expressions.

Two entry points:
- `value(e)`: Python code evaluating to the VPL value of `e`, or `MISSING`.
- `cond(e)`: Python code that is truthy exactly when `e` evaluates to `true`; this is what
  `.where`, `.having` and merge filters need, and it lets the common comparisons against a
  literal run as plain Python comparisons guarded by a type test, with no call.

Literal-only subexpressions are folded at compile time with the run-time semantics
themselves (`vpl_runtime`), so there is one definition of every operator.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import Any

from vpl_runtime import builtins as rt_builtins
from vpl_runtime import values as rt_values
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
from vplc.frontend.unparse import unparse
from vplc.plan.constants import BINARY_FUNCTIONS as _BINARY_FUNCTIONS
from vplc.plan.names import py_literal

# Parsed but always MISSING at run time (SEMANTICS §4): bitwise, shifts, `is`.
_MISSING_OPS = {
    BinaryOp.SHL,
    BinaryOp.SHR,
    BinaryOp.BIT_AND,
    BinaryOp.BIT_OR,
    BinaryOp.BIT_XOR,
    BinaryOp.IS,
}
_ORDERING = {BinaryOp.LT, BinaryOp.LE, BinaryOp.GT, BinaryOp.GE}
_MIRRORED = {
    BinaryOp.LT: BinaryOp.GT,
    BinaryOp.LE: BinaryOp.GE,
    BinaryOp.GT: BinaryOp.LT,
    BinaryOp.GE: BinaryOp.LE,
    BinaryOp.EQ: BinaryOp.EQ,
    BinaryOp.NE: BinaryOp.NE,
}

_INLINE_ARITHMETIC = {BinaryOp.ADD, BinaryOp.SUB, BinaryOp.MUL}

# How deeply generated calls may nest before a subexpression goes into a temporary.
_NEST_LIMIT = 24

# Names of run-time objects that generated code may use, and the module defining each.
RUNTIME_MODULES = ("values", "builtins", "keys", "aggfns", "exprs")


class ExprCompiler:
    """Compiles expressions of one function body.

    `constants` maps declared names (D3) to their values, computed at compile time.
    `fields` is the name of the local holding the current event's field dict.
    `overrides` maps `unparse(expr)` of some subexpressions (aggregate calls) to Python code.
    Every run-time name the code uses is added to `uses`.
    """

    def __init__(
        self,
        constants: Mapping[str, Any],
        uses: set[str],
        fields: str = "f",
        overrides: Mapping[str, str] | None = None,
        temps: Callable[[], str] | None = None,
    ) -> None:
        self.constants = constants
        self.uses = uses
        self.fields = fields
        self.overrides = overrides or {}
        counter = itertools.count(1)
        self._new_temp = temps or (lambda: f"t{next(counter)}")
        self._depth = 0
        self._hoisted: list[str] = []

    # -- values ------------------------------------------------------------------------

    def value(self, e: Expr) -> str:
        """Python code for the value of `e`.

        Python's parser accepts at most 200 nested parentheses, and a long VPL expression
        (`a + b + ... + z`) compiles to nested calls: subexpressions deeper than
        _NEST_LIMIT are computed first into walrus temporaries of a flat tuple,
        `(t1 := ..., t2 := ..., <expression using t2>)[-1]` (expressions have no side
        effects, so evaluating them early is safe).
        """
        top = self._depth == 0
        self._depth += 1
        if self._depth > _NEST_LIMIT:
            outer, self._depth = self._depth, 1
            code = self._value(e)
            self._depth = outer - 1
            temp = self._new_temp()
            self._hoisted.append(f"{temp} := {code}")
            return temp
        code = self._value(e)
        self._depth -= 1
        if top and self._hoisted:
            code = f"({', '.join(self._hoisted)}, {code})[-1]"
            self._hoisted = []
        return code

    def _value(self, e: Expr) -> str:
        folded = self.fold(e)
        if folded is not NOT_CONSTANT:
            return self.literal(folded)
        override = self.overrides.get(unparse(e)) if self.overrides else None
        if override is not None:
            return override
        match e:
            case Literal():
                return self.literal(e.value)
            case Name(name=name):
                return self.field(name)
            case Binary(op=op, left=left, right=right):
                if op in _MISSING_OPS:
                    return self.missing()
                if op in (BinaryOp.RANGE, BinaryOp.RANGE_INCLUSIVE):
                    inclusive = op is BinaryOp.RANGE_INCLUSIVE
                    return self.call(
                        "v_range", self.value(left), self.value(right), repr(inclusive)
                    )
                if op in _INLINE_ARITHMETIC and not self.overrides and _arithmetic_depth(e) <= 2:
                    # (not over aggregate results: they are typed, and computed once a window)
                    return self.arithmetic(op, left, right)
                return self.call(_BINARY_FUNCTIONS[op], self.value(left), self.value(right))
            case Unary(op=op, operand=operand):
                if op is UnaryOp.NEG:
                    return self.call("v_neg", self.value(operand))
                if op is UnaryOp.NOT:
                    return self.call("v_not", self.value(operand))
                return self.missing()
            case Call(func=func, args=args):
                return self.builtin_call(func, args)
            case Index(target=target, index=index):
                return self.call("v_index", self.value(target), self.value(index))
            case Slice(target=target, start=start, end=end):
                lo = "None" if start is None else self.value(start)
                hi = "None" if end is None else self.value(end)
                return self.call("v_slice", self.value(target), lo, hi)
            case Attribute():
                return self.missing()
            case IfExpr(cond=cond, then=then, otherwise=otherwise):
                temp = self._new_temp()
                self.uses.add("MISSING")
                return (
                    f"({self.value(then)} if ({temp} := {self.value(cond)}) is True "
                    f"else (MISSING if {temp} is MISSING else {self.value(otherwise)}))"
                )
            case ArrayLit(items=items):
                return self.call("v_array", *(self.value(i) for i in items))
            case MapLit(items=items):
                keys = "(" + "".join(f"{py_literal(k)}, " for k, _ in items) + ")"
                return self.call("v_map", keys, *(self.value(v) for _, v in items))
        raise AssertionError(f"unhandled expression {e!r}")

    def arithmetic(self, op: BinaryOp, left: Expr, right: Expr) -> str:
        """`+ - *` on numbers are Python's own operators (int op int stays int, a float
        makes float): inline them behind a type test, calling the general function only
        for other operands (strings, MISSING, ...)."""
        self.uses.add("NUMERIC")
        general = _BINARY_FUNCTIONS[op]
        operands, tests = [], []
        for side in (left, right):
            folded = self.fold(side)
            if folded is not NOT_CONSTANT and type(folded) in (int, float):
                operands.append(py_literal(folded))
            else:
                temp = self._new_temp()
                tests.append(f"(({temp} := {self.value(side)}).__class__ in NUMERIC)")
                operands.append(temp)
        a, b = operands
        self.uses.add(general)
        # `&` rather than `and`: both temporaries must be bound for the general call.
        return f"({a} {op.value} {b} if {' & '.join(tests)} else {general}({a}, {b}))"

    def strict(self, e: Expr) -> str | None:
        """Code for `e` that raises KeyError wherever the value would be MISSING, for the
        common-case path of building an event; None if `e` is not a field, a constant or
        `+ - *` over those (other expressions only have the general form)."""
        folded = self.fold(e)
        if folded is not NOT_CONSTANT:
            return self.literal(folded)
        name = self.is_plain_field(e)
        if name is not None:
            return f"{self.fields}[{py_literal(name)}]"
        if (
            isinstance(e, Binary)
            and e.op in _INLINE_ARITHMETIC
            and not self.overrides
            and _arithmetic_depth(e) <= 2
        ):
            operands, tests = [], []
            for side in (e.left, e.right):
                code = self.strict(side)
                if code is None or code == "MISSING":
                    return None
                if type(self.fold(side)) in (int, float):
                    operands.append(code)  # a number literal
                else:
                    temp = self._new_temp()
                    tests.append(f"(({temp} := {code}).__class__ in NUMERIC)")
                    operands.append(temp)
            self.uses.update({"NUMERIC", "not_a_number"})
            a, b = operands
            condition = " & ".join(tests) if tests else "True"
            return f"({a} {e.op.value} {b} if {condition} else not_a_number())"
        return None

    def field(self, name: str) -> str:
        """The value of field `name` of the current event, MISSING when absent."""
        self.uses.add("MISSING")
        return f"{self.fields}.get({py_literal(name)}, MISSING)"

    def is_plain_field(self, e: Expr) -> str | None:
        """The field name if `e` just reads an event field (not a constant), else None."""
        if isinstance(e, Name) and e.name not in self.constants:
            return None if self.overrides and e.name in self.overrides else e.name
        return None

    def builtin_call(self, func: str, args: tuple[Expr, ...]) -> str:
        arity = rt_builtins.BUILTIN_ARITY.get(func)
        if arity is None or not arity[0] <= len(args) <= arity[1]:
            return self.missing()  # unknown function or bad arity (the checker warned)
        return self.call(rt_builtins.BUILTIN_IMPL[func], *(self.value(a) for a in args))

    def call(self, function: str, *args: str) -> str:
        self.uses.add(function)
        return f"{function}({', '.join(args)})"

    def missing(self) -> str:
        self.uses.add("MISSING")
        return "MISSING"

    def literal(self, value: Any) -> str:
        if value is MISSING:
            return self.missing()
        return py_literal(value)

    # -- conditions --------------------------------------------------------------------

    def cond(self, e: Expr) -> str:
        """Python code that is truthy iff `e` evaluates to exactly `true`."""
        code, operand = self._cond(e)
        return code if operand is None else f"{operand} is True"

    def drop_cond(self, e: Expr) -> str:
        """Python code that is truthy iff `e` does not evaluate to exactly `true` (what
        `.where` drops): `x is not True` rather than `not (x is True)` (pycodestyle E714)."""
        code, operand = self._cond(e)
        return f"not ({code})" if operand is None else f"{operand} is not True"

    def _cond(self, e: Expr) -> tuple[str, str | None]:
        """The condition's code, or (when it is `operand is True`) its operand's."""
        folded = self.fold(e)
        if folded is not NOT_CONSTANT:
            return ("True" if folded is True else "False"), None
        match e:
            case Binary(op=BinaryOp.AND):
                return " and ".join(f"({self.cond(c)})" for c in _conjuncts(e)), None
            case Unary(op=UnaryOp.NOT, operand=operand):
                fast = self.compare_with_literal(operand, negate=True)
                if fast is not None:
                    return fast, None
            case Binary():
                fast = self.compare_with_literal(e, negate=False)
                if fast is not None:
                    return fast, None
            case Name() if self.is_plain_field(e) is not None:
                return "", f"{self.fields}.get({py_literal(e.name)})"
        return "", self.value(e)

    def compare_with_literal(self, e: Expr, *, negate: bool) -> str | None:
        """`x OP literal` as a guarded Python comparison, or None if `e` is not of that form.

        With `negate`, the code is truthy iff the comparison is exactly `false`.
        """
        if not isinstance(e, Binary) or e.op not in _MIRRORED:
            return None
        op, subject, lit = e.op, e.left, self.fold(e.right)
        if lit is NOT_CONSTANT:
            op, subject, lit = _MIRRORED[e.op], e.right, self.fold(e.left)
        if lit is NOT_CONSTANT or lit is MISSING:
            return None
        is_number = type(lit) in (int, float)
        if op in _ORDERING and not is_number:
            return None  # string ordering and the rest: leave it to the run-time function
        if type(lit) not in (int, float, str, bool, type(None)):
            return None
        temp = self._new_temp()
        lit_code = py_literal(lit)
        if op in _ORDERING:
            self.uses.add("NUMERIC")
            comparison = f"{temp} {op.value} {lit_code}"
            if negate:
                comparison = f"not ({comparison})"
            return f"(({temp} := {self.subject(subject)}).__class__ in NUMERIC and {comparison})"
        want_equal = (op is BinaryOp.EQ) != negate
        if want_equal:
            if is_number:
                self.uses.add("NUMERIC")
                return (
                    f"(({temp} := {self.subject(subject)}).__class__ in NUMERIC "
                    f"and {temp} == {lit_code})"
                )
            if isinstance(lit, str):
                return f"{self.subject(subject)} == {lit_code}"
            if isinstance(lit, bool):
                return f"{self.subject(subject)} is {lit_code}"
            return f"{self.value(subject)} is None"  # absent is MISSING, not null
        # Exactly false: both present and different (values of different types differ, D2).
        self.uses.add("MISSING")
        if is_number:
            self.uses.add("NUMERIC")
            subject_code = self.value(subject)
            return (
                f"((({temp} := {subject_code}).__class__ in NUMERIC and {temp} != {lit_code})"
                f" or ({temp}.__class__ not in NUMERIC and {temp} is not MISSING))"
            )
        if isinstance(lit, (str, bool)) or lit is None:
            differs = "!=" if isinstance(lit, str) else "is not"
            subject_code = self.value(subject)
            return f"(({temp} := {subject_code}) is not MISSING and {temp} {differs} {lit_code})"
        return None

    def subject(self, e: Expr) -> str:
        """Code for an operand whose MISSING and null outcomes are treated alike."""
        name = self.is_plain_field(e)
        if name is not None:
            return f"{self.fields}.get({py_literal(name)})"
        return self.value(e)

    # -- constant folding --------------------------------------------------------------

    def fold(self, e: Expr) -> Any:
        """The value of `e` if it depends on no event field, else `NOT_CONSTANT`."""
        if self.overrides and unparse(e) in self.overrides:
            return NOT_CONSTANT
        match e:
            case Literal(value=value):
                return value
            case Name(name=name):
                return self.constants.get(name, NOT_CONSTANT)
            case Binary(op=op, left=left, right=right):
                if op in _MISSING_OPS:
                    return MISSING
                a, b = self.fold(left), self.fold(right)
                if a is NOT_CONSTANT or b is NOT_CONSTANT:
                    return NOT_CONSTANT
                if op in (BinaryOp.RANGE, BinaryOp.RANGE_INCLUSIVE):
                    return rt_values.v_range(a, b, op is BinaryOp.RANGE_INCLUSIVE)
                return getattr(rt_values, _BINARY_FUNCTIONS[op])(a, b)
            case Unary(op=op, operand=operand):
                a = self.fold(operand)
                if a is NOT_CONSTANT:
                    return NOT_CONSTANT
                if op is UnaryOp.NEG:
                    return rt_values.v_neg(a)
                return rt_values.v_not(a) if op is UnaryOp.NOT else MISSING
            case Call(func=func, args=args):
                arity = rt_builtins.BUILTIN_ARITY.get(func)
                if arity is None or not arity[0] <= len(args) <= arity[1]:
                    return MISSING
                folded = [self.fold(a) for a in args]
                if any(v is NOT_CONSTANT for v in folded):
                    return NOT_CONSTANT
                return getattr(rt_builtins, rt_builtins.BUILTIN_IMPL[func])(*folded)
            case ArrayLit(items=items):
                values = [self.fold(i) for i in items]
                if any(v is NOT_CONSTANT for v in values):
                    return NOT_CONSTANT
                return MISSING if any(v is MISSING for v in values) else values
            case MapLit(items=pairs):
                folded_values = [self.fold(v) for _, v in pairs]
                if any(v is NOT_CONSTANT for v in folded_values):
                    return NOT_CONSTANT
                if any(v is MISSING for v in folded_values):
                    return MISSING
                return {k: v for (k, _), v in zip(pairs, folded_values, strict=True)}
        return NOT_CONSTANT  # the rest depends on the event


def _arithmetic_depth(e: Expr) -> int:
    """How many levels of `+ - *` stack up in `e` (0 for anything else). Inline arithmetic
    is kept shallow: `a * b + c` is what programs write, and black takes time exponential
    in the depth of nested conditional expressions."""
    if isinstance(e, Binary) and e.op in _INLINE_ARITHMETIC:
        return 1 + max(_arithmetic_depth(e.left), _arithmetic_depth(e.right))
    return 0


def _conjuncts(e: Expr) -> list[Expr]:
    """The operands of a chain `a and b and ...`, without recursion (chains can be long)."""
    found: list[Expr] = []
    pending = [e]
    while pending:
        item = pending.pop()
        if isinstance(item, Binary) and item.op is BinaryOp.AND:
            pending += [item.right, item.left]
        else:
            found.append(item)
    return found


class _NotConstant:
    __slots__ = ()


NOT_CONSTANT: Any = _NotConstant()

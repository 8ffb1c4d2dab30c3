"""`.aggregate(...)` items (SEMANTICS §7, D5, D6, D6b): aggregate calls, their types, E070-E074.

An item is an expression whose leaves are aggregate calls, literals or constants; builtin
scalar functions may combine them (`round(avg(x))`). An aggregate call's argument is a
per-event expression typed against the schema before the aggregate.
"""

from __future__ import annotations

from vplc.check.builtins import BUILTIN_ARITY
from vplc.check.exprs import Env, ExprTyper
from vplc.check.model import AggCall, AggFunc, AggregateItem, Item
from vplc.check.types import DYNAMIC, Schema, Ty, derived
from vplc.diagnostics import error
from vplc.frontend import syntax

AGGREGATE_FUNCS: dict[str, AggFunc] = {func.value: func for func in AggFunc}

_ONE_ARG = frozenset(
    {
        AggFunc.SUM,
        AggFunc.AVG,
        AggFunc.MIN,
        AggFunc.MAX,
        AggFunc.STDDEV,
        AggFunc.FIRST,
        AggFunc.LAST,
        AggFunc.COUNT_DISTINCT,
        AggFunc.COLLECT,
    }
)
_INT_RESULT = frozenset({AggFunc.COUNT, AggFunc.COUNT_DISTINCT})


class AggregateItemTyper(ExprTyper):
    """Types one item expression, collecting its aggregate calls in source order."""

    def __init__(self, env: Env, input_schema: Schema) -> None:
        super().__init__(env, DYNAMIC)
        self.per_event = ExprTyper(env, input_schema)
        self.calls: list[AggCall] = []

    def name(self, expr: syntax.Name) -> Ty:
        constant = self.env.constants.get(expr.name)
        if constant is not None:
            return constant
        self.env.report(
            error(
                "E073",
                f"aggregate item reads field '{expr.name}' outside an aggregate function "
                f"(use e.g. last({expr.name}))",
                expr.span,
            )
        )
        return Ty.ANY

    def call(self, expr: syntax.Call) -> Ty:
        func = AGGREGATE_FUNCS.get(expr.func)
        if func is not None:
            return self._aggregate(func, expr)
        if expr.func in BUILTIN_ARITY:
            return super().call(expr)  # combines aggregate results (D6b)
        self.env.report(error("E070", f"unknown aggregate function '{expr.func}'", expr.func_span))
        return Ty.ANY

    def _aggregate(self, func: AggFunc, call: syntax.Call) -> Ty:
        arg, param = self._arguments(func, call)
        if func is AggFunc.COUNT and arg is not None and _is_distinct(arg):
            func = AggFunc.COUNT_DISTINCT
            arg = _distinct_arg(arg)
        arg_type = self.per_event.infer(arg) if arg is not None else Ty.ANY
        if func is AggFunc.COUNT:
            arg = None  # `count(x)` counts events, whatever x is (Ref)
        self.calls.append(AggCall(func, arg, param, call))
        if func in _INT_RESULT:
            return Ty.INT
        if func in (AggFunc.FIRST, AggFunc.LAST):
            return arg_type
        return Ty.ARRAY if func is AggFunc.COLLECT else Ty.FLOAT

    def _arguments(
        self, func: AggFunc, call: syntax.Call
    ) -> tuple[syntax.Expr | None, int | float | None]:
        """The per-event argument and the literal parameter, reporting E071/E072/E074."""
        args = call.args
        if func is AggFunc.COUNT:
            self._too_many(call, 1)
            return (args[0] if args else None), None
        if func in _ONE_ARG:
            if not args:
                self.env.report(
                    error("E071", f"aggregate '{call.func}' needs an argument", call.span)
                )
                return None, None
            self._too_many(call, 1)
            return args[0], None
        if len(args) < 2:
            self.env.report(error("E072", f"aggregate '{call.func}' needs 2 arguments", call.span))
            return (args[0] if args else None), None
        self._too_many(call, 2)
        return args[0], self._param(func, args[1])

    def _param(self, func: AggFunc, expr: syntax.Expr) -> int | float | None:
        """ema's n (a positive int literal) or percentile's p (a number in [0, 100])."""
        literal = expr if isinstance(expr, syntax.Literal) else None
        value = literal.value if literal is not None else None
        if func is AggFunc.EMA:
            if literal is not None and literal.kind is syntax.LiteralKind.INT:
                assert isinstance(value, int)
                if value > 0:
                    return value
            message = "ema's period must be a positive integer literal"
        else:
            numeric = (syntax.LiteralKind.INT, syntax.LiteralKind.FLOAT)
            if literal is not None and literal.kind in numeric:
                assert isinstance(value, (int, float))
                if 0 <= value <= 100:
                    return value
            message = "percentile's rank must be a number literal between 0 and 100"
        self.env.report(error("E072", message, expr.span))
        return None

    def _too_many(self, call: syntax.Call, most: int) -> None:
        if len(call.args) > most:
            self.env.report(
                error(
                    "E074",
                    f"aggregate '{call.func}' takes at most {most} argument(s)",
                    call.args[most].span,
                )
            )


def _is_distinct(expr: syntax.Expr) -> bool:
    return isinstance(expr, syntax.Call) and expr.func == "distinct" and len(expr.args) == 1


def _distinct_arg(expr: syntax.Expr) -> syntax.Expr:
    assert isinstance(expr, syntax.Call)
    return expr.args[0]


def check_aggregate_items(
    items: list[Item], env: Env, schema: Schema, partition: str | None, origin: str
) -> tuple[tuple[AggregateItem, ...], Schema]:
    """The typed items and the schema of the results (D10: `_partition` and the partition
    field first when partitioned, an item of the same name replacing the field)."""
    result: list[AggregateItem] = []
    fields: list[tuple[str, Ty]] = []
    if partition is not None:
        key_type = schema.field_type(partition)
        fields += [("_partition", Ty.STR), (partition, key_type or Ty.ANY)]
    for item in items:
        typer = AggregateItemTyper(env, schema)
        ty = typer.infer(item.value)
        result.append(AggregateItem(item.name, item.value, tuple(typer.calls), item.span))
        fields.append((item.name, ty))
    return tuple(result), derived(fields, origin)

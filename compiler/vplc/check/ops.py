"""One stream's operations (SEMANTICS §5.2): generic `Op` calls become typed model ops.

`StreamChecker` walks the ops left to right, keeping what later ops depend on: the schema of
the events at that point (D21), whether a window or an aggregate came before, the field of
the last `.partition_by`, the worker pool. Every problem is reported to the environment and
the op is dropped, so checking goes on and all errors are collected.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from vplc.check.aggregates import check_aggregate_items
from vplc.check.concurrent import after_pool, check_concurrent
from vplc.check.exprs import Env, ExprTyper
from vplc.check.model import (
    Aggregate,
    Concurrent,
    Distinct,
    Emit,
    Item,
    Origin,
    PartitionBy,
    Print,
    Select,
    StreamOp,
    Where,
)
from vplc.check.settings import (
    check_allowed_lateness,
    check_limit,
    check_log,
    check_watermark,
)
from vplc.check.types import Schema, Ty, derived
from vplc.check.window import check_window
from vplc.diagnostics import error, warning
from vplc.frontend import syntax
from vplc.frontend.syntax import BinaryOp, LiteralKind, UnaryOp

_ARITHMETIC = frozenset(
    {BinaryOp.ADD, BinaryOp.SUB, BinaryOp.MUL, BinaryOp.DIV, BinaryOp.MOD, BinaryOp.POW}
)
# Reserved by the grammar, rejected until specified (§2).
_UNSUPPORTED = frozenset({"process", "on_error"})


@dataclass
class StreamResult:
    """What checking one stream produced."""

    ops: list[StreamOp] = field(default_factory=list)
    context: str | None = None
    emit_contexts: list[tuple[str, syntax.Span]] = field(default_factory=list)
    pools: list[tuple[int, syntax.Span]] = field(default_factory=list)  # op index, name
    schema: Schema | None = None  # of the events leaving the stream


class StreamChecker:
    """Checks the ops of one stream, starting from the schema of its input events."""

    def __init__(
        self,
        env: Env,
        source: Callable[[syntax.Span], str],
        schema: Schema,
        contexts: Collection[str],
        events: Collection[str],
    ) -> None:
        self.env = env
        self.source_text = source
        self.schema = schema
        self.contexts = contexts
        self.events = events
        self.result = StreamResult()
        self.window_seen = False
        self.aggregate_seen = False
        self.partition: syntax.Name | None = None
        self.pool: Concurrent | None = None
        self.pool_seen = False
        self.context_span: syntax.Span | None = None
        self._handlers: dict[str, Callable[[syntax.Op, Origin], StreamOp | None]] = {
            "where": self._where,
            "having": self._having,
            "select": self._select,
            "emit": self._emit,
            "print": self._print,
            "log": lambda op, origin: check_log(op, origin, self.typer),
            "partition_by": self._partition_by,
            "window": self._window,
            "aggregate": self._aggregate,
            "distinct": self._distinct,
            "limit": lambda op, origin: check_limit(op, origin, self.env),
            "watermark": lambda op, origin: check_watermark(op, origin, self.env),
            "allowed_lateness": lambda op, origin: check_allowed_lateness(op, origin, self.env),
            "concurrent": self._concurrent,
        }

    def run(self, ops: tuple[syntax.Op, ...]) -> StreamResult:
        """Check every op in order; the result's schema is the stream's output schema."""
        for op in ops:
            self._op(op)
        self.result.schema = self.schema
        return self.result

    @property
    def typer(self) -> ExprTyper:
        return ExprTyper(self.env, self.schema)

    def _op(self, op: syntax.Op) -> None:
        if op.name == "context":
            self._context(op)
            return
        if op.name in _UNSUPPORTED:
            self._report_error("E090", f"'.{op.name}' is not supported yet", op.name_span)
            return
        handler = self._handlers.get(op.name)
        if handler is None:
            self._report_error("E091", f"unknown stream operation '{op.name}'", op.name_span)
            return
        if op.as_type is not None and op.name != "emit":
            span = op.as_type_span or op.name_span
            self._report_error("E092", f"'as {op.as_type}' is only allowed on '.emit'", span)
        if self.pool is not None and op.name != "concurrent":
            problem = after_pool(self.pool, op, self.partition, self.env.constants)
            if problem is not None:
                self.env.report(problem)
        origin = Origin(op.span.line, op.span.column, self.source_text(op.span))
        checked = handler(op, origin)
        if checked is not None:
            self.result.ops.append(checked)

    def _report_error(self, code: str, message: str, span: syntax.Span) -> None:
        self.env.report(error(code, message, span))

    # -- argument shapes ----------------------------------------------------------------

    def _one_positional(self, op: syntax.Op, what: str) -> syntax.Expr | None:
        if len(op.args) == 1 and op.args[0].name is None:
            return op.args[0].value
        span = op.args[0].span if op.args else op.name_span
        self._report_error("E092", f"'.{op.name}' takes exactly one {what}", span)
        return None

    def _positional_only(self, op: syntax.Op) -> list[syntax.Expr]:
        for arg in op.args:
            if arg.name is not None:
                self._report_error(
                    "E092", f"'.{op.name}' takes no named arguments", arg.name_span or arg.span
                )
        return [arg.value for arg in op.args if arg.name is None]

    def _items(self, args: tuple[syntax.Arg, ...], op: syntax.Op) -> list[Item]:
        """`name: e` items; a bare name `x` means `x: x`."""
        items: list[Item] = []
        for arg in args:
            if arg.name is not None:
                items.append(Item(arg.name, arg.value, arg.span))
            elif isinstance(arg.value, syntax.Name):
                items.append(Item(arg.value.name, arg.value, arg.span))
            else:
                self._report_error(
                    "E092",
                    f"an argument of '.{op.name}' needs a name (name: expression)",
                    arg.span,
                )
        return items

    # -- filters ------------------------------------------------------------------------

    def _where(self, op: syntax.Op, origin: Origin) -> StreamOp | None:
        cond = self._one_positional(op, "condition")
        if cond is None:
            return None
        self.check_condition(cond)
        return Where(cond, origin)

    def _having(self, op: syntax.Op, origin: Origin) -> StreamOp | None:
        if not self.aggregate_seen:
            self._report_error("E010", "'.having' must come after an '.aggregate'", op.name_span)
        cond = self._one_positional(op, "condition")
        if cond is None:
            return None
        self.check_condition(cond)
        return Where(cond, origin, is_having=True)

    def check_condition(self, cond: syntax.Expr) -> None:
        """E060 for a non-boolean literal, E021 for a provably non-boolean condition,
        W060 for an arithmetic one of unknown type."""
        if isinstance(cond, syntax.Literal) and cond.kind is not LiteralKind.BOOL:
            self._report_error(
                "E060",
                f"condition is {_article(cond.kind.value)} {cond.kind.value} literal, "
                "not a boolean",
                cond.span,
            )
            return
        ty = self.typer.infer(cond)
        if ty not in (Ty.ANY, Ty.BOOL):
            self._report_error("E021", f"condition has type '{ty.value}', not 'bool'", cond.span)
        elif ty is Ty.ANY and _is_arithmetic(cond):
            self.env.report(
                warning("W060", "condition is arithmetic, not boolean (it never passes)", cond.span)
            )

    def source_filter(self, ops: tuple[syntax.Op, ...]) -> syntax.Expr | None:
        """The AND of a merge entry's `.where` conditions; other ops are E015 there."""
        conditions: list[syntax.Expr] = []
        for op in ops:
            if op.name != "where":
                self._report_error(
                    "E015", "only '.where' is allowed in a merge source", op.name_span
                )
                continue
            cond = self._one_positional(op, "condition")
            if cond is not None:
                self.check_condition(cond)
                conditions.append(cond)
        if not conditions:
            return None
        combined = conditions[0]
        for cond in conditions[1:]:
            # No `and` token exists: the operator span is the added condition's.
            combined = syntax.Binary(
                BinaryOp.AND, combined, cond, combined.span.to(cond.span), cond.span
            )
        return combined

    # -- projections --------------------------------------------------------------------

    def _select(self, op: syntax.Op, origin: Origin) -> StreamOp | None:
        items = self._items(op.args, op)
        self._project(items, f"'.select' on line {op.span.line}")
        return Select(tuple(items), origin)

    def _emit(self, op: syntax.Op, origin: Origin) -> StreamOp | None:
        context: str | None = None
        for arg in op.args:
            if arg.name == "context":
                context = self._emit_context(arg)
        items = self._items(tuple(a for a in op.args if a.name != "context"), op)
        if op.as_type is not None and op.as_type not in self.events:
            self.env.report(
                warning(
                    "W031",
                    f"'emit as {op.as_type}': no event '{op.as_type}' is declared",
                    op.as_type_span or op.name_span,
                )
            )
        self._project(items, f"'.emit' on line {op.span.line}")
        return Emit(tuple(items), origin, op.as_type, context)

    def _emit_context(self, arg: syntax.Arg) -> str | None:
        value = arg.value
        if not isinstance(value, syntax.Name):
            self._report_error("E092", "'context:' needs a context name", value.span)
            return None
        if value.name not in self.contexts:
            self._report_error("E031", f"undefined context '{value.name}'", value.span)
            return None
        self.result.emit_contexts.append((value.name, value.span))
        return value.name

    def _project(self, items: list[Item], origin: str) -> None:
        typer = self.typer
        fields = [(item.name, typer.infer(item.value)) for item in items]
        self.schema = derived(fields, origin)

    # -- side effects -------------------------------------------------------------------

    def _print(self, op: syntax.Op, origin: Origin) -> StreamOp | None:
        args = self._positional_only(op)
        typer = self.typer
        for arg in args:
            typer.infer(arg)
        return Print(tuple(args), origin)

    # -- partitions, windows, aggregates ------------------------------------------------

    def _partition_by(self, op: syntax.Op, origin: Origin) -> StreamOp | None:
        arg = op.args[0].value if len(op.args) == 1 and op.args[0].name is None else None
        if not isinstance(arg, syntax.Name) or arg.name in self.env.constants:
            span = op.args[0].span if op.args else op.name_span
            self._report_error("E014", "'.partition_by' takes one field name", span)
            return None
        self.typer.infer(arg)
        if self.window_seen:
            self.env.report(
                warning(
                    "W002",
                    "'.partition_by' after '.window' partitions only the aggregate",
                    op.name_span,
                )
            )
        self.partition = arg
        return PartitionBy(arg.name, origin)

    def _window(self, op: syntax.Op, origin: Origin) -> StreamOp | None:
        if self.window_seen:
            self._report_error("E012", "a stream can have only one '.window'", op.name_span)
            return None
        if self.aggregate_seen:  # D30: the window would collect one-event aggregates
            self._report_error("E018", "'.window' must come before '.aggregate'", op.name_span)
            return None
        self.window_seen = True
        return check_window(op, origin, self.env)

    def _aggregate(self, op: syntax.Op, origin: Origin) -> StreamOp | None:
        if self.aggregate_seen:
            self._report_error("E011", "a stream can have only one '.aggregate'", op.name_span)
            return None
        self.aggregate_seen = True
        if not self.window_seen:
            self.env.report(
                warning(
                    "W001",
                    "'.aggregate' without a '.window' aggregates each event alone",
                    op.name_span,
                )
            )
        items = self._items(op.args, op)
        partition = self.partition.name if self.partition is not None else None
        checked, self.schema = check_aggregate_items(
            items, self.env, self.schema, partition, f"'.aggregate' on line {op.span.line}"
        )
        return Aggregate(checked, origin)

    # -- stream-level settings ----------------------------------------------------------

    def _distinct(self, op: syntax.Op, origin: Origin) -> StreamOp | None:
        args = self._positional_only(op)
        if len(args) > 1:
            self._report_error("E092", "'.distinct' takes at most one key", args[1].span)
            return None
        if args:
            self.typer.infer(args[0])
        return Distinct(args[0] if args else None, origin)

    def _concurrent(self, op: syntax.Op, origin: Origin) -> StreamOp | None:
        if self.pool_seen:
            self._report_error("E101", "a stream can have only one '.concurrent'", op.name_span)
            return None
        self.pool_seen = True
        pool = check_concurrent(op, origin, self.typer, self.partition)
        if pool is not None:
            self.pool = pool
            self.result.pools.append((len(self.result.ops), op.name_span))
        return pool

    def _context(self, op: syntax.Op) -> None:
        arg = self._one_positional(op, "context name")
        if arg is None:
            return
        if not isinstance(arg, syntax.Name):
            self._report_error("E092", "'.context' takes a context name", arg.span)
        elif arg.name not in self.contexts:
            self._report_error("E031", f"undefined context '{arg.name}'", arg.span)
        elif self.context_span is not None:
            self._report_error("E092", "a stream can have only one '.context'", op.name_span)
        else:
            self.context_span = op.name_span
            self.result.context = arg.name


def _is_arithmetic(expr: syntax.Expr) -> bool:
    if isinstance(expr, syntax.Binary):
        return expr.op in _ARITHMETIC
    return isinstance(expr, syntax.Unary) and expr.op is UnaryOp.NEG


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"

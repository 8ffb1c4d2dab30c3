"""The checked program: what the checker proves about a VPL program, and all the planner reads.

Names are resolved, every stream op is a typed value instead of a generic call, window sizes
are numbers, aggregate calls are identified. Expressions stay syntax trees (`vplc.frontend.syntax`):
the code generator compiles them, and they carry spans for error messages and comments.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from vplc.diagnostics import Diagnostic
from vplc.frontend.syntax import Call, Expr, Span


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an op came from, for the comment above its generated code:
    `text` is the op's source with whitespace collapsed to single spaces."""

    line: int
    column: int
    text: str


# ---------------------------------------------------------------------------------------
# Stream ops (SEMANTICS §5.2)


@dataclass(frozen=True, slots=True)
class Where:
    """`.where(cond)`, or `.having(cond)` (`is_having`), which behaves the same."""

    cond: Expr
    origin: Origin
    is_having: bool = False


@dataclass(frozen=True, slots=True)
class Item:
    """`name: value` in `.select`, `.emit` or `.aggregate` (`x` alone is `x: x`)."""

    name: str
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Select:
    items: tuple[Item, ...]
    origin: Origin


@dataclass(frozen=True, slots=True)
class Emit:
    """`.emit(...)` / `.emit as T(...)`; `context` is the `context:` argument (not a field)."""

    items: tuple[Item, ...]
    origin: Origin
    as_type: str | None = None
    context: str | None = None


@dataclass(frozen=True, slots=True)
class Print:
    args: tuple[Expr, ...]
    origin: Origin


@dataclass(frozen=True, slots=True)
class Log:
    level: Expr | None
    message: Expr | None
    data: Expr | None
    origin: Origin


@dataclass(frozen=True, slots=True)
class PartitionBy:
    field: str
    origin: Origin


class WindowKind(enum.Enum):
    COUNT = "count"  # size = N events
    SLIDING_COUNT = "sliding_count"  # size = N events, slide = M events
    TUMBLING_TIME = "tumbling_time"  # size = D ms
    SLIDING_TIME = "sliding_time"  # size = D ms, slide = S ms
    SESSION = "session"  # size = gap G ms


@dataclass(frozen=True, slots=True)
class Window:
    kind: WindowKind
    size: int
    slide: int | None
    origin: Origin


class AggFunc(enum.Enum):
    COUNT = "count"
    SUM = "sum"
    AVG = "avg"
    MIN = "min"
    MAX = "max"
    STDDEV = "stddev"
    FIRST = "first"
    LAST = "last"
    COUNT_DISTINCT = "count_distinct"  # also `count(distinct(x))`
    EMA = "ema"
    PERCENTILE = "percentile"
    COLLECT = "collect"


@dataclass(frozen=True, slots=True)
class AggCall:
    """One aggregate call inside an aggregate item.

    `arg` is the per-event expression (None for `count()`; `count(x)` ignores x, so also
    None); `param` is ema's n (int) or percentile's p (int or float). `call` is the syntax
    node, which is how the item expression refers to this call's result.
    """

    func: AggFunc
    arg: Expr | None
    param: int | float | None
    call: Call


@dataclass(frozen=True, slots=True)
class AggregateItem:
    """`name: expr` where the leaves of expr are aggregate calls, literals or constants."""

    name: str
    expr: Expr
    calls: tuple[AggCall, ...]  # in the order they appear in expr
    span: Span


@dataclass(frozen=True, slots=True)
class Aggregate:
    items: tuple[AggregateItem, ...]
    origin: Origin


@dataclass(frozen=True, slots=True)
class Distinct:
    key: Expr | None  # None: the whole event, field order ignored
    origin: Origin


@dataclass(frozen=True, slots=True)
class Limit:
    count: int
    origin: Origin


@dataclass(frozen=True, slots=True)
class Watermark:
    out_of_order_ms: int
    origin: Origin


@dataclass(frozen=True, slots=True)
class AllowedLateness:
    lateness_ms: int
    origin: Origin


class Strategy(enum.Enum):
    CONSISTENT_HASH = "consistent_hash"
    ROUND_ROBIN = "round_robin"
    BROADCAST = "broadcast"


@dataclass(frozen=True, slots=True)
class Concurrent:
    """`.concurrent(...)` with defaults resolved (SEMANTICS §10)."""

    workers: int
    strategy: Strategy
    key: Expr | None
    ordered: bool
    origin: Origin


StreamOp = (
    Where
    | Select
    | Emit
    | Print
    | Log
    | PartitionBy
    | Window
    | Aggregate
    | Distinct
    | Limit
    | Watermark
    | AllowedLateness
    | Concurrent
)


# ---------------------------------------------------------------------------------------
# Declarations


@dataclass(frozen=True, slots=True)
class SourceRef:
    """One input of a stream: events of type `name` (input events of that type and output
    events of the stream called `name`), admitted only if `filter` is exactly true."""

    name: str
    filter: Expr | None
    span: Span


@dataclass(frozen=True, slots=True)
class Stream:
    name: str
    sources: tuple[SourceRef, ...]  # one for `= Name`, several for `merge(...)`
    ops: tuple[StreamOp, ...]  # in source order, without `.context(...)`
    context: str | None  # from `.context(c)`; None: the default context
    span: Span  # the stream's name


@dataclass(frozen=True, slots=True)
class FieldType:
    """A declared event field; `type` is the declaration's text, e.g. `float` or `[int]`."""

    name: str
    type: str
    optional: bool


@dataclass(frozen=True, slots=True)
class EventSchema:
    name: str
    fields: tuple[FieldType, ...]  # including inherited ones (`extends`)


@dataclass(frozen=True, slots=True)
class Context:
    name: str
    cores: tuple[int, ...]  # empty: not pinned
    span: Span


@dataclass(frozen=True, slots=True)
class Binding:
    """One top-level evaluation, in program order: a `let/var/const` or a `:=`."""

    name: str
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class CheckedProgram:
    filename: str  # base name of the source file, e.g. "orders.vpl"
    streams: tuple[Stream, ...]  # declaration order
    events: tuple[EventSchema, ...]
    contexts: tuple[Context, ...]
    bindings: tuple[Binding, ...]
    constant_names: frozenset[str]  # every name declared with let/var/const (D3)
    warnings: tuple[Diagnostic, ...] = field(default=())

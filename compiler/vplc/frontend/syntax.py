"""The VPL syntax tree: what the parser produces and the checker reads.

Every node is an immutable value with a `span` pointing at its source text. Nodes carry
no meaning beyond the syntax: names are unresolved, stream ops are generic `Op` calls whose
arguments the checker interprets (so an unknown op or argument gets a positioned error
instead of a parse error).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    """1-based line and column of the first character; end is exclusive."""

    line: int
    column: int
    end_line: int
    end_column: int

    def to(self, other: Span) -> Span:
        """The span from the start of `self` to the end of `other`."""
        return Span(self.line, self.column, other.end_line, other.end_column)


# ---------------------------------------------------------------------------------------
# Expressions


class LiteralKind(enum.Enum):
    INT = "int"
    FLOAT = "float"
    STR = "str"
    BOOL = "bool"
    NULL = "null"
    DURATION = "duration"  # value: int milliseconds (truncated), D13
    TIMESTAMP = "timestamp"  # value: int milliseconds since the Unix epoch, D13


@dataclass(frozen=True, slots=True)
class Literal:
    """A scalar literal. `value` is already decoded: str escapes resolved (D17),
    durations and timestamps converted to int ms (D13)."""

    kind: LiteralKind
    value: int | float | str | bool | None
    span: Span


@dataclass(frozen=True, slots=True)
class Name:
    """A bare identifier in expression position: a constant or an event field."""

    name: str
    span: Span


class BinaryOp(enum.Enum):
    ADD = "+"
    SUB = "-"
    MUL = "*"
    DIV = "/"
    MOD = "%"
    POW = "**"
    SHL = "<<"
    SHR = ">>"
    BIT_AND = "&"
    BIT_XOR = "^"
    BIT_OR = "|"
    EQ = "=="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    IN = "in"
    NOT_IN = "not in"
    IS = "is"
    AND = "and"
    OR = "or"
    RANGE = ".."
    RANGE_INCLUSIVE = "..="


class UnaryOp(enum.Enum):
    NEG = "-"
    BIT_NOT = "~"
    NOT = "not"


@dataclass(frozen=True, slots=True)
class Binary:
    op: BinaryOp
    left: Expr
    right: Expr
    span: Span  # the whole expression
    op_span: Span  # the operator token


@dataclass(frozen=True, slots=True)
class Unary:
    op: UnaryOp
    operand: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Call:
    """`name(args)`: a builtin scalar function, or an aggregate inside `.aggregate`."""

    func: str
    func_span: Span
    args: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Index:
    target: Expr
    index: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Slice:
    target: Expr
    start: Expr | None
    end: Expr | None
    span: Span


@dataclass(frozen=True, slots=True)
class Attribute:
    """`target.name` (always MISSING at run time: sequence aliases are out of scope)."""

    target: Expr
    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class IfExpr:
    cond: Expr
    then: Expr
    otherwise: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class ArrayLit:
    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class MapLit:
    """`{k: e, "k2": e}`: keys are names or string literals, kept as str."""

    items: tuple[tuple[str, Expr], ...]
    span: Span


Expr = (
    Literal | Name | Binary | Unary | Call | Index | Slice | Attribute | IfExpr | ArrayLit | MapLit
)


# ---------------------------------------------------------------------------------------
# Stream operations


@dataclass(frozen=True, slots=True)
class Arg:
    """One argument of a stream op: positional (`name is None`) or `name: value`."""

    name: str | None
    value: Expr
    span: Span  # the whole argument
    name_span: Span | None


@dataclass(frozen=True, slots=True)
class Op:
    """`.name(args)`; for `.emit as T(args)`, `name == "emit"` and `as_type == "T"`."""

    name: str
    args: tuple[Arg, ...]
    span: Span  # from the dot to the closing parenthesis
    name_span: Span
    as_type: str | None = None
    as_type_span: Span | None = None


@dataclass(frozen=True, slots=True)
class SourceName:
    """A stream source that is an identifier: an event type and/or a stream name."""

    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class MergeSource:
    """One entry of `merge(...)`: `stream Label = Type .where(e)` or a bare `Type`."""

    label: str | None
    name: str
    name_span: Span
    ops: tuple[Op, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Merge:
    sources: tuple[MergeSource, ...]
    span: Span


Source = SourceName | Merge


# ---------------------------------------------------------------------------------------
# Types in event and constant declarations


@dataclass(frozen=True, slots=True)
class NamedType:
    """`int`, `float`, `bool`, `str`, `timestamp`, `duration` or another name."""

    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class ListType:
    item: TypeExpr
    span: Span


@dataclass(frozen=True, slots=True)
class MapType:
    key: TypeExpr
    value: TypeExpr
    span: Span


@dataclass(frozen=True, slots=True)
class TupleType:
    items: tuple[TypeExpr, ...]
    span: Span


TypeExpr = NamedType | ListType | MapType | TupleType


# ---------------------------------------------------------------------------------------
# Statements


@dataclass(frozen=True, slots=True)
class FieldDecl:
    name: str
    type: TypeExpr
    optional: bool
    span: Span


@dataclass(frozen=True, slots=True)
class EventDecl:
    name: str
    name_span: Span
    fields: tuple[FieldDecl, ...]
    extends: str | None
    extends_span: Span | None
    span: Span


@dataclass(frozen=True, slots=True)
class CoreRef:
    index: int
    span: Span


@dataclass(frozen=True, slots=True)
class ContextDecl:
    name: str
    name_span: Span
    cores: tuple[CoreRef, ...] | None
    span: Span


class BindingKind(enum.Enum):
    LET = "let"
    VAR = "var"
    CONST = "const"


@dataclass(frozen=True, slots=True)
class ConstDecl:
    """`let|var|const NAME [: T] = value`."""

    kind: BindingKind
    name: str
    name_span: Span
    type: TypeExpr | None
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Assign:
    """Top-level `NAME := value`."""

    name: str
    name_span: Span
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class StreamDecl:
    name: str
    name_span: Span
    source: Source
    ops: tuple[Op, ...]
    span: Span


Statement = EventDecl | ContextDecl | ConstDecl | Assign | StreamDecl


@dataclass(frozen=True, slots=True)
class Program:
    statements: tuple[Statement, ...]
    span: Span

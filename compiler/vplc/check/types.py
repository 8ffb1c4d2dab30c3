"""The checker's small type lattice and the schemas of events flowing through streams (D21).

A schema says which fields an event may carry and their types, or that nothing is known
(`fields is None`: an undeclared event type, whose fields stay dynamic). A schema whose
`events` is non-empty holds exactly the fields of declared event types read directly, where
an unknown field is an error (E020); any other known schema comes from stream operations,
where an unknown field is only a warning (W040, always MISSING).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NoReturn

from vplc.frontend import syntax
from vplc.frontend.syntax import LiteralKind


def assert_never(value: NoReturn) -> NoReturn:
    """`typing.assert_never` (3.11+) for Python 3.10: mypy flags a reachable call."""
    raise AssertionError(f"unhandled case: {value!r}")


class Ty(enum.Enum):
    INT = "int"
    FLOAT = "float"
    NUM = "num"  # int or float
    STR = "str"
    BOOL = "bool"
    NULL = "null"
    ARRAY = "array"
    MAP = "map"
    ANY = "any"  # unknown: no type error can be proven


NUMERIC = frozenset({Ty.INT, Ty.FLOAT, Ty.NUM})

_LITERAL_TYPES: dict[LiteralKind, Ty] = {
    LiteralKind.INT: Ty.INT,
    LiteralKind.FLOAT: Ty.FLOAT,
    LiteralKind.STR: Ty.STR,
    LiteralKind.BOOL: Ty.BOOL,
    LiteralKind.NULL: Ty.NULL,
    LiteralKind.DURATION: Ty.INT,  # D13: milliseconds
    LiteralKind.TIMESTAMP: Ty.INT,
}

# Declared scalar types. `timestamp`/`duration` fields are documentation only: input values
# are never coerced, so their runtime representation is unknown.
_DECLARED_TYPES: dict[str, Ty] = {
    "int": Ty.INT,
    "float": Ty.FLOAT,
    "bool": Ty.BOOL,
    "str": Ty.STR,
}


def literal_type(kind: LiteralKind) -> Ty:
    """The type of a literal of this kind."""
    return _LITERAL_TYPES[kind]


def join(left: Ty, right: Ty) -> Ty:
    """The least type containing both."""
    if left is right:
        return left
    if left in NUMERIC and right in NUMERIC:
        return Ty.NUM
    return Ty.ANY


def declared_type(type_expr: syntax.TypeExpr) -> Ty:
    """The lattice type of a declared field type."""
    match type_expr:
        case syntax.NamedType(name=name):
            return _DECLARED_TYPES.get(name, Ty.ANY)
        case syntax.ListType():
            return Ty.ARRAY
        case syntax.MapType():
            return Ty.MAP
        case syntax.TupleType():
            return Ty.ANY
        case _:
            assert_never(type_expr)


def type_text(type_expr: syntax.TypeExpr) -> str:
    """The declaration's text of a type, normalised: `float`, `[int]`, `{str: int}`."""
    match type_expr:
        case syntax.NamedType(name=name):
            return name
        case syntax.ListType(item=item):
            return f"[{type_text(item)}]"
        case syntax.MapType(key=key, value=value):
            return f"{{{type_text(key)}: {type_text(value)}}}"
        case syntax.TupleType(items=items):
            return "(" + ", ".join(type_text(item) for item in items) + ")"
        case _:
            assert_never(type_expr)


Fields = tuple[tuple[str, Ty], ...]


@dataclass(frozen=True, slots=True)
class Schema:
    """The fields events may carry at one point of a stream (None: unknown, dynamic).

    `origin` names what produced the fields, for messages ("event 'Order'", "'.select'");
    `events` lists the declared event types read directly (non-empty: unknown fields are
    E020, otherwise W040).
    """

    fields: Fields | None
    origin: str = ""
    events: tuple[str, ...] = ()

    def field_type(self, name: str) -> Ty | None:
        """The type of field `name`, or None when the schema is known and lacks it."""
        if self.fields is None:
            return Ty.ANY
        for field_name, ty in self.fields:
            if field_name == name:
                return ty
        return None

    def names(self) -> tuple[str, ...]:
        return () if self.fields is None else tuple(name for name, _ in self.fields)


DYNAMIC = Schema(None)


def derived(items: Iterable[tuple[str, Ty]], origin: str) -> Schema:
    """A schema produced by an op: the listed fields, a later name replacing an earlier one."""
    fields: dict[str, Ty] = {}
    for name, ty in items:
        fields[name] = ty
    return Schema(tuple(fields.items()), origin)


def union(schemas: Iterable[Schema], origin: str) -> Schema:
    """The schema of events coming from any of `schemas`: dynamic if any one is.

    Fields present in only some inputs keep their type; `events` survives only when every
    input is a declared event type read directly.
    """
    fields: dict[str, Ty] = {}
    events: list[str] = []
    all_declared = True
    inputs = list(schemas)
    for schema in inputs:
        if schema.fields is None:
            return DYNAMIC
        all_declared = all_declared and bool(schema.events)
        events.extend(e for e in schema.events if e not in events)
        for name, ty in schema.fields:
            fields[name] = join(fields[name], ty) if name in fields else ty
    if len(inputs) == 1:
        return inputs[0]
    return Schema(tuple(fields.items()), origin, tuple(events) if all_declared else ())

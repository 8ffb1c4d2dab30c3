"""Top-level declarations: events (E001, `extends`), contexts (E005, E033) and constants
(E040, E050; SEMANTICS §3, D3)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from vplc.check.exprs import Env, ExprTyper
from vplc.check.model import Binding, Context, EventSchema, FieldType
from vplc.check.types import DYNAMIC, Schema, Ty, declared_type, type_text
from vplc.diagnostics import Diagnostic, error
from vplc.frontend import syntax
from vplc.frontend.syntax import BindingKind

_Decl = TypeVar("_Decl", syntax.EventDecl, syntax.ContextDecl)


@dataclass(frozen=True, slots=True)
class Declarations:
    events: tuple[EventSchema, ...]  # declaration order, inherited fields first
    event_schemas: Mapping[str, Schema]  # for streams reading the type directly (D21)
    contexts: tuple[Context, ...]
    context_names: frozenset[str]
    bindings: tuple[Binding, ...]
    constant_names: frozenset[str]
    constant_types: Mapping[str, Ty]  # type of each constant's last assigned value


def check_declarations(program: syntax.Program, diagnostics: list[Diagnostic]) -> Declarations:
    """Check every event, context and constant declaration of `program`."""
    statements = program.statements
    events = _unique(
        [s for s in statements if isinstance(s, syntax.EventDecl)], "E001", "event", diagnostics
    )
    contexts = _unique(
        [s for s in statements if isinstance(s, syntax.ContextDecl)],
        "E005",
        "context",
        diagnostics,
    )
    schemas, event_models = _EventResolver(events, diagnostics).resolve_all()
    checked_contexts = tuple(_context(decl, diagnostics) for decl in contexts.values())
    bindings, types, kinds = _bindings(statements, diagnostics)
    return Declarations(
        events=event_models,
        event_schemas=schemas,
        contexts=checked_contexts,
        context_names=frozenset(contexts),
        bindings=bindings,
        constant_names=frozenset(kinds),
        constant_types=types,
    )


def _unique(
    decls: list[_Decl], code: str, what: str, diagnostics: list[Diagnostic]
) -> dict[str, _Decl]:
    """First declaration of each name; later ones are reported at their name."""
    first: dict[str, _Decl] = {}
    for decl in decls:
        if decl.name in first:
            diagnostics.append(error(code, f"duplicate {what} '{decl.name}'", decl.name_span))
        else:
            first[decl.name] = decl
    return first


class _EventResolver:
    """Fields of each event including inherited ones; an unknown base (E003) or an
    inheritance cycle (E004) leaves the event's schema dynamic."""

    def __init__(
        self, decls: Mapping[str, syntax.EventDecl], diagnostics: list[Diagnostic]
    ) -> None:
        self.decls = decls
        self.diagnostics = diagnostics
        self.fields: dict[str, tuple[FieldType, ...]] = {}
        self.types: dict[str, dict[str, Ty] | None] = {}

    def resolve_all(self) -> tuple[dict[str, Schema], tuple[EventSchema, ...]]:
        schemas: dict[str, Schema] = {}
        models: list[EventSchema] = []
        for name in self.decls:
            types = self._resolve(name, ())
            models.append(EventSchema(name, self.fields[name]))
            if types is None:
                schemas[name] = DYNAMIC
            else:
                schemas[name] = Schema(tuple(types.items()), f"event '{name}'", (name,))
        return schemas, tuple(models)

    def _resolve(self, name: str, visiting: tuple[str, ...]) -> dict[str, Ty] | None:
        if name in self.types:
            return self.types[name]
        decl = self.decls[name]
        fields: dict[str, FieldType] = {}
        types: dict[str, Ty] | None = {}
        if decl.extends is not None:
            span = decl.extends_span or decl.name_span
            if decl.extends not in self.decls:
                self.diagnostics.append(
                    error("E003", f"event '{name}' extends unknown event '{decl.extends}'", span)
                )
                types = None
            elif decl.extends in visiting or decl.extends == name:
                self.diagnostics.append(error("E004", f"event '{name}' inherits from itself", span))
                types = None
            else:
                base_types = self._resolve(decl.extends, (*visiting, name))
                fields = {f.name: f for f in self.fields[decl.extends]}
                types = None if base_types is None else dict(base_types)
        for decl_field in decl.fields:
            fields[decl_field.name] = FieldType(
                decl_field.name, type_text(decl_field.type), decl_field.optional
            )
            if types is not None:
                types[decl_field.name] = declared_type(decl_field.type)
        self.fields[name] = tuple(fields.values())
        self.types[name] = types
        return types


def _context(decl: syntax.ContextDecl, diagnostics: list[Diagnostic]) -> Context:
    cores: list[int] = []
    for core in decl.cores or ():
        if core.index in cores:
            diagnostics.append(
                error("E033", f"core {core.index} is listed twice in '{decl.name}'", core.span)
            )
        else:
            cores.append(core.index)
    return Context(decl.name, tuple(cores), decl.name_span)


def _bindings(
    statements: tuple[syntax.Statement, ...], diagnostics: list[Diagnostic]
) -> tuple[tuple[Binding, ...], dict[str, Ty], dict[str, BindingKind]]:
    """Bindings in program order, the final type of each constant, and each one's kind.

    Initializers see only the constants declared before them (§3).
    """
    types: dict[str, Ty] = {}
    kinds: dict[str, BindingKind] = {}
    env = Env(types, diagnostics)
    bindings: list[Binding] = []
    for statement in statements:
        match statement:
            case syntax.ConstDecl():
                ty = ExprTyper(env, DYNAMIC, initializer=True).infer(statement.value)
                types[statement.name] = ty
                kinds[statement.name] = statement.kind
            case syntax.Assign():
                kind = kinds.get(statement.name)
                ty = ExprTyper(env, DYNAMIC, initializer=True).infer(statement.value)
                if kind is None:
                    diagnostics.append(
                        error(
                            "E040",
                            f"cannot assign to undeclared '{statement.name}'",
                            statement.name_span,
                        )
                    )
                elif kind is not BindingKind.VAR:
                    diagnostics.append(
                        error(
                            "E040",
                            f"cannot assign to {kind.value} '{statement.name}' "
                            "(only a var can be reassigned)",
                            statement.name_span,
                        )
                    )
                else:
                    types[statement.name] = ty
            case _:
                continue
        bindings.append(Binding(statement.name, statement.value, statement.span))
    return tuple(bindings), types, kinds

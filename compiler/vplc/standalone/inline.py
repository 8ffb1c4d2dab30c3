"""`vplc compile --standalone`: paste the parts of `vpl_runtime` a module uses into it.

A generated module imports run-time names with `from vpl_runtime.X import a, b`. Inlining
replaces those lines with the top-level statements of the runtime modules (see
`index`) that the names need, transitively, so the result runs on a bare Python.
The module's own imports and the runtime's standard-library imports are merged into one
sorted block; private runtime names that would clash are renamed (`_renames`); everything is
ordered by position or sorted, so the output is deterministic.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TypeAlias

from vplc import __version__
from vplc.standalone.index import (
    RUNTIME_PACKAGE,
    ImportedName,
    RuntimeLibrary,
    StandaloneError,
    Unit,
    bound_names,
    imported_names,
    is_docstring,
    line_span,
    runtime_import_names,
    runtime_library,
    runtime_origin,
)
from vplc.standalone.rename import is_private

__all__ = ["RuntimeLibrary", "StandaloneError", "inline_runtime", "inline_runtime_from"]

_BUILTIN_NAMES = frozenset(dir(builtins))


def inline_runtime(module_source: str) -> str:
    """`module_source` with its `vpl_runtime` imports replaced by the definitions they need."""
    return inline_runtime_from(module_source, runtime_library())


def inline_runtime_from(module_source: str, library: RuntimeLibrary) -> str:
    """`inline_runtime` with an explicit runtime; the result is black-formatted."""
    from vplc.codegen.generate import format_source  # black is heavy: import it only when needed

    program = _Program.parse(module_source)
    for module, name in program.requested:
        if not library.exports(module, name):
            raise StandaloneError(f"{RUNTIME_PACKAGE}.{module} has no name {name!r}")
    selection = _select(library, program.requested)
    renames = _renames(program, selection)
    _check_names(program, selection, renames)
    return format_source(_assemble(program, selection, _texts(library, selection, renames)))


# ---------------------------------------------------------------------------------------------
# The generated module


@dataclass(frozen=True, slots=True)
class _Program:
    lines: tuple[str, ...]
    insert_at: int  # line where the merged imports and the inlined code go
    dropped: frozenset[int]  # lines of the module's own top-level imports
    requested: tuple[tuple[str, str], ...]  # (runtime module, name), in import order
    imports: tuple[ImportedName, ...]
    future: frozenset[str]
    defined: frozenset[str]  # names its other top-level statements bind

    @classmethod
    def parse(cls, source: str) -> _Program:
        tree = ast.parse(source)
        lines = source.splitlines(keepends=True)
        body = tree.body[1:] if tree.body and is_docstring(tree.body[0]) else tree.body
        requested: list[tuple[str, str]] = []
        imports: list[ImportedName] = []
        future: set[str] = set()
        dropped: set[int] = set()
        defined: set[str] = set()
        for node in body:
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                defined.update(bound_names(node))
                continue
            start, end = line_span(lines, node)
            dropped.update(range(start, end))
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                future.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and (origin := runtime_origin(node)):
                requested.extend((origin, n) for n in runtime_import_names(node, origin))
            elif any(
                imp.module.partition(".")[0] == RUNTIME_PACKAGE for imp in imported_names(node)
            ):
                raise StandaloneError(f"line {node.lineno}: import names from a runtime module")
            else:
                imports.extend(imported_names(node))
        insert_at = line_span(lines, body[0])[0] if body else len(lines)
        return cls(
            tuple(lines),
            insert_at,
            frozenset(dropped),
            tuple(requested),
            tuple(imports),
            frozenset(future),
            frozenset(defined),
        )


@dataclass(frozen=True, slots=True)
class _Selection:
    units: tuple[Unit, ...]  # in output order
    imports: frozenset[ImportedName]
    future: frozenset[str]
    requested: tuple[str, ...]


def _select(library: RuntimeLibrary, requested: Iterable[tuple[str, str]]) -> _Selection:
    """The transitive closure of the requested names over the runtime's definitions."""
    requested = tuple(requested)
    chosen: set[Unit] = set()
    imports: set[ImportedName] = set()
    seen: set[tuple[str, str]] = set()
    todo = list(requested)
    while todo:
        module_name, name = todo.pop()
        if (module_name, name) in seen:
            continue
        seen.add((module_name, name))
        module = library.modules[module_name]
        if name in module.binders:
            for unit in (module.units[i] for i in module.binders[name]):
                if unit not in chosen:
                    chosen.add(unit)
                    todo.extend((module_name, ref) for ref in unit.refs)
        elif name in module.links:
            todo.append((module.links[name], name))
        elif name in module.imports:
            imports.add(module.imports[name])
        # else: a builtin or a local name of some function
    rank = {module: i for i, module in enumerate(library.order)}
    units = tuple(sorted(chosen, key=lambda unit: (rank[unit.module], unit.index)))
    future = frozenset().union(*(library.modules[unit.module].future for unit in units))
    names = tuple(sorted({name for _, name in requested}))
    return _Selection(units, frozenset(imports), future, names)


# (runtime module, private name) -> the name it gets in the paste
Renames: TypeAlias = Mapping[tuple[str, str], str]


def _renames(program: _Program, selection: _Selection) -> Renames:
    """New names for the private runtime names that would clash in the paste.

    A private name bound by several pasted modules, or also by the generated module, gets
    in each runtime module the module's name in front: `_x` of `contexts.merge` becomes
    `_merge_x` (`_contexts_merge_x` if that is taken too, then a number). Other names stay
    as written. Everything is sorted, so the result is deterministic.
    """
    owners: dict[str, set[str]] = {}
    taken = set(program.defined)
    for unit in selection.units:
        taken.update(unit.binds)
        for name in unit.binds:
            if is_private(name):
                owners.setdefault(name, set()).add(unit.module)
    imported = {imp.bound for imp in selection.imports | set(program.imports)}
    taken |= imported
    renames: dict[tuple[str, str], str] = {}
    for name in sorted(owners):
        modules = sorted(owners[name])
        if len(modules) == 1 and name not in program.defined and name not in imported:
            continue
        for module in modules:
            new = _fresh_name(name, module, taken)
            taken.add(new)
            renames[(module, name)] = new
    return renames


def _fresh_name(name: str, module: str, taken: set[str]) -> str:
    parts = module.split(".")
    for count in range(1, len(parts) + 1):
        candidate = "_" + "_".join(parts[-count:]) + name
        if candidate not in taken:
            return candidate
    number = 2
    while f"{candidate}{number}" in taken:
        number += 1
    return f"{candidate}{number}"


def _texts(library: RuntimeLibrary, selection: _Selection, renames: Renames) -> dict[Unit, str]:
    """Each pasted unit's text, its references to renamed names renamed (also those of
    names it imports from another runtime module)."""
    texts: dict[Unit, str] = {}
    for unit in selection.units:
        new: dict[str, str] = {}
        for name in {spot.name for spot in unit.spots}:
            origin = library.origin(unit.module, name)
            if origin is not None and (origin, name) in renames:
                new[name] = renames[(origin, name)]
        texts[unit] = unit.renamed(new)
    return texts


def _check_names(program: _Program, selection: _Selection, renames: Renames) -> None:
    """Refuse a paste that would make two things share one module-level name."""
    owner: dict[str, str] = {}
    for unit in selection.units:
        for bound in unit.binds:
            name = renames.get((unit.module, bound), bound)
            if owner.setdefault(name, unit.module) != unit.module:
                raise StandaloneError(
                    f"{name!r} is defined by runtime modules {owner[name]!r} and {unit.module!r}"
                )
    targets: dict[str, str] = {}
    for imp in sorted(selection.imports | set(program.imports), key=_import_key):
        if targets.setdefault(imp.bound, imp.target) != imp.target:
            raise StandaloneError(
                f"{imp.bound!r} is imported from both {targets[imp.bound]} and {imp.target}"
            )
        if imp.bound in owner:
            raise StandaloneError(f"runtime name {imp.bound!r} is also imported as {imp.target}")
    clashes = program.defined & (set(owner) | set(targets))
    used = set().union(*(unit.refs for unit in selection.units))
    clashes |= program.defined & _BUILTIN_NAMES & used
    if clashes:
        raise StandaloneError(f"the module defines names the runtime uses: {sorted(clashes)}")


# ---------------------------------------------------------------------------------------------
# Writing the result


def _member_key(name: str) -> tuple[int, str, str]:
    """isort's order of imported names: CONSTANTS, then Classes, then functions."""
    if len(name) > 1 and name.isupper():
        return (0, name.lower(), name)
    return (1 if name[:1].isupper() else 2, name.lower(), name)


def _import_key(imp: ImportedName) -> tuple[int, str, str, tuple[int, str, str], str]:
    name = imp.name or ""
    return (
        imp.name is not None,
        imp.module.lower(),
        imp.module,
        _member_key(name),
        imp.alias or "",
    )


def _import_block(imports: Iterable[ImportedName], future: frozenset[str]) -> str:
    """Sorted and merged: `from __future__` first, then `import x`, then `from x import y`."""
    lines: list[str] = []
    by_module: dict[str, list[str]] = {}
    for imp in sorted(set(imports), key=_import_key):
        if imp.name is None:
            lines.append(f"import {imp.spelled()}")
        else:
            by_module.setdefault(imp.module, []).append(imp.spelled())
    lines.extend(f"from {module} import {', '.join(names)}" for module, names in by_module.items())
    if future:
        lines[:0] = [f"from __future__ import {', '.join(sorted(future))}", ""]
    return "\n".join(lines)


def _inlined_block(selection: _Selection, texts: Mapping[Unit, str]) -> str:
    """The chosen units between marker comments, spaced as black would space them."""
    text = (
        f"# --- {RUNTIME_PACKAGE} {__version__} (inlined by vplc --standalone): "
        f"{', '.join(selection.requested)} ---\n\n\n"
    )
    previous: Unit | None = None
    for unit in selection.units:
        if previous is not None:
            adjacent = previous.module == unit.module and previous.index + 1 == unit.index
            if not (previous.simple and unit.simple):
                text += "\n\n\n"
            else:  # keep a run of assignments together, as it was written
                text += "\n" if adjacent else "\n\n"
        text += texts[unit]
        previous = unit
    return text + f"\n\n\n# --- end of inlined {RUNTIME_PACKAGE} ---"


def _assemble(program: _Program, selection: _Selection, texts: Mapping[Unit, str]) -> str:
    parts = [
        _import_block(set(program.imports) | selection.imports, program.future | selection.future)
    ]
    if selection.units:
        parts.append(_inlined_block(selection, texts))
    head = "".join(program.lines[: program.insert_at])
    rest = "".join(
        line
        for number, line in enumerate(program.lines)
        if number >= program.insert_at and number not in program.dropped
    )
    return head + "\n\n\n".join(parts) + "\n\n\n" + rest

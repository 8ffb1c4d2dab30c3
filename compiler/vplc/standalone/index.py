"""The runtime library as `vplc --standalone` sees it: modules cut into top-level statements.

Each statement of a `vpl_runtime` module becomes a `Unit` that knows the names it binds and
the names it mentions; `standalone` pastes the units a generated module needs. This relies on
the runtime's conventions: standard library only, every public top-level name unique across
its modules (private ones are renamed on paste where they clash, see `rename`), and runtime
modules importing each other only with `from vpl_runtime.X import name` at the top level.

Everything here works on `ast` trees and source lines, never on regexes: black may wrap an
import over several lines, and a statement's text is cut by its node's line numbers.
"""

from __future__ import annotations

import ast
import heapq
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

from vplc.standalone.rename import Spot, is_private, rename_text, shadowed, spots

if sys.version_info >= (3, 11):
    from importlib.resources.abc import Traversable
else:  # pragma: no cover - Python 3.10
    from importlib.abc import Traversable

RUNTIME_PACKAGE = "vpl_runtime"
# Nodes whose inside is another scope: the names they bind are not module names.
_SCOPES = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Lambda,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
)


class StandaloneError(ValueError):
    """The module or the runtime breaks a convention that inlining relies on."""


@dataclass(frozen=True, slots=True)
class ImportedName:
    """One name bound by an import: `import module [as alias]` when `name` is None,
    else `from module import name [as alias]`."""

    module: str
    name: str | None
    alias: str | None

    @property
    def bound(self) -> str:
        """The module-level name the import binds."""
        if self.alias is not None:
            return self.alias
        return self.name if self.name is not None else self.module.partition(".")[0]

    @property
    def target(self) -> str:
        """What the bound name refers to; two imports binding one name must agree on it."""
        if self.name is None:
            return self.module if self.alias is not None else self.bound
        return f"{self.module}:{self.name}"

    def spelled(self) -> str:
        """`name` or `name as alias`, as written in an import statement."""
        base = self.module if self.name is None else self.name
        return base if self.alias in (None, base) else f"{base} as {self.alias}"


@dataclass(frozen=True, slots=True)
class Unit:
    """One top-level statement of a runtime module, kept or dropped as a whole."""

    module: str
    index: int  # position among the module's units
    simple: bool  # an assignment or expression, not a definition or a block
    text: str
    binds: frozenset[str]  # names it defines or changes (`X[k] = v` changes X)
    refs: frozenset[str]  # every name it mentions, annotations included (mypy needs them)
    spots: tuple[Spot, ...] = ()  # where `text` spells private names (for renaming)

    def renamed(self, new: Mapping[str, str]) -> str:
        """`text` with the private names in `new` renamed."""
        return rename_text(self.text, self.spots, new) if new else self.text


@dataclass(frozen=True, slots=True)
class RuntimeModule:
    """A runtime module cut into units, with what its names resolve to."""

    name: str
    units: tuple[Unit, ...]
    binders: Mapping[str, tuple[int, ...]]  # name -> indexes of the units binding it
    imports: Mapping[str, ImportedName]  # standard-library imports by bound name
    links: Mapping[str, str]  # name -> runtime module it is imported from
    future: frozenset[str]


@dataclass(frozen=True, slots=True)
class RuntimeLibrary:
    """The runtime modules, in an order where each comes after the modules it imports."""

    modules: Mapping[str, RuntimeModule]
    order: tuple[str, ...]

    @classmethod
    def from_sources(cls, sources: Mapping[str, str]) -> RuntimeLibrary:
        """Index runtime modules given as `{module name: source}` (names without the package)."""
        modules = {name: _index_module(name, text) for name, text in sources.items()}
        for module in modules.values():
            for name, origin in module.links.items():
                if origin not in modules:
                    raise StandaloneError(
                        f"{module.name}: imports {name!r} from unknown {origin!r}"
                    )
        return cls(modules, _dependency_order(modules))

    def origin(self, module: str, name: str) -> str | None:
        """The module that defines `name` as module `module` sees it (through its imports of
        other runtime modules); None for a standard-library import, a builtin or a local."""
        seen = set()
        while module not in seen:
            seen.add(module)
            found = self.modules[module]
            if name in found.binders:
                return module
            if name not in found.links:
                return None
            module = found.links[name]
        return None

    def exports(self, module: str, name: str) -> bool:
        """Whether `from vpl_runtime.<module> import <name>` is valid."""
        found = self.modules.get(module)
        return found is not None and (name in found.binders or name in found.links)


@cache
def runtime_library() -> RuntimeLibrary:
    """The installed `vpl_runtime` package, read once per process."""
    return RuntimeLibrary.from_sources(dict(_package_sources(resources.files(RUNTIME_PACKAGE))))


def _package_sources(folder: Traversable, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(dotted module name below the runtime package, source) of every module in `folder`,
    sub-packages included: `contexts` (its `__init__.py`), `contexts.merge`, ..."""
    for entry in sorted(folder.iterdir(), key=lambda entry: entry.name):
        if entry.is_dir() and entry.name.isidentifier() and entry.joinpath("__init__.py").is_file():
            package = f"{prefix}{entry.name}"
            yield package, entry.joinpath("__init__.py").read_text(encoding="utf-8")
            yield from _package_sources(entry, f"{package}.")
        elif entry.name.endswith(".py") and entry.name[:-3].isidentifier() and entry.name[0] != "_":
            yield f"{prefix}{entry.name[:-3]}", entry.read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Reading modules


def runtime_origin(node: ast.ImportFrom) -> str | None:
    """The runtime module X of `from vpl_runtime.X import ...` (X may be dotted, `contexts.merge`);
    None for other imports."""
    module = node.module or ""
    head, dot, rest = module.partition(".")
    if node.level or head != RUNTIME_PACKAGE:
        return None
    if not dot or not all(part.isidentifier() for part in rest.split(".")):
        raise StandaloneError(
            f"line {node.lineno}: import names from a runtime module, not {module!r}"
        )
    return rest


def imported_names(node: ast.Import | ast.ImportFrom) -> list[ImportedName]:
    if isinstance(node, ast.Import):
        return [ImportedName(a.name, None, a.asname) for a in node.names]
    if node.level or node.module is None:
        raise StandaloneError(f"line {node.lineno}: relative imports cannot be inlined")
    return [ImportedName(node.module, a.name, a.asname) for a in node.names]


def runtime_import_names(node: ast.ImportFrom, origin: str) -> Iterator[str]:
    for alias in node.names:
        if alias.name == "*" or alias.asname not in (None, alias.name):
            raise StandaloneError(f"line {node.lineno}: runtime names are imported as themselves")
        yield alias.name


def line_span(lines: list[str], node: ast.stmt) -> tuple[int, int]:
    """Lines `[start, end)` (0-based) of a top-level statement, decorators included.

    Whole lines are cut, not only `ast.get_source_segment`'s columns, so that a trailing
    `# type: ignore[...]` or `# noqa` stays with its statement.
    """
    decorators: list[ast.expr] = getattr(node, "decorator_list", [])
    start = min([node.lineno] + [d.lineno for d in decorators])
    end = node.end_lineno or node.lineno
    # ast columns count UTF-8 bytes, not characters.
    tail = lines[end - 1].encode()[node.end_col_offset or 0 :].decode().strip()
    if node.col_offset != 0 or (tail and not tail.startswith("#")):
        raise StandaloneError(f"line {node.lineno}: one top-level statement per line, please")
    return start - 1, end


def is_docstring(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _index_module(name: str, source: str) -> RuntimeModule:
    tree = ast.parse(source, filename=f"{RUNTIME_PACKAGE}/{name}.py")
    lines = source.splitlines(keepends=True)
    units: list[Unit] = []
    nodes: list[ast.stmt] = []
    simple = (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Expr)
    imports: dict[str, ImportedName] = {}
    links: dict[str, str] = {}
    future: set[str] = set()
    for i, node in enumerate(tree.body):
        if i == 0 and is_docstring(node):
            continue
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            future.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and (origin := runtime_origin(node)) is not None:
            links.update((n, origin) for n in runtime_import_names(node, origin))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.update((imp.bound, imp) for imp in imported_names(node))
        else:
            start, end = line_span(lines, node)
            text = "".join(lines[start:end]).rstrip()
            binds, refs = frozenset(bound_names(node)), frozenset(_referenced(node))
            found = spots(node, lines, start)
            units.append(Unit(name, len(units), isinstance(node, simple), text, binds, refs, found))
            nodes.append(node)
    binders = _binders(units)
    private = frozenset(n for n in (*binders, *links) if is_private(n))
    for node in nodes:
        if clash := shadowed(node, private):
            raise StandaloneError(
                f"{name}: line {node.lineno}: local name(s) {sorted(clash)} are also private "
                "names of the module (rename the local)"
            )
    return RuntimeModule(name, tuple(units), binders, imports, links, frozenset(future))


def _binders(units: list[Unit]) -> dict[str, tuple[int, ...]]:
    binders: dict[str, list[int]] = {}
    for i, unit in enumerate(units):
        for name in unit.binds:
            binders.setdefault(name, []).append(i)
    defined = set(binders)
    # A statement that binds nothing (`_REGISTRY.update(...)`) goes with the names it uses.
    for i, unit in enumerate(units):
        if not unit.binds:
            for name in sorted(unit.refs & defined):
                binders[name].append(i)
    return {name: tuple(sorted(set(indexes))) for name, indexes in binders.items()}


def _scope_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """`node` and what it contains, without entering nested scopes (their heads are yielded)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if current is node or not isinstance(current, _SCOPES):
            stack.extend(ast.iter_child_nodes(current))


def bound_names(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    bound: set[str] = set()
    for sub in _scope_nodes(node):
        match sub:
            case ast.Name(id=name, ctx=ast.Store() | ast.Del()):
                bound.add(name)
            case ast.Subscript(ctx=ast.Store() | ast.Del()) | ast.Attribute(
                ctx=ast.Store() | ast.Del()
            ):
                bound.update(_base_name(sub))
            case (
                ast.FunctionDef(name=name)
                | ast.AsyncFunctionDef(name=name)
                | ast.ClassDef(name=name)
            ) if (sub is not node):
                bound.add(name)
            case ast.Import() | ast.ImportFrom():
                bound.update(imp.bound for imp in imported_names(sub))
    return bound


def _base_name(node: ast.AST) -> list[str]:
    while isinstance(node, (ast.Subscript, ast.Attribute)):
        node = node.value
    return [node.id] if isinstance(node, ast.Name) else []


def _referenced(node: ast.stmt) -> set[str]:
    """Every name `node` reads anywhere inside it: an over-approximation that is always safe."""
    refs: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and not isinstance(sub.ctx, ast.Store):
            refs.add(sub.id)
        elif isinstance(sub, (ast.Global, ast.Nonlocal)):
            refs.update(sub.names)
        elif isinstance(sub, ast.arg) and sub.annotation is not None:
            refs.update(_string_annotation_names(sub.annotation))
        elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)) and sub.returns:
            refs.update(_string_annotation_names(sub.returns))
        elif isinstance(sub, ast.AnnAssign):
            refs.update(_string_annotation_names(sub.annotation))
    return refs


def _string_annotation_names(annotation: ast.expr) -> set[str]:
    """Names inside quoted annotations (`-> "_Files"`): mypy resolves them, so must we."""
    names: set[str] = set()
    for sub in ast.walk(annotation):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            try:
                parsed = ast.parse(sub.value.strip(), mode="eval")
            except SyntaxError:
                continue  # a Literal["..."] string, not a type
            names.update(n.id for n in ast.walk(parsed) if isinstance(n, ast.Name))
    return names


def _dependency_order(modules: Mapping[str, RuntimeModule]) -> tuple[str, ...]:
    """Modules after the modules they import; ties by name, so the order is stable."""
    depends = {name: set(m.links.values()) - {name} for name, m in modules.items()}
    ready = [name for name, deps in depends.items() if not deps]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        name = heapq.heappop(ready)
        order.append(name)
        for other, deps in depends.items():
            if name in deps:
                deps.discard(name)
                if not deps:
                    heapq.heappush(ready, other)
    if len(order) != len(modules):
        cycle = sorted(set(modules) - set(order))
        raise StandaloneError(f"runtime modules import each other in a cycle: {cycle}")
    return tuple(order)

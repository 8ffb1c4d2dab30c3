"""Private names of runtime modules, found and renamed for the paste of `--standalone`.

Runtime modules use ordinary private names (`_POLL`, `_Stopped`) and may share them: two
modules can each have a `_POLL`. Pasted into one module they would collide, so the inliner
renames the private top-level names that need it (see `inline._renames`). This module finds
where a unit spells each private module-level name (`Spot`s: names, `def`/`class` heads,
quoted annotations) and rewrites the unit's text with new names, by position, so comments
and layout stay as written.

It relies on one convention, checked here: inside a function, lambda or comprehension no
local name (parameter, assignment, nested definition) is also a private name of its module
— else a reference could not be told from a local.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

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
_FUNCTIONS = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.Lambda,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
)
_HEAD = re.compile(r"\s*(?:async\s+)?(?:def|class)\s+(\w+)")


def is_private(name: str) -> bool:
    """`_x`, not a dunder (`__all__`): the names the inliner may rename."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@dataclass(frozen=True, slots=True)
class Spot:
    """Where a unit spells a private name: line `row` of the unit, characters
    `[start, end)`; `quoted` when that span is a string annotation containing the name."""

    row: int
    start: int
    end: int
    name: str
    quoted: bool = False


def spots(node: ast.stmt, lines: list[str], first: int) -> tuple[Spot, ...]:
    """The spots of private names in top-level statement `node`, whose text starts at line
    `first` (0-based) of `lines`."""
    found: list[Spot] = []

    def spot(lineno: int, col: int, end_col: int, name: str, quoted: bool = False) -> None:
        line = lines[lineno - 1].encode()
        start = len(line[:col].decode())  # ast columns count UTF-8 bytes
        found.append(Spot(lineno - 1 - first, start, len(line[:end_col].decode()), name, quoted))

    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and is_private(sub.id):
            spot(sub.lineno, sub.col_offset, sub.end_col_offset or sub.col_offset, sub.id)
        for annotation in _annotations(sub):
            for text in ast.walk(annotation):
                if isinstance(text, ast.Constant) and isinstance(text.value, str):
                    names = {n for n in _quoted_names(text.value) if is_private(n)}
                    for name in sorted(names):
                        end = text.end_col_offset or text.col_offset
                        spot(text.lineno, text.col_offset, end, name, quoted=True)
    for head in _heads(node):
        if is_private(head.name):
            line = lines[head.lineno - 1]
            match = _HEAD.match(line, len(line.encode()[: head.col_offset].decode()))
            if match is None or match.group(1) != head.name:  # pragma: no cover - ast's word
                raise ValueError(f"line {head.lineno}: cannot find the name of {head.name!r}")
            found.append(Spot(head.lineno - 1 - first, match.start(1), match.end(1), head.name))
    return tuple(sorted(set(found), key=lambda s: (s.row, s.start)))


def shadowed(node: ast.stmt, module_names: frozenset[str]) -> set[str]:
    """The private module names in `module_names` that a scope inside `node` binds locally."""
    local: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, _FUNCTIONS):
            local.update(_local_names(sub))
    return local & module_names


def rename_text(text: str, unit_spots: tuple[Spot, ...], new: Mapping[str, str]) -> str:
    """`text` with every spot whose name is in `new` renamed."""
    lines = text.split("\n")
    for s in sorted(unit_spots, key=lambda s: (s.row, -s.start)):
        if s.name not in new:
            continue
        line = lines[s.row]
        if s.quoted:
            part = re.sub(rf"\b{re.escape(s.name)}\b", new[s.name], line[s.start : s.end])
        else:
            part = new[s.name]
        lines[s.row] = line[: s.start] + part + line[s.end :]
    return "\n".join(lines)


def _heads(node: ast.stmt) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef]:
    """Definitions of module-level names in `node` (itself, or inside an `if`/`try`)."""
    stack: list[ast.AST] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield current
        elif not isinstance(current, _SCOPES):
            stack.extend(ast.iter_child_nodes(current))


def _annotations(node: ast.AST) -> list[ast.expr]:
    if isinstance(node, ast.arg) and node.annotation is not None:
        return [node.annotation]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
        return [node.returns]
    if isinstance(node, ast.AnnAssign):
        return [node.annotation]
    return []


def _quoted_names(text: str) -> set[str]:
    try:
        parsed = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        return set()  # a Literal["..."] string, not a type
    return {n.id for n in ast.walk(parsed) if isinstance(n, ast.Name)}


def _local_names(scope: ast.AST) -> set[str]:
    """Names bound directly in `scope` (not in scopes nested in it)."""
    names: set[str] = set()
    if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        args = scope.args
        every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
        names.update(a.arg for a in every if a is not None)
        body: list[ast.AST] = list(scope.body) if isinstance(scope.body, list) else [scope.body]
    else:
        body = [scope]
    stack = body
    while stack:
        current = stack.pop()
        if isinstance(current, ast.Name) and isinstance(current.ctx, (ast.Store, ast.Del)):
            names.add(current.id)
        elif isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(current.name)
            continue
        elif isinstance(current, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).partition(".")[0] for a in current.names)
        elif isinstance(current, ast.ExceptHandler) and current.name:
            names.add(current.name)
        if current is scope or not isinstance(current, _SCOPES):
            stack.extend(ast.iter_child_nodes(current))
    return names

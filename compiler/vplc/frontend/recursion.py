"""Room for deep recursion while compiling, and the nesting limits that keep it finite.

The stages recurse over expression trees, and a long chain like `a + b + ... + z` is a deep
tree. Compiling raises Python's recursion limit for its own duration only, so a process
that embeds the compiler keeps its own limit afterwards.

Python's own parser refuses more than 200 nested parentheses in a module, and arrays and
maps of constants are written as nested literals; so before any stage recurses,
`nesting_errors` rejects expressions nested past the documented limits (E099, at the first
construct too deep): `MAX_NESTING` levels of arrays, maps, calls, `if`, unary operators,
indexing and attributes, and `MAX_DEPTH` levels counting binary operators too (their
chains are compiled through temporaries, so only the stages' recursion bounds them).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from vplc.diagnostics import Diagnostic, error
from vplc.frontend import syntax as s

_COMPILER_RECURSION_LIMIT = 20_000
MAX_NESTING = 100
MAX_DEPTH = 1_000


@contextmanager
def deep_recursion() -> Iterator[None]:
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, _COMPILER_RECURSION_LIMIT))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


def nesting_errors(program: s.Program) -> list[Diagnostic]:
    """One E099 per top-level expression nested past the limits, at the first node too deep."""
    found = []
    for expr in _expressions(program):
        too_deep = _first_too_deep(expr)
        if too_deep is not None:
            found.append(too_deep)
    return found


def _expressions(program: s.Program) -> Iterator[s.Expr]:
    for statement in program.statements:
        match statement:
            case s.ConstDecl(value=value) | s.Assign(value=value):
                yield value
            case s.StreamDecl(source=source, ops=ops):
                yield from _op_expressions(ops)
                if isinstance(source, s.Merge):
                    for entry in source.sources:
                        yield from _op_expressions(entry.ops)


def _op_expressions(ops: Iterable[s.Op]) -> Iterator[s.Expr]:
    return (arg.value for op in ops for arg in op.args)


def _first_too_deep(root: s.Expr) -> Diagnostic | None:
    # Iterative: the tree may be far deeper than Python's recursion limit.
    # (node, constructs enclosing it, nodes enclosing it); names and literals are leaves.
    pending: list[tuple[s.Expr, int, int]] = [(root, 0, 0)]
    while pending:
        node, nesting, depth = pending.pop()
        step = 0 if isinstance(node, (s.Binary, s.Name, s.Literal)) else 1
        nesting, depth = nesting + step, depth + 1
        if nesting > MAX_NESTING or depth > MAX_DEPTH:
            what = f"{MAX_NESTING} levels of arrays, maps, calls, 'if' and unary operators"
            if depth > MAX_DEPTH:
                what = f"{MAX_DEPTH} levels of operators"
            message = f"expression nested too deeply (more than {what})"
            return error("E099", message, node.span)
        pending.extend((child, nesting, depth) for child in _children(node))
    return None


def _children(node: s.Expr) -> tuple[s.Expr, ...]:
    match node:
        case s.Binary(left=left, right=right):
            return (left, right)
        case s.Unary(operand=operand) | s.Attribute(target=operand):
            return (operand,)
        case s.Call(args=args) | s.ArrayLit(items=args):
            return args
        case s.Index(target=target, index=index):
            return (target, index)
        case s.Slice(target=target, start=start, end=end):
            return tuple(e for e in (target, start, end) if e is not None)
        case s.IfExpr(cond=cond, then=then, otherwise=otherwise):
            return (cond, then, otherwise)
        case s.MapLit(items=items):
            return tuple(value for _, value in items)
    return ()

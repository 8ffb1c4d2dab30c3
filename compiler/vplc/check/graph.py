"""The stream dependency graph: cycles (D16, E016) and the order streams are checked in.

Stream S depends on stream T when a source of S (its identifier or a merge entry) is T's
name. Strongly connected sets are found with Tarjan's algorithm, written iteratively so a
long chain of streams cannot hit Python's recursion limit.
"""

from __future__ import annotations

from collections.abc import Sequence

from vplc.diagnostics import Diagnostic, error
from vplc.frontend.syntax import Span


def strongly_connected(edges: Sequence[Sequence[int]]) -> list[list[int]]:
    """Tarjan's strongly connected components of nodes 0..n-1, dependencies first
    (a component comes after every component it has an edge to)."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    components: list[list[int]] = []
    for root in range(len(edges)):
        if root in index:
            continue
        work: list[tuple[int, int]] = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if child < len(edges[node]):
                work.append((node, child + 1))
                target = edges[node][child]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            for target in edges[node]:
                if target in on_stack:
                    low[node] = min(low[node], low[target])
            if low[node] == index[node]:
                component: list[int] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def cycle_errors(
    components: list[list[int]],
    edges: Sequence[Sequence[int]],
    names: Sequence[str],
    spans: Sequence[Span],
) -> list[Diagnostic]:
    """One E016 per set of streams forming cycles, at the stream closing it in reading
    order: the set's last member in declaration order."""
    found: list[Diagnostic] = []
    for component in components:
        closing = component[-1]
        if len(component) == 1 and closing not in edges[closing]:
            continue
        if len(component) == 1:
            message = f"stream '{names[closing]}' consumes its own output"
        else:
            members = ", ".join(f"'{names[i]}'" for i in component)
            message = f"streams {members} form a dependency cycle"
        found.append(error("E016", message, spans[closing]))
    return found

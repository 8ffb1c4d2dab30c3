"""Contexts: the graph of a generated module's specs (who feeds whom, depths, the caller's)."""

from collections.abc import Sequence
from dataclasses import dataclass

from vpl_runtime.contexts.cascade import SUB
from vpl_runtime.contexts.runtime import ContextSpec, Scales

INPUT_NAME = "(input)"  # the ingress as a producer, in messages and tables


@dataclass(frozen=True, slots=True)
class Graph:
    """The specs, checked, with each context's producers and targets as indexes."""

    specs: tuple[ContextSpec, ...]
    # per context: its targets as (target context, producer index there), in spec order
    targets: tuple[tuple[tuple[int, int], ...], ...]
    inputs: dict[str, tuple[int, ...]]  # input event type -> contexts, in spec order
    depths: tuple[int, ...]  # per context: how many pools refine its cascade ids

    @classmethod
    def build(cls, specs: Sequence[ContextSpec]) -> "Graph":
        """Check names and edges (unique, known, acyclic) and index them."""
        index: dict[str, int] = {}
        for i, spec in enumerate(specs):
            if spec.name in index:
                raise ValueError(f"context '{spec.name}' is declared twice")
            index[spec.name] = i
        targets: list[list[tuple[int, int]]] = [[] for _ in specs]
        for i, spec in enumerate(specs):
            if len(set(spec.upstream)) != len(spec.upstream):
                raise ValueError(f"context '{spec.name}': an upstream context is repeated")
            for position, name in enumerate(spec.upstream):
                if name not in index or name == spec.name:
                    raise ValueError(f"context '{spec.name}': bad upstream context '{name}'")
                targets[index[name]].append((i, position + 1))
        _check_acyclic(specs, index)
        inputs: dict[str, list[int]] = {}
        for i, spec in enumerate(specs):
            for route in dict.fromkeys(spec.routes):
                inputs.setdefault(route, []).append(i)
        _check_caller(specs, inputs)
        return cls(
            tuple(specs),
            tuple(tuple(sorted(t)) for t in targets),
            {name: tuple(found) for name, found in inputs.items()},
            _depths(specs, index),
        )

    def producers(self, i: int) -> tuple[str, ...]:
        """Names of the producers of context `i`, by producer index."""
        return (INPUT_NAME, *self.specs[i].upstream)

    def target_names(self, i: int) -> list[str]:
        """Names of the contexts context `i` sends to, by slot."""
        return [self.specs[t].name for t, _ in self.targets[i]]

    def scales(self, i: int) -> Scales:
        """How context `i` converts the cascade ids it receives and sends."""
        index = {spec.name: j for j, spec in enumerate(self.specs)}
        spec = self.specs[i]
        depth = self.depths[i]
        sent_at = [0] + [  # the depth of what each producer sends here
            self.depths[index[name]] + spec.pool_worker for name in spec.upstream
        ]
        shifts = tuple(SUB * (depth - d) for d in sent_at)
        refine = tuple(self.specs[t].pool_worker for t, _ in self.targets[i])
        no_input = not any(i in found for found in self.inputs.values())
        return Scales(depth, shifts, refine, no_input)

    def caller_index(self) -> int | None:
        """The context that runs on the caller's thread: the one marked `on_caller`."""
        return next((i for i, spec in enumerate(self.specs) if spec.on_caller), None)


def _check_caller(specs: Sequence[ContextSpec], inputs: dict[str, list[int]]) -> None:
    """A context marked `on_caller` must be safe there: the only one, taking every input
    event, no other context taking any, fed by the input alone and not pinned. Then the
    ingress sends no channel anything and never waits: only the context's own sends can, as
    from a thread of its own. (With other input-fed contexts, the one thread could wait on
    a channel while holding the promise its consumers wait for.)"""
    marked = [i for i, spec in enumerate(specs) if spec.on_caller]
    if not marked:
        return
    name = specs[marked[0]].name
    spec = specs[marked[0]]
    takers = {i for found in inputs.values() for i in found}
    if len(marked) > 1:
        raise ValueError("more than one context is marked to run on the caller's thread")
    if takers - {marked[0]} or spec.upstream or spec.cores or spec.pool_worker:
        raise ValueError(
            f"context '{name}' cannot run on the caller's thread: it must be the only one "
            "fed by the input, and have no upstream context, no cores and no pool"
        )


def _depths(specs: Sequence[ContextSpec], index: dict[str, int]) -> tuple[int, ...]:
    """Per context, the most pools on a path from the input to it (the graph is acyclic)."""
    depths: dict[int, int] = {}

    def depth(i: int) -> int:
        if i not in depths:
            spec = specs[i]
            found = [depth(index[name]) for name in spec.upstream]
            depths[i] = max(found, default=0) + spec.pool_worker
        return depths[i]

    return tuple(depth(i) for i in range(len(specs)))


def _check_acyclic(specs: Sequence[ContextSpec], index: dict[str, int]) -> None:
    # A cycle of bounded channels could deadlock, and the merge could never make progress.
    state = [0] * len(specs)  # 0 new, 1 on the path, 2 done

    def visit(i: int) -> None:
        state[i] = 1
        for name in specs[i].upstream:
            j = index[name]
            if state[j] == 1:
                raise ValueError(f"contexts form a cycle through '{specs[j].name}'")
            if state[j] == 0:
                visit(j)
        state[i] = 2

    for i in range(len(specs)):
        if state[i] == 0:
            visit(i)

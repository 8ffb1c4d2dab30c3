"""Contexts: snapshot barriers (SEMANTICS §15 "Library", DECISION D36).

`Pipeline.snapshot()` between pushes asks every context for its state as of the same input
position N. The ingress sends a barrier item, route `cascade.BARRIER_ROUTE` with cascade id
`barrier_id(N)`, to every context it feeds; the merge orders it like any item, after every
item of the events before N. A context that reaches it (the first copy: one comes from each
producer) encodes its `snapshot_state()`, hands the bytes to its transport for the caller,
and forwards the barrier to its targets, so that it cascades through the whole graph. The
caller waits in `Barriers.wait` until every context the input reaches has answered.

Restore is the other way round: each context gets its bytes before it serves, and the ingress
numbers input events from position N on, so the cascade ids its state holds (a pool worker's
partitions remember the id that created them) stay in order with those that follow.
"""

import threading
from collections.abc import Callable, Mapping
from typing import NamedTuple

from vpl_runtime.contexts.graph import Graph
from vpl_runtime.contexts.ingress import Ingress
from vpl_runtime.driver import CloseFn, PushFn, SnapshotFn

# The keys of a pipeline's snapshot dict that the contexts fill; a stream's state is named
# by a Python identifier (`vplc.plan.state`), which these are not.
POSITION_KEY = "input position"
CONTEXTS_KEY = "contexts"

_WAIT = 0.2  # seconds between checks for a failure while waiting


class Started(NamedTuple):
    """Started contexts: the ingress `push`, `close`, and the contexts' `snapshot()`."""

    push: PushFn
    close: CloseFn
    snapshot: SnapshotFn


def reached_contexts(graph: Graph) -> frozenset[str]:
    """The contexts a barrier reaches: those fed by the input and those downstream of them.
    (Any other context never processes anything: its state stays as it started.)"""
    reached: set[int] = set()
    todo = [i for found in graph.inputs.values() for i in found]
    while todo:
        i = todo.pop()
        if i not in reached:
            reached.add(i)
            todo.extend(t for t, _ in graph.targets[i])
    return frozenset(graph.specs[i].name for i in reached)


class Barriers:
    """The states the contexts took at barriers, for the caller; safe from any thread."""

    def __init__(self, expected: frozenset[str]) -> None:
        self.expected = expected
        self._changed = threading.Condition()
        self._states: dict[int, dict[str, bytes]] = {}  # barrier id -> context -> state

    def taken(self, context: str, barrier: int, state: bytes) -> None:
        """Context `context` reached `barrier` (an input-level id) with `state`."""
        with self._changed:
            self._states.setdefault(barrier, {})[context] = state
            self._changed.notify_all()

    def wait(self, barrier: int, check: Callable[[], None]) -> dict[str, bytes]:
        """Every expected context's state at `barrier`, by name; `check` raises the
        pipeline's failure (a context that failed never answers)."""
        while True:
            with self._changed:
                if len(self._states.get(barrier, ())) == len(self.expected):
                    return dict(sorted(self._states.pop(barrier).items()))
                self._changed.wait(_WAIT)
            check()  # outside the lock: stopping may wait for a thread that calls `taken`


def saved_contexts(saved: Mapping[str, object] | None) -> tuple[int, Mapping[str, bytes]]:
    """(input position, context -> state) of a snapshot dict to restore (none: (0, {}))."""
    if saved is None:
        return 0, {}
    position, states = saved.get(POSITION_KEY), saved.get(CONTEXTS_KEY)
    if not isinstance(position, int) or not isinstance(states, dict):
        raise ValueError("corrupt snapshot (no context states)")
    return position, states


def snapshot_function(
    ingress: Ingress, barriers: Barriers, check: Callable[[], None]
) -> SnapshotFn:
    """The contexts' part of `Pipeline.snapshot()`, on the caller's thread between pushes:
    a barrier after the events pushed so far, then every reached context's state at it."""

    last: dict[str, object] = {}

    def snapshot() -> dict[str, object]:
        check()
        if last.get(POSITION_KEY) == ingress.events:
            return last  # nothing pushed since: the same states (a barrier id is used once)
        barrier = ingress.barrier()
        states = barriers.wait(barrier, check)
        last.clear()
        last.update({POSITION_KEY: ingress.events, CONTEXTS_KEY: states})
        return last

    return snapshot

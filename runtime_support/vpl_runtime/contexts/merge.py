"""Contexts: the merge (SEMANTICS §8) — what a context received, and what it may process.

A context has producers (index 0 the ingress, then its upstream contexts in spec order).
Each batch a producer sends carries items `(route, timestamp, fields, cascade id)` in
non-decreasing cascade order and a promise `upto`: that producer will never again send an
item below it. The context processes items in (cascade, producer, arrival) order: an item
(c, p) may go once no producer q can still send one before it, i.e. c < upto[q], or
c == upto[q] and p < q (`Pending.bounds`). That is the order of the single-threaded run.

The protocol's invariants — each producer's promises never go down, no item arrives below
its producer's promise, a context processes ids in non-decreasing order — hold by
construction. With `VPL_CHECK_INVARIANTS=1` in the environment (read once, at import; the
test suite sets it) they are checked: `CheckedPending` and `ContextRuntime` raise
`InvariantError` at the first violation. Without it nothing is checked, at no cost.
"""

import os
from collections import deque
from collections.abc import Callable, Sequence
from typing import TypeAlias

from vpl_runtime.driver import Fields

# (route name, timestamp, fields, cascade id)
Item: TypeAlias = tuple[str, int, Fields, int]
# (producer index at the receiving context, items, upto); producer 0 is the ingress
Batch: TypeAlias = tuple[int, list[Item], int]
# release(producer, batches, events): give back the channel room of processed batches
ReleaseFn: TypeAlias = Callable[[int, int, int], None]

CHECK_INVARIANTS = os.environ.get("VPL_CHECK_INVARIANTS", "") not in ("", "0")


class InvariantError(AssertionError):
    """The merge protocol was broken (only raised with VPL_CHECK_INVARIANTS=1)."""


class Pending:
    """Received, unprocessed items per producer, with the latest `upto` of each producer."""

    __slots__ = ("empty", "ends", "queues", "received", "shifts", "upto")

    def __init__(self, producers: int, shifts: Sequence[int] = ()) -> None:
        self.shifts = tuple(shifts) or (0,) * producers
        self.queues: list[deque[Item]] = [deque() for _ in range(producers)]
        self.upto = [0] * producers
        self.received = [0] * producers  # items received, ever
        self.ends: list[deque[tuple[int, int]]] = [deque() for _ in range(producers)]
        self.empty = [0] * producers  # progress-only batches not yet released

    def receive(self, batches: list[Batch]) -> int:
        """Queue the batches' items; return the backlog (events received, not processed)."""
        for producer, items, upto in batches:
            shift = self.shifts[producer]
            if shift:  # a shallower producer: its ids in this context's refined ids
                items = [(r, t, f, c << shift) for r, t, f, c in items]
                upto <<= shift
            if items:
                self.queues[producer].extend(items)
                total = self.received[producer] + len(items)
                self.received[producer] = total
                self.ends[producer].append((total, len(items)))
            else:
                self.empty[producer] += 1
            self.upto[producer] = upto  # promises only grow (CheckedPending checks it)
        return sum(len(q) for q in self.queues)

    def bounds(self, next_flush: int) -> list[int]:
        """Per producer p, the cascade below which p's items can be processed now.

        An item (c, p) comes before everything q may still send when c < upto[q], or
        c == upto[q] and p < q; and before this context's next flush.
        """
        upto = self.upto
        result = []
        for p in range(len(upto)):
            bound = next_flush
            for q, value in enumerate(upto):
                if q != p:
                    bound = min(bound, value + 1 if p < q else value)
            result.append(bound)
        return result

    def release(self, release: ReleaseFn) -> None:
        """Give back the channel room of every batch whose items are all processed."""
        for p, queue in enumerate(self.queues):
            done = self.received[p] - len(queue)
            ends = self.ends[p]
            batches = events = self.empty[p]
            while ends and ends[0][0] <= done:
                batches += 1
                events += ends.popleft()[1]
            if batches:
                self.empty[p] = 0
                release(p, batches, events)


class CheckedPending(Pending):
    """`Pending` that checks what arrives against the producers' promises."""

    __slots__ = ()

    def receive(self, batches: list[Batch]) -> int:
        for producer, items, upto in batches:
            shift = self.shifts[producer]
            last = self.upto[producer]
            for item in items:
                cascade = item[3] << shift
                if cascade < last:
                    raise InvariantError(
                        f"producer {producer} sent cascade {cascade} below {last} (its promise "
                        "or an item before it)"
                    )
                last = cascade
            if upto << shift < self.upto[producer]:
                raise InvariantError(
                    f"producer {producer}'s promise went down from {self.upto[producer]} to "
                    f"{upto << shift}"
                )
        return super().receive(batches)


def new_pending(producers: int, shifts: Sequence[int] = ()) -> Pending:
    """The `Pending` of a context: checked with VPL_CHECK_INVARIANTS=1."""
    return (CheckedPending if CHECK_INVARIANTS else Pending)(producers, shifts)

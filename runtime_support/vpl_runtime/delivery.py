"""Breadth-first delivery (SEMANTICS §5.1) for programs where two chains of streams meet.

When several chains lead to one stream, direct calls would deliver depth-first and that
stream would see its events out of the reference order; the generated `push` then hands
every delivery to this FIFO queue and drains it before it returns. Programs without such a
meeting call their consumers directly and never create one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["DeliveryQueue"]

Consumer = Callable[[int, dict[str, Any]], None]


class DeliveryQueue:
    __slots__ = ("_items", "drain", "enqueue")

    def __init__(self) -> None:
        items: deque[tuple[Consumer, int, dict[str, Any]]] = deque()
        self._items = items
        # `enqueue((consume, ts, fields))`: the deque's own append, no wrapper per delivery.
        self.enqueue = items.append

        # A closure, not a method: `push` calls it once per event, mostly on an empty queue,
        # and a closure over the deque costs no attribute lookup or bound-method allocation.
        def drain() -> None:
            """Run the queued deliveries, and the ones they queue, in FIFO order."""
            while items:
                consume, ts, f = items.popleft()
                consume(ts, f)

        self.drain = drain

    def clear(self) -> None:
        """Forget queued deliveries (the queue is empty between pushes; a restore clears)."""
        self._items.clear()

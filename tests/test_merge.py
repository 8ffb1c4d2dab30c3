"""The §8 merge, deterministically: Hypothesis draws producer schedules and a fake transport
feeds them to one `ContextRuntime`, in this thread (no threads, no timing).

Each producer sends its items (non-decreasing cascade ids) in batches whose promises grow
but never pass its next item; the transport hands the context the batches in a drawn
interleaving, one or several per `take`. Whatever the schedule, the context must process
every item exactly in the reference order (cascade, producer, arrival) of SEMANTICS §8,
then its flush, and never wait for a batch that no producer will send. With
VPL_CHECK_INVARIANTS=1 (tests/conftest.py) the protocol checks run too, and a schedule that
breaks the protocol is caught.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vpl_runtime.contexts.cascade import (
    CASCADE_END,
    FLUSH_BASE,
    barrier_id,
    flush_id,
    input_id,
    is_barrier,
    position_text,
    refine,
    unrefined,
)
from vpl_runtime.contexts.merge import (
    CHECK_INVARIANTS,
    Batch,
    CheckedPending,
    InvariantError,
    Item,
    new_pending,
)
from vpl_runtime.contexts.runtime import ContextRuntime, Scales
from vpl_runtime.contexts.stats import Counters
from vpl_runtime.driver import EmitFn, Fields

# One producer's schedule: its batches as (items' cascade ids, promise).
Schedule = list[tuple[list[int], int]]


class FakeTransport:
    """Hands the context pre-drawn deliveries; records what it released and sent."""

    def __init__(self, deliveries: list[list[Batch]]) -> None:
        self._deliveries = deliveries
        self.released: list[tuple[int, int, int]] = []
        self.sent: list[tuple[int, list[Item], int]] = []

    def take(self, wait: bool) -> list[Batch]:
        if not self._deliveries:
            if wait:
                raise AssertionError("the context waits for a batch no producer will send")
            return []
        return self._deliveries.pop(0)

    def release(self, producer: int, batches: int, events: int) -> None:
        self.released.append((producer, batches, events))

    def send(self, slot: int, items: list[Item], upto: int) -> None:
        self.sent.append((slot, items, upto))

    def emitter(self, stream: str) -> EmitFn:
        raise AssertionError("no output lines here")

    def passed(self) -> None:
        pass

    def idle(self) -> None:
        pass

    def progressed(self, upto: int) -> None:
        pass


@st.composite
def schedules(draw: st.DrawFn) -> list[Schedule]:
    """Per producer: sorted cascade ids cut into batches, each with a valid promise (at
    least the previous one, at most the producer's next item), the last CASCADE_END."""
    producers = draw(st.integers(1, 4))
    result = []
    for _ in range(producers):
        ids = sorted(draw(st.lists(st.integers(0, 12), max_size=12)))
        cuts = sorted(draw(st.lists(st.integers(0, len(ids)), max_size=4)))
        batches: Schedule = []
        promise = 0
        start = 0
        for cut in [*cuts, len(ids)]:
            items = ids[start:cut]
            start = cut
            ceiling = ids[cut] if cut < len(ids) else 13
            low = max(promise, items[-1] if items else promise)
            promise = draw(st.integers(min(low, ceiling), ceiling))
            batches.append((items, promise))
        batches.append(([], CASCADE_END))
        result.append(batches)
    return result


@st.composite
def interleavings(draw: st.DrawFn, plan: list[Schedule]) -> list[list[Batch]]:
    """The order in which the producers' batches arrive (each producer's own order kept),
    grouped into the deliveries of successive `take` calls."""
    cursors = [0] * len(plan)
    order: list[Batch] = []
    number = 0
    while any(c < len(s) for c, s in zip(cursors, plan, strict=True)):
        ready = [p for p, s in enumerate(plan) if cursors[p] < len(s)]
        p = draw(st.sampled_from(ready))
        ids, upto = plan[p][cursors[p]]
        cursors[p] += 1
        items = []
        for cascade in ids:
            items.append(("r", number, {"p": p, "n": number}, cascade))
            number += 1
        order.append((p, items, upto))
    deliveries: list[list[Batch]] = []
    while order:
        size = draw(st.integers(1, 3))
        deliveries.append(order[:size])
        order = order[size:]
    return deliveries


def serve(deliveries: list[list[Batch]], producers: int) -> tuple[list[tuple[int, int]], list[str]]:
    """Run one context over the deliveries; return the (cascade, item number) of what it
    processed, in order, and the events (items and the flush) as they happened."""
    transport = FakeTransport(deliveries)
    runtime = ContextRuntime(
        "c", producers, [], transport, None, 8, Counters(), Scales(shifts=(0,) * producers)
    )
    processed: list[tuple[int, int]] = []
    events: list[str] = []

    def route(timestamp: int, fields: Fields) -> None:
        processed.append((runtime.cascade, fields["n"]))
        events.append("item")

    def flush() -> None:
        events.append("flush")

    def run(ctx: ContextRuntime) -> None:
        ctx.serve({"r": route}, [(0, flush)])

    run(runtime)
    assert runtime.served
    return processed, events


def reference(deliveries: list[list[Batch]]) -> list[tuple[int, int]]:
    """§8's order: by cascade, then producer, then arrival."""
    items = [
        (item[3], producer, item[2]["n"])
        for batch in deliveries
        for producer, found, _ in batch
        for item in found
    ]
    return [(cascade, number) for cascade, _, number in sorted(items)]


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_schedule_is_processed_in_the_reference_order(data: st.DataObject) -> None:
    plan = data.draw(schedules())
    deliveries = data.draw(interleavings(plan))
    expected = reference(deliveries)
    processed, events = serve([list(d) for d in deliveries], len(plan))
    assert processed == expected
    assert events == ["item"] * len(expected) + ["flush"]


def _batch(producer: int, ids: list[int], upto: int) -> Batch:
    return (producer, [("r", 0, {"p": producer, "n": i}, c) for i, c in enumerate(ids)], upto)


def test_equal_cascades_go_in_producer_order_whatever_arrives_first() -> None:
    deliveries = [
        [_batch(1, [3, 3], 4)],  # producer 1 first, but producer 0 may still send cascade 3
        [_batch(0, [3], 5)],
        [_batch(0, [], CASCADE_END), _batch(1, [], CASCADE_END)],
    ]
    processed, _ = serve(deliveries, 2)
    assert [c for c, _ in processed] == [3, 3, 3]
    assert processed == [(3, 0), (3, 0), (3, 1)]  # producer 0's item, then producer 1's two


@pytest.mark.skipif(not CHECK_INVARIANTS, reason="needs VPL_CHECK_INVARIANTS=1")
def test_the_debug_mode_catches_a_broken_protocol() -> None:
    with pytest.raises(InvariantError, match="promise went down"):
        serve([[_batch(0, [], 5)], [_batch(0, [], 3)]], 1)
    with pytest.raises(InvariantError, match="below 5"):
        serve([[_batch(0, [], 5)], [_batch(0, [4], CASCADE_END)]], 1)
    with pytest.raises(InvariantError, match="below 6"):
        serve([[_batch(0, [6, 2], CASCADE_END)]], 1)


def test_the_checked_merge_is_in_use_in_the_test_suite() -> None:
    # tests/conftest.py turns it on, so every context test here and elsewhere checks it.
    assert CHECK_INVARIANTS
    assert isinstance(new_pending(1), CheckedPending)


def test_cascade_layout_orders_barriers_between_inputs_and_flushes_last() -> None:
    ids = [barrier_id(0), input_id(0), barrier_id(1), input_id(1), barrier_id(2)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert [is_barrier(c) for c in ids] == [True, False, True, False, True]
    assert input_id(2**60) < FLUSH_BASE == flush_id(0) < flush_id(1) < CASCADE_END
    assert not is_barrier(flush_id(0))
    # Refining keeps the order, and a barrier stays one at any depth.
    assert refine(input_id(0), 5) < refine(barrier_id(1), 0) < refine(input_id(1), 0)
    assert is_barrier(refine(barrier_id(1), 0), depth=1)
    assert not is_barrier(refine(barrier_id(1), 1), depth=1)
    assert unrefined(refine(input_id(7), 3), 1) == input_id(7)
    assert position_text(input_id(0)) == " at input event 1"
    assert position_text(flush_id(2)) == " during the end-of-input flush"

"""The cascade id space (SEMANTICS §8): every number the merge orders work by, in one place.

Each item a context processes carries the *cascade id* of the input event (or flush) that
caused it; a context processes its items in (cascade id, producer index, arrival) order.
The ids of one pipeline, from small to large:

    barrier_id(i) = 2 * i       before input position i (reserved for snapshots/checkpoints)
    input_id(i)   = 2 * i + 1   the input event at position i (0, 1, 2, ... as pushed)
    flush_id(k)   = FLUSH_BASE << k   the end-of-input flush at global position k
    CASCADE_END                the promise of a producer that is done

A barrier's id sits between the input events around it, so a barrier item is merged like any
other: a context reaches barrier i after every item of the events before position i and
before any item of the event at i. Input and barrier ids stay below FLUSH_BASE (2**61
events). A promise `upto` ("no item below it will follow") after input event i is
`input_id(i) + 1 == barrier_id(i + 1)`: a barrier may still come there.

Worker pools (SEMANTICS §10) refine ids: a pool's scheduler sends dispatch j of cascade c as
`refine(c, j) = (c << SUB) + j`, so that one event's dispatches come back in dispatch
order. A context with `depth` pools on the way from the input counts in ids refined `depth`
times: `at_depth(c, depth)` converts an unrefined id, `unrefined(c, depth)` goes back.
Every conversion is a shift, so the order of ids (and of barriers between them) is kept.
"""

from collections.abc import Callable, Sequence

SUB = 32  # bits a pool's scheduler appends to cascade ids to number its dispatches
FLUSH_BASE = 1 << 62  # id of the end-of-input flush at global position 0
# Flush k is FLUSH_BASE << k: each flush's ids are more than all ids before it, so a pool
# worker's flush can order its partitions by the ids that created them (`partition_turn`).
CASCADE_END = 1 << 8192  # `upto` of a producer that is done: above every flush at any depth
INPUT_STEP = 2  # from one input event's id to the next (a barrier id between them)
BARRIER_ROUTE = "#barrier"  # the route of barrier items (`#` is in no VPL name), D36


def input_id(position: int) -> int:
    """The cascade id of the input event at `position` (0-based)."""
    return 2 * position + 1


def barrier_id(position: int) -> int:
    """The id of a barrier taken before the input event at `position` (after all before)."""
    return 2 * position


def is_barrier(cascade: int, depth: int = 0) -> bool:
    """Whether `cascade` (counted at `depth`) is a barrier's id."""
    if cascade & ((1 << (SUB * depth)) - 1):
        return False  # a refined dispatch id
    base = cascade >> (SUB * depth)
    return base < FLUSH_BASE and base % 2 == 0


def flush_id(k: int, depth: int = 0) -> int:
    """The cascade id of the end-of-input flush at global position `k`, at `depth`."""
    return at_depth(FLUSH_BASE << k, depth)


def refine(cascade: int, dispatch: int) -> int:
    """The id of a pool's dispatch number `dispatch` of `cascade`."""
    return (cascade << SUB) + dispatch


def at_depth(cascade: int, depth: int) -> int:
    """An unrefined id as a context `depth` pools down counts it."""
    return cascade << (SUB * depth)


def unrefined(cascade: int, depth: int) -> int:
    """The input-level id (input, barrier or flush) of an id counted at `depth`."""
    return cascade >> (SUB * depth)


def positions_before(upto: int) -> int:
    """How many input events come before the promise `upto` (an input-level id)."""
    return upto // 2


def position_text(cascade: int | None) -> str:
    """Where in the input a failure happened, as words, from an input-level id."""
    if cascade is None:
        return ""
    if cascade >= FLUSH_BASE:
        return " during the end-of-input flush"
    return f" at input event {cascade // 2 + 1}"


def next_flush(order: Sequence[tuple[int, Callable[[], None]]], done: int, depth: int) -> int:
    """The id of the next flush to run of `order` ((k, flush) by k), or CASCADE_END."""
    if done == len(order):
        return CASCADE_END
    return flush_id(order[done][0], depth)

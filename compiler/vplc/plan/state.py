"""The run-time state a plan declares: per stream (and per pool scheduler, and for the whole
program) every mutable object the generated code keeps between events (DECISION D35).

This is the one place that names state. The code generator creates exactly these objects,
under these names, and writes `snapshot_state`/`restore_state` from the same list; `vplc
plan` prints it; a snapshot's dict uses the names as keys. A name is the Python variable
that holds the object, so it is also what a reader of a generated module finds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum

from vplc.check import model
from vplc.check.model import WindowKind
from vplc.plan.names import mangle
from vplc.plan.shape import shape_of
from vplc.plan.threads import PoolPlan, pool_of


class StateKind(Enum):
    WINDOW = "open window"  # the one window of an unpartitioned stream
    WINDOW_MAP = "window map"  # partition key -> its open window
    DISTINCT = "distinct set"
    LIMIT = "limit counter"
    ROUND_ROBIN = "round-robin position"
    WORKER_CACHE = "key-to-worker cache"
    LATE_DATA = "late data"  # the watermark and its inputs (vpl_runtime.lateness)
    QUEUE = "delivery queue"
    COPIES = "in-place copies"  # a broadcast pool run on one thread: each copy's own state

    @property
    def saved(self) -> bool:
        """Whether a snapshot holds it. A cache is derived (restore empties it) and the
        queue is empty between pushes, when snapshots are taken."""
        return self not in (StateKind.WORKER_CACHE, StateKind.QUEUE)


@dataclass(frozen=True, slots=True)
class StateDecl:
    """One mutable object of the run: `name` is its variable and its snapshot key."""

    name: str
    kind: StateKind
    stream: str | None  # None: the program's (late data, the delivery queue)
    op: str | None  # the op it belongs to, `line:col .op(...)`
    keyed: str | None = None  # what it is keyed by (a partition field, the pool key)
    detail: str = ""  # what the object holds, for `vplc plan`
    cls: str | None = None  # the class of its window objects (WINDOW, WINDOW_MAP)


@dataclass(frozen=True, slots=True)
class StreamPart:
    """What of a stream runs in one place: all of it, or the ops before or after its pool."""

    where: str  # "" (the whole stream), "scheduler", "each worker", "each copy"
    stream: model.Stream


def state_name(kind: StateKind, stream: str, position: int | None = None) -> str:
    """The variable (and snapshot key) of a stream's state; `position` is the op's 1-based
    place in the stream part that holds it (distinct sets and limit counters)."""
    match kind:
        case StateKind.WINDOW:
            return mangle("window", stream)
        case StateKind.WINDOW_MAP:
            return mangle("windows", stream)
        case StateKind.DISTINCT:
            return mangle("seen", stream, position)
        case StateKind.LIMIT:
            return mangle("passed", stream, position)
        case StateKind.ROUND_ROBIN:
            return mangle("turn", stream)
        case StateKind.WORKER_CACHE:
            return mangle("workerof", stream)
        case StateKind.COPIES:
            return mangle("made", stream)
    raise AssertionError(kind)


def window_class(stream: str) -> str:
    return mangle("Window", stream)


def stream_state(stream: model.Stream) -> tuple[StateDecl, ...]:
    """The state of `stream` (or of one part of it, see `stream_parts`), in op order."""
    shape = shape_of(stream)
    live = {id(op) for segment in (shape.pre, shape.between, shape.post) for op in _run(segment)}
    decls: list[StateDecl] = []
    for position, op in enumerate(stream.ops, start=1):
        where = f"{op.origin.line}:{op.origin.column} {op.origin.text}"
        if op is shape.window:
            decls.append(_window_decl(stream, where))
        elif id(op) not in live:
            continue
        elif isinstance(op, model.Distinct):
            decls.append(_op_decl(StateKind.DISTINCT, stream.name, position, where, "keys seen"))
        elif isinstance(op, model.Limit) and op.count > 0:
            decls.append(_op_decl(StateKind.LIMIT, stream.name, position, where, "events passed"))
    # An aggregate without a window aggregates each event alone (W001): no state.
    return tuple(decls)


def _run(segment: tuple[model.StreamOp, ...]) -> tuple[model.StreamOp, ...]:
    """The ops of a segment that can run: none after a `.limit(0)`, which drops everything
    (the code generator writes no code, hence no state, for them)."""
    for i, op in enumerate(segment):
        if isinstance(op, model.Limit) and op.count <= 0:
            return segment[:i]
    return segment


def _op_decl(kind: StateKind, stream: str, position: int, where: str, detail: str) -> StateDecl:
    return StateDecl(state_name(kind, stream, position), kind, stream, where, detail=detail)


def _window_decl(stream: model.Stream, where: str) -> StateDecl:
    shape = shape_of(stream)
    window = shape.window
    assert window is not None
    if shape.incremental:
        holds = "count, latest time and aggregate accumulators"
    elif window.kind in (WindowKind.SLIDING_COUNT, WindowKind.SLIDING_TIME):
        holds = "buffered events and emission bookkeeping"
    else:
        holds = "count, latest time and buffered events"
    keyed = shape.window_key
    kind = StateKind.WINDOW if keyed is None else StateKind.WINDOW_MAP
    return StateDecl(
        state_name(kind, stream.name),
        kind,
        stream.name,
        where,
        keyed=keyed,
        detail=holds,
        cls=window_class(stream.name),
    )


def scheduler_state(pool: PoolPlan) -> tuple[StateDecl, ...]:
    """The state a pool's scheduler keeps to choose workers."""
    where = f"{pool.pool.origin.line}:{pool.pool.origin.column} {pool.pool.origin.text}"
    match pool.pool.strategy:
        case model.Strategy.ROUND_ROBIN:
            kind = StateKind.ROUND_ROBIN
            return (
                StateDecl(
                    state_name(kind, pool.stream),
                    kind,
                    pool.stream,
                    where,
                    detail=f"next worker of {pool.pool.workers}",
                ),
            )
        case model.Strategy.CONSISTENT_HASH:
            kind = StateKind.WORKER_CACHE
            return (
                StateDecl(
                    state_name(kind, pool.stream),
                    kind,
                    pool.stream,
                    where,
                    keyed="pool key",
                    detail="derived, emptied on restore",
                ),
            )
    return ()


def copies_state(stream: model.Stream) -> StateDecl:
    """A broadcast pool run in place: the list of its copies, each with its own state."""
    found = pool_of(stream)
    assert found is not None
    op = found[1]
    where = f"{op.origin.line}:{op.origin.column} {op.origin.text}"
    return StateDecl(
        state_name(StateKind.COPIES, stream.name),
        StateKind.COPIES,
        stream.name,
        where,
        detail=f"{op.workers} copies of the ops after the pool",
    )


LATENESS_STATE = (
    StateDecl(
        "late_data",
        StateKind.LATE_DATA,
        None,
        None,
        detail="latest timestamp and watermark mark per input type, the watermark",
    ),
)
QUEUE_STATE = StateDecl("queue", StateKind.QUEUE, None, None, detail="empty between pushes")


def scheduler_part(stream: model.Stream, split: int) -> model.Stream:
    """The ops before the pool, which run once, in the stream's context."""
    return dataclasses.replace(stream, ops=stream.ops[:split])


def worker_part(stream: model.Stream, split: int) -> model.Stream:
    """The ops after the pool, which each worker runs with its own state; a
    `.partition_by` before the pool still partitions their windows (§5.2)."""
    partitions = [op for op in stream.ops[:split] if isinstance(op, model.PartitionBy)]
    return dataclasses.replace(stream, ops=(*partitions[-1:], *stream.ops[split + 1 :]))


def stream_parts(
    stream: model.Stream, pools: tuple[PoolPlan, ...], threaded: bool
) -> tuple[StreamPart, ...]:
    """Where the parts of `stream` run: a pool splits it into the scheduler's ops and each
    worker's; without threads a broadcast pool runs its ops once per copy, in place (§10),
    and other pools run the whole stream once."""
    pool = next((p for p in pools if p.stream == stream.name), None)
    if pool is not None:
        return (
            StreamPart("scheduler", scheduler_part(stream, pool.split)),
            StreamPart("each worker", worker_part(stream, pool.split)),
        )
    found = pool_of(stream)
    if not threaded and found is not None and found[1].strategy is model.Strategy.BROADCAST:
        return (
            StreamPart("", scheduler_part(stream, found[0])),
            StreamPart("each copy", worker_part(stream, found[0])),
        )
    return (StreamPart("", stream),)

"""Fusion: which stream bodies `push` runs in place instead of calling them (D37).

Takes a plan; gives, per input route, the chain of streams whose code sits in `push`
itself. Every stream's body is written once: in a chain (in place) or as its own function,
never both. Decided over the plan's routes and the streams' shapes, before any code exists.

A chain starts at the lone, unfiltered consumer of an input type and goes on while the
last stream ends with its only `.emit` and hands its events to a lone, unfiltered, windowless
consumer: `A -> B -> C` then costs what it costs by hand. A chain's later streams are also
entered by input events typed like the stream before them (§5.1), which is why `push` tests
for those types inside the chain's branch. The "only `.emit` last" rule lets `--stats` count
a fused stream's events as its upstream's lines, without a counter in the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass

from vplc.check import model
from vplc.plan.planner import Plan, Route
from vplc.plan.shape import shape_of
from vplc.plan.threads import pool_of

# Beyond this many routes, `push` looks the route up in a dict instead of testing the
# event type branch by branch; nothing runs in place then.
ROUTE_TABLE_THRESHOLD = 8


@dataclass(frozen=True, slots=True)
class Chain:
    """Streams `push` runs in place for events of type `route`, one after the other."""

    route: str
    streams: tuple[str, ...]  # the head (consumer of `route`), then each one's consumer

    @property
    def entries(self) -> tuple[str, ...]:
        """The event type entering at each stream: the route, then the previous stream."""
        return (self.route, *self.streams[:-1])


def push_order(plan: Plan) -> list[Route]:
    """The routes in the order `push` tests them: input event types first (the common case),
    then types named after streams; each sorted by name."""
    stream_names = {sp.stream.name for sp in plan.streams}
    return sorted(plan.routes, key=lambda r: (r.name in stream_names, r.name))


def push_chains(plan: Plan) -> tuple[Chain, ...]:
    """The chains of a program without contexts, as its generated `push` runs them."""
    return chains(plan, [r for r in push_order(plan) if r.targets])


def uses_route_table(route_count: int) -> bool:
    return route_count > ROUTE_TABLE_THRESHOLD


def chains(plan: Plan, routes: list[Route]) -> tuple[Chain, ...]:
    """The chains of a program that runs on the caller's thread, in `routes` order.

    Nothing runs in place with contexts (each context serves a route table), with a
    delivery queue (a delivery must drain after the stream) or a route table. At most one
    chain holds a windowed stream: its window local `w` has a different type in each.
    """
    if plan.contexts or plan.queued or uses_route_table(len(routes)):
        return ()
    entered = _entry_count(plan)
    lone = {r.name: t for r in routes if (t := _lone_target(r)) is not None}
    in_place = {t for t in lone.values() if entered[t] == 1 and _may_run_in_place(plan, t)}
    # upstream -> the consumer that runs in place after it, as the rest of its body
    fused = {
        up: t
        for up, t in lone.items()
        if t in in_place and up in in_place and _fuses(plan, up, t)
    }
    found: list[Chain] = []
    windowed = False
    streams_named = {s.stream.name for s in plan.streams}
    for route in routes:
        head = lone.get(route.name)
        # A head reads input events only: a stream's deliveries run its consumer in place
        # (fused) or call its function.
        if head is None or head not in in_place or route.name in streams_named:
            continue
        if _has_window(plan, head):
            if windowed:
                continue
            windowed = True
        streams = [head]
        while streams[-1] in fused:
            streams.append(fused[streams[-1]])
        found.append(Chain(route.name, tuple(streams)))
    return tuple(found)


def _fuses(plan: Plan, upstream: str, consumer: str) -> bool:
    """Whether `consumer` may run as the rest of `upstream`'s body."""
    return (
        not _has_window(plan, upstream)
        and not _has_window(plan, consumer)
        and _ends_with_only_emit(plan.stream(upstream).stream)
    )


def _lone_target(route: Route) -> str | None:
    if len(route.targets) != 1 or route.targets[0].filters:
        return None
    return route.targets[0].stream


def _entry_count(plan: Plan) -> dict[str, int]:
    """How many routes feed each stream (a merge of several types has several)."""
    count = {s.stream.name: 0 for s in plan.streams}
    for route in plan.routes:
        for target in route.targets:
            count[target.stream] += 1
    return count


def _may_run_in_place(plan: Plan, name: str) -> bool:
    """A pool's ops (in place, the broadcast copies) have their own functions."""
    stream = plan.stream(name).stream
    return pool_of(stream) is None and all(p.stream != name for p in plan.pools)


def _has_window(plan: Plan, name: str) -> bool:
    shape = shape_of(plan.stream(name).stream)
    return shape.window is not None or shape.aggregate is not None


def _ends_with_only_emit(stream: model.Stream) -> bool:
    emits = [op for op in stream.ops if isinstance(op, model.Emit)]
    return len(emits) == 1 and bool(stream.ops) and stream.ops[-1] is emits[0]

"""The planner: decisions about how a checked program runs, before any code is written.

It computes the values of constants, who consumes whose events (routes), whether direct
calls reproduce the breadth-first delivery order of SEMANTICS §5.1 or a queue is needed, the
order in which windows flush at end of input (§6.7), and the late-data rules (§6.6).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vplc.check import model
from vplc.diagnostics import Diagnostic, warning
from vplc.frontend.syntax import Expr, Span
from vplc.plan.constants import evaluate_constant
from vplc.plan.threads import DEFAULT_CONTEXT as DEFAULT_CONTEXT
from vplc.plan.threads import ContextPlan as ContextPlan
from vplc.plan.threads import PoolPlan as PoolPlan
from vplc.plan.threads import (
    SharedThread,
    context_cycles,
    lines_around_pool,
    plan_threads,
    pool_of,
)
from vplc.plan.threads import context_of as context_of


@dataclass(frozen=True, slots=True)
class RouteTarget:
    """A stream fed by a route; `filters` are the merge filters of the entries naming this
    type (the event is admitted once if any is true); empty means unconditional."""

    stream: str
    filters: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Route:
    """Events typed `name` (input events, and output events of the stream `name`)."""

    name: str
    targets: tuple[RouteTarget, ...]  # declaration order


@dataclass(frozen=True, slots=True)
class StreamPlan:
    stream: model.Stream
    index: int  # declaration order
    upstream: tuple[str, ...]  # streams whose output this stream consumes
    has_consumers: bool  # some stream consumes this stream's output


@dataclass(frozen=True, slots=True)
class Lateness:
    """§6.6, only planned when some stream declares `.allowed_lateness`."""

    out_of_order: Mapping[str, int]  # input type -> declared out_of_order (ms)
    allowed: Mapping[str, int]  # input type -> largest allowed lateness of its consumers


@dataclass(frozen=True, slots=True)
class Plan:
    program: model.CheckedProgram
    constants: Mapping[str, Any]  # declared name -> compile-time value (may be MISSING)
    streams: tuple[StreamPlan, ...]
    routes: tuple[Route, ...]  # sorted by name
    queued: bool  # deliveries go through a FIFO queue (else: direct calls)
    flush_order: tuple[str, ...]  # §6.7: all streams, in the order they flush
    lateness: Lateness | None
    contexts: tuple[ContextPlan, ...]  # empty: everything runs on the caller's thread
    pools: tuple[PoolPlan, ...]  # pools of several workers, when contexts are planned
    warnings: tuple[Diagnostic, ...]
    # Why a program that declares contexts or pools runs on one thread anyway (W034).
    one_thread_reason: str | None = None

    def stream(self, name: str) -> StreamPlan:
        for plan in self.streams:
            if plan.stream.name == name:
                return plan
        raise KeyError(name)

    def route(self, name: str) -> Route | None:
        for route in self.routes:
            if route.name == name:
                return route
        return None


def plan(program: model.CheckedProgram, one_thread: bool = False) -> Plan:
    """Plan a checked program (which has no dependency cycle, D16); with `one_thread`,
    contexts and pools run on the caller's thread (the reference that tests compare with)."""
    routes = _routes(program)
    streams = streams_of(program, routes)
    meeting = _chains_meet(streams, routes)
    queued = meeting is not None
    contexts, pools, warnings = (
        ((), (), ()) if one_thread else _contexts(program, routes, streams, meeting)
    )
    shared = [w for w in warnings if w.code == "W034"]
    return Plan(
        program=program,
        constants=_constants(program),
        streams=streams,
        routes=routes,
        queued=queued,
        flush_order=_flush_order(streams),
        lateness=_lateness(program),
        contexts=contexts,
        pools=pools,
        warnings=warnings,
        one_thread_reason=shared[0].message if shared else None,
    )


def streams_of(program: model.CheckedProgram, routes: tuple[Route, ...]) -> tuple[StreamPlan, ...]:
    names = {s.name for s in program.streams}
    return tuple(
        StreamPlan(
            stream=s,
            index=i,
            upstream=tuple(dict.fromkeys(src.name for src in s.sources if src.name in names)),
            has_consumers=any(r.name == s.name for r in routes),
        )
        for i, s in enumerate(program.streams)
    )


def _contexts(
    program: model.CheckedProgram,
    routes: tuple[Route, ...],
    streams: tuple[StreamPlan, ...],
    meeting: tuple[str, str] | None,
) -> tuple[tuple[ContextPlan, ...], tuple[PoolPlan, ...], tuple[Diagnostic, ...]]:
    """The threads that run streams and the pools they run, or none when no stream asked
    for a context or a pool of several workers."""
    assigned = [s for s in program.streams if s.context is not None]
    pooled = [s for s in program.streams if pool_of(s) is not None]
    if not assigned and not pooled:
        return (), (), ()
    reason = _one_thread_reason(pooled, meeting)
    if reason is not None:
        why, span = reason
        shares = _what_shares(assigned, pooled) + " run in one thread"
        message = shares + (", pools in place" if pooled else "") + ": " + why
        return (), (), (warning("W034", message, span or (assigned or pooled)[0].span),)
    consumers = {r.name: [t.stream for t in r.targets] for r in routes}
    shared = context_cycles(program, consumers)
    contexts, pools = plan_threads(program, consumers, _topological(streams), shared)
    return contexts, pools, tuple(_shared_warning(program, group) for group in shared)


def _one_thread_reason(
    pooled: list[model.Stream], meeting: tuple[str, str] | None
) -> tuple[str, Span | None] | None:
    """Why the program must run on one thread (W034), and where to say it, if it must."""
    if meeting is not None:
        # Two chains of streams meet at one stream: only a single thread reproduces the
        # breadth-first order there (D11 allows any means), so the contexts share one.
        root, stream = meeting
        return (
            f"stream '{stream}' receives the events of '{root}' through two chains of "
            "streams, whose order only one thread reproduces",
            None,
        )
    around = next((s for s in pooled if lines_around_pool(s)), None)
    if around is not None:
        # The scheduler's lines and the workers' would need a merge over a diamond of
        # bounded channels (scheduler -> workers -> collector, scheduler -> collector),
        # which can deadlock; one thread keeps the order of the run without the pool (D34).
        return (
            f"stream '{around.name}' writes lines both before and after its pool, an order "
            "only one thread keeps",
            around.span,
        )
    return None


def _shared_warning(program: model.CheckedProgram, group: SharedThread) -> Diagnostic:
    """W035 at the stream closing the cycle: which contexts share a thread, and why."""
    named = [context_words(ctx) for ctx in group.contexts]
    listed = ", ".join(named[:-1]) + " and " + named[-1]
    message = (
        f"{listed} send events to each other in a cycle, so they run on one thread "
        f"(the thread of {named[0]}); other contexts keep their own threads"
    )
    span = next(s.span for s in program.streams if s.name == group.closing)
    return warning("W035", message, span)


def context_words(context: str) -> str:
    """A context as users name it: `context 'c'`, or `the default context`."""
    return "the default context" if context == DEFAULT_CONTEXT else f"context '{context}'"


def _constants(program: model.CheckedProgram) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for binding in program.bindings:
        values[binding.name] = evaluate_constant(binding.value, values)
    return values


def _routes(program: model.CheckedProgram) -> tuple[Route, ...]:
    targets: dict[str, list[RouteTarget]] = {}
    for stream in program.streams:
        by_name: dict[str, list[Expr | None]] = {}
        for source in stream.sources:
            by_name.setdefault(source.name, []).append(source.filter)
        for name, filters in by_name.items():
            # One unfiltered entry admits every event of the type.
            kept = () if None in filters else tuple(f for f in filters if f is not None)
            targets.setdefault(name, []).append(RouteTarget(stream.name, kept))
    return tuple(Route(name, tuple(t)) for name, t in sorted(targets.items()))


def _what_shares(assigned: list[model.Stream], pooled: list[model.Stream]) -> str:
    """`the contexts c1, c2 and the pools of S`: what W034 puts on one thread."""
    contexts = list(dict.fromkeys(s.context for s in assigned if s.context is not None))
    parts = []
    if contexts:
        parts.append(("context " if len(contexts) == 1 else "contexts ") + ", ".join(contexts))
    if pooled:
        names = ", ".join(s.name for s in pooled)
        parts.append(("the pool of " if len(pooled) == 1 else "the pools of ") + names)
    return " and ".join(parts)


def _chains_meet(
    streams: tuple[StreamPlan, ...], routes: tuple[Route, ...]
) -> tuple[str, str] | None:
    """Where calling consumers depth-first would not give a stream its events in the
    breadth-first order of §5.1: (event type or stream, stream) when two chains of streams
    lead from the first to the second; None when, from any event type, at most one chain
    leads to each stream (then each stream sees its only parent's output in order).
    """
    consumers = {r.name: [t.stream for t in r.targets] for r in routes}
    for root in consumers:
        paths: dict[str, int] = {}
        for stream in _reachable_in_topological_order(root, consumers, streams):
            feeding = [p for p in _parents(stream, streams) if p in paths]
            count = sum(paths[p] for p in feeding) + (1 if stream in consumers[root] else 0)
            if count > 1:
                return root, stream
            paths[stream] = count
    return None


def _parents(stream: str, streams: tuple[StreamPlan, ...]) -> tuple[str, ...]:
    for plan in streams:
        if plan.stream.name == stream:
            return plan.upstream
    return ()


def _reachable_in_topological_order(
    root: str, consumers: Mapping[str, list[str]], streams: tuple[StreamPlan, ...]
) -> list[str]:
    seen: set[str] = set()
    frontier = list(consumers.get(root, []))
    while frontier:
        name = frontier.pop()
        if name not in seen:
            seen.add(name)
            frontier.extend(consumers.get(name, []))
    return [name for name in _topological(streams) if name in seen]


def _topological(streams: tuple[StreamPlan, ...]) -> list[str]:
    """Stream names, each after all its upstream streams, ties in declaration order."""
    done: list[str] = []
    pending = [s for s in streams]
    while pending:
        ready = next(s for s in pending if all(u in done for u in s.upstream if u != s.stream.name))
        done.append(ready.stream.name)
        pending.remove(ready)
    return done


def _flush_order(streams: tuple[StreamPlan, ...]) -> tuple[str, ...]:
    """§6.7: next is the first stream in declaration order whose sources have all flushed."""
    return tuple(_topological(streams))


def _lateness(program: model.CheckedProgram) -> Lateness | None:
    allowed: dict[str, int] = {}
    out_of_order: dict[str, int] = {}
    for stream in program.streams:
        for op in stream.ops:
            for source in stream.sources:
                if isinstance(op, model.AllowedLateness):
                    allowed[source.name] = max(allowed.get(source.name, 0), op.lateness_ms)
                elif isinstance(op, model.Watermark):
                    out_of_order[source.name] = op.out_of_order_ms
    if not allowed:
        return None
    return Lateness(out_of_order=out_of_order, allowed=allowed)

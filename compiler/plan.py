"""The planner: decisions about how a checked program runs, before any code is written.

It computes the values of constants, who consumes whose events (routes), whether direct
calls reproduce the breadth-first delivery order of SEMANTICS §5.1 or a queue is needed, the
order in which windows flush at end of input (§6.7), and the late-data rules (§6.6).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vplc import model
from vplc.diagnostics import Diagnostic, warning
from vplc.expressions import evaluate_constant
from vplc.syntax import Expr


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


DEFAULT_CONTEXT = "(default)"  # streams without .context(); not a VPL identifier


@dataclass(frozen=True, slots=True)
class ContextPlan:
    """One execution domain: a thread (or process) running some streams (SEMANTICS §8)."""

    name: str  # the declared name, or DEFAULT_CONTEXT
    cores: tuple[int, ...]
    streams: tuple[str, ...]  # declaration order
    upstream: tuple[str, ...]  # contexts that send events to this one, in context order


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
    warnings: tuple[Diagnostic, ...]

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


def plan(program: model.CheckedProgram) -> Plan:
    """Plan a checked program (which has no dependency cycle, D16)."""
    routes = _routes(program)
    queued = not _direct_calls_keep_order(streams_of(program, routes), routes)
    contexts, warnings = _contexts(program, routes, queued)
    streams = streams_of(program, routes)
    return Plan(
        program=program,
        constants=_constants(program),
        streams=streams,
        routes=routes,
        queued=queued,
        flush_order=_flush_order(streams),
        lateness=_lateness(program),
        contexts=contexts,
        warnings=warnings,
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


def context_of(stream: model.Stream) -> str:
    return stream.context if stream.context is not None else DEFAULT_CONTEXT


def _contexts(
    program: model.CheckedProgram, routes: tuple[Route, ...], queued: bool
) -> tuple[tuple[ContextPlan, ...], tuple[Diagnostic, ...]]:
    """The contexts that run streams, in declaration order (the default one last), or none
    when no stream asked for a context."""
    assigned = [s for s in program.streams if s.context is not None]
    if not assigned:
        return (), ()
    if queued:
        # Two chains of streams meet at one stream: only a single thread reproduces the
        # breadth-first order there (D11 allows any means), so the contexts share one.
        message = (
            "contexts of this program run in one thread: some stream receives events through "
            "two chains of streams, whose order only one thread reproduces"
        )
        return (), (warning("W034", message, assigned[0].span),)
    consumers = {r.name: [t.stream for t in r.targets] for r in routes}
    context_by_stream = {s.name: context_of(s) for s in program.streams}
    order = [c.name for c in program.contexts] + [DEFAULT_CONTEXT]
    cores = {c.name: c.cores for c in program.contexts}
    sends: dict[str, set[str]] = {}
    for stream in program.streams:
        for consumer in consumers.get(stream.name, []):
            if context_by_stream[consumer] != context_by_stream[stream.name]:
                sends.setdefault(context_by_stream[consumer], set()).add(
                    context_by_stream[stream.name]
                )
    plans = []
    for name in order:
        members = tuple(s.name for s in program.streams if context_by_stream[s.name] == name)
        if members:
            upstream = tuple(c for c in order if c in sends.get(name, set()))
            plans.append(ContextPlan(name, cores.get(name, ()), members, upstream))
    return tuple(plans), ()


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


def _direct_calls_keep_order(streams: tuple[StreamPlan, ...], routes: tuple[Route, ...]) -> bool:
    """Whether calling consumers depth-first gives every stream its events in the
    breadth-first order of §5.1: true when, from any event type, at most one chain of
    streams leads to each stream (then each stream sees its only parent's output in order).
    """
    consumers = {r.name: [t.stream for t in r.targets] for r in routes}
    for root in consumers:
        paths: dict[str, int] = {}
        for stream in _reachable_in_topological_order(root, consumers, streams):
            feeding = [p for p in _parents(stream, streams) if p in paths]
            count = sum(paths[p] for p in feeding) + (1 if stream in consumers[root] else 0)
            if count > 1:
                return False
            paths[stream] = count
    return True


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

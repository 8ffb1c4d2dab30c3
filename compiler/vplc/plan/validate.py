"""The plan's invariants, checked after planning and before any code is written.

The planner builds its threads, channels and pools step by step (`threads`); this module
states, independently of how they were built, what every plan must satisfy for the merge of
SEMANTICS §8 to be correct and free of deadlock:

- every stream is placed: in exactly one thread, its pool's workers included;
- every channel has both ends, and exists exactly when a route, a pool's dispatch or a
  pool's ordered lines cross from one thread to another;
- the channels (bounded, so a cycle could deadlock) form no cycle;
- thread names are unique, pools are consistent with their streams' ops, the flush order
  names every stream once, and route targets exist;
- every piece of run-time state (`state.py`) is declared once where it lives, so a
  snapshot's names are unambiguous.

A violation is a bug of the compiler, not of the program: `analyse` raises
`PlanInvariantError`, which the command line reports as an internal error.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from vplc.check import model
from vplc.plan.planner import Plan
from vplc.plan.state import LATENESS_STATE, QUEUE_STATE, stream_parts, stream_state
from vplc.plan.threads import ContextPlan, PoolPlan, emits_after


class PlanInvariantError(AssertionError):
    """The planner produced a plan that breaks one of its invariants (a compiler bug)."""

    def __init__(self, violations: list[str]) -> None:
        super().__init__("plan invariants violated:\n" + "\n".join(f"  {v}" for v in violations))
        self.violations = violations


def check_plan(plan: Plan) -> None:
    """Raise PlanInvariantError listing every violated invariant of `plan`."""
    violations = list(plan_violations(plan))
    if violations:
        raise PlanInvariantError(violations)


def plan_violations(plan: Plan) -> Iterator[str]:
    """Every invariant `plan` breaks, in words."""
    yield from _stream_violations(plan)
    yield from _state_violations(plan)
    if plan.contexts:
        yield from _thread_violations(plan)
    elif plan.pools:
        yield "pools are planned but no thread runs them"


def _stream_violations(plan: Plan) -> Iterator[str]:
    names = [sp.stream.name for sp in plan.streams]
    if len(set(names)) != len(names):
        yield "a stream is planned twice"
    if sorted(plan.flush_order) != sorted(names):
        yield f"the flush order {list(plan.flush_order)} does not name every stream once"
    known = set(names)
    for route in plan.routes:
        for target in route.targets:
            if target.stream not in known:
                yield f"route {route.name} feeds an unknown stream {target.stream!r}"


def _state_violations(plan: Plan) -> Iterator[str]:
    """Each state name once per place: the program's own state and every stream part's
    (each worker of a pool holds its own copy under the same names, in its own thread)."""
    seen: dict[tuple[str, str], object] = {}  # (place, name) -> the stream plan declaring it
    program = [*(LATENESS_STATE if plan.lateness else ()), *((QUEUE_STATE,) if plan.queued else ())]
    for decl in program:
        seen[("", decl.name)] = plan
    for sp in plan.streams:
        for part in stream_parts(sp.stream, plan.pools, bool(plan.contexts)):
            place = f"{sp.stream.name} {part.where}" if part.where.startswith("each") else ""
            for decl in stream_state(part.stream):
                owner = seen.setdefault((place, decl.name), sp)
                if owner is not sp:
                    yield f"state {decl.name!r} is declared twice (stream {sp.stream.name})"


def _thread_violations(plan: Plan) -> Iterator[str]:
    threads = {ctx.name: ctx for ctx in plan.contexts}
    if len(threads) != len(plan.contexts):
        yield "two threads have the same name"
    home = _homes(plan)
    for stream, places in home.items():
        if len(places) != 1:
            yield f"stream {stream!r} runs in {len(places)} threads {sorted(places)}, not one"
    pools = {p.stream: p for p in plan.pools}
    yield from _pool_violations(plan, pools, threads, home)
    needed = _needed_channels(plan, pools, home)
    declared = {(u, ctx.name) for ctx in plan.contexts for u in ctx.upstream}
    for producer, consumer in sorted(declared - needed):
        if producer not in threads:
            yield f"thread {consumer!r} is fed by {producer!r}, which is not a thread"
        else:
            yield f"channel {producer!r} -> {consumer!r} carries nothing"
    for producer, consumer in sorted(needed - declared):
        yield f"{producer!r} sends to {consumer!r} but {consumer!r} does not list it upstream"
    cycle = _cycle(plan.contexts)
    if cycle:
        yield "the bounded channels form a cycle: " + " -> ".join(cycle)


def _homes(plan: Plan) -> dict[str, set[str]]:
    """Per stream, the threads (other than pool workers) that list it."""
    home: dict[str, set[str]] = {sp.stream.name: set() for sp in plan.streams}
    for ctx in plan.contexts:
        if ctx.worker is None:
            for stream in ctx.streams:
                home.setdefault(stream, set()).add(ctx.name)
    return home


def _pool_violations(
    plan: Plan,
    pools: Mapping[str, PoolPlan],
    threads: Mapping[str, ContextPlan],
    home: Mapping[str, set[str]],
) -> Iterator[str]:
    streams = {sp.stream.name: sp.stream for sp in plan.streams}
    for pool in plan.pools:
        stream = streams.get(pool.stream)
        if stream is None:
            yield f"pool of unknown stream {pool.stream!r}"
            continue
        if not (0 <= pool.split < len(stream.ops)) or not isinstance(
            stream.ops[pool.split], model.Concurrent
        ):
            yield f"pool {pool.stream!r} splits its stream at op {pool.split}, not a .concurrent"
        if home.get(pool.stream) != {pool.scheduler}:
            yield f"pool {pool.stream!r} is scheduled in {pool.scheduler!r}, not its thread"
        if len(pool.workers) != pool.pool.workers:
            yield f"pool {pool.stream!r} has {len(pool.workers)} of {pool.pool.workers} workers"
        for i, worker in enumerate(pool.workers):
            role = threads[worker].worker if worker in threads else None
            if role is None or (role.stream, role.index) != (pool.stream, i):
                yield f"worker {i} of pool {pool.stream!r} is not a thread in that role"
        wants_collector = pool.pool.ordered and emits_after(stream, pool.split)
        if wants_collector != (pool.collector is not None):
            yield f"pool {pool.stream!r}: an ordered collector exactly when lines follow it"
        if pool.collector is not None and pool.collector not in threads:
            yield f"pool {pool.stream!r} writes lines through a missing thread"
    for ctx in plan.contexts:
        if ctx.worker is not None and ctx.worker.stream not in pools:
            yield f"thread {ctx.name!r} is a worker of a stream without a pool"


def _needed_channels(
    plan: Plan, pools: Mapping[str, PoolPlan], home: Mapping[str, set[str]]
) -> set[tuple[str, str]]:
    """The (producer, consumer) thread pairs that some event or line must travel between."""
    needed: set[tuple[str, str]] = set()

    def place(stream: str) -> str | None:
        places = home.get(stream, set())
        return next(iter(places)) if len(places) == 1 else None

    for route in plan.routes:
        pool = pools.get(route.name)
        producer = place(route.name)
        sources = pool.workers if pool is not None else ((producer,) if producer else ())
        for target in route.targets:
            consumer = place(target.stream)
            for source in sources:
                if consumer is not None and source != consumer:
                    needed.add((source, consumer))
    for pool in plan.pools:
        for worker in pool.workers:
            needed.add((pool.scheduler, worker))
            if pool.collector is not None:
                needed.add((worker, pool.collector))
    return needed


def _cycle(contexts: tuple[ContextPlan, ...]) -> list[str]:
    """A cycle of threads along their channels, if there is one (else empty)."""
    feeds = {ctx.name: ctx.upstream for ctx in contexts}
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(name: str) -> list[str]:
        state[name] = 1
        path.append(name)
        for upstream in feeds.get(name, ()):
            if state.get(upstream) == 1:
                return [*path[path.index(upstream) :], upstream]
            if upstream not in state and (found := visit(upstream)):
                return found
        path.pop()
        state[name] = 2
        return []

    for ctx in contexts:
        if ctx.name not in state and (found := visit(ctx.name)):
            return found
    return []

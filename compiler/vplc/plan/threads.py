"""Which thread runs what: contexts (SEMANTICS §8, D11) and worker pools (§10, D22).

Every declared context that has streams, and the default context, is one thread. A worker
pool `.concurrent(workers: N)` with N > 1 splits its stream: the ops before it run in the
stream's thread (the *scheduler*), the ops after it run in N *worker* threads of their own,
each with its own state. The pool's results then come back to the stream's context; to keep
the thread graph acyclic (the merge of `vpl_runtime.contexts.merge` needs that), the streams of a
context that consume a pool's results run in one more thread of that context, its
*collector*: `c`, then `c (collector 1)` after a first pool, and so on. A pool of one worker
is the same as no pool, and runs in place.

Contexts may feed each other in a cycle through an acyclic stream graph (`A` in c1, `B` in
c2 reading A, `C` in c1 reading B). The merge needs an acyclic thread graph, so the contexts
of such a cycle share one thread (warning W035), and only they: the other contexts keep
threads of their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from vplc.check import model
from vplc.check.graph import strongly_connected

DEFAULT_CONTEXT = "(default)"  # streams without .context(); not a VPL identifier


@dataclass(frozen=True, slots=True)
class WorkerRole:
    """What a worker thread is: worker `index` of the pool of stream `stream`."""

    stream: str
    index: int
    workers: int


@dataclass(frozen=True, slots=True)
class ContextPlan:
    """One execution domain: a thread (or process) running some streams (SEMANTICS §8).

    For a pool's worker, `streams` is its pool stream alone and `worker` says which one.
    """

    name: str  # the declared name, DEFAULT_CONTEXT, or a derived name (workers, collectors)
    cores: tuple[int, ...]
    streams: tuple[str, ...]  # declaration order
    upstream: tuple[str, ...]  # contexts that send events to this one, in context order
    worker: WorkerRole | None = None
    base: str = ""  # the declared context (or DEFAULT_CONTEXT) it belongs to
    level: int = 0  # collectors: how many pools of `base` feed it
    shares: tuple[str, ...] = ()  # the other contexts whose streams it runs (W035)


@dataclass(frozen=True, slots=True)
class PoolPlan:
    """A worker pool of more than one worker, and the threads that run it."""

    stream: str
    pool: model.Concurrent
    split: int  # index of the `.concurrent` op among the stream's ops
    scheduler: str  # the context running the ops before the pool
    workers: tuple[str, ...]  # worker context names, by worker index
    collector: str | None  # writes the pool's output lines in order (ordered pools)


@dataclass(frozen=True, slots=True)
class SharedThread:
    """Contexts that send events to each other in a cycle, run as one thread (W035)."""

    contexts: tuple[str, ...]  # in context order (declared ones, then the default); the
    # first names the thread
    closing: str  # the last stream, in declaration order, consuming across the cycle


def pool_of(stream: model.Stream) -> tuple[int, model.Concurrent] | None:
    """The stream's pool of more than one worker, with the index of its op, if any."""
    for i, op in enumerate(stream.ops):
        if isinstance(op, model.Concurrent) and op.workers > 1:
            return i, op
    return None


def emits_after(stream: model.Stream, split: int) -> bool:
    return any(isinstance(op, model.Emit) for op in stream.ops[split + 1 :])


def lines_around_pool(stream: model.Stream) -> bool:
    """Whether the stream writes lines (`.emit`) both before and after its pool."""
    found = pool_of(stream)
    if found is None:
        return False
    split = found[0]
    before = any(isinstance(op, model.Emit) for op in stream.ops[:split])
    return before and emits_after(stream, split)


def thread_name(base: str, level: int) -> str:
    """The thread of context `base` that runs its streams after `level` pools."""
    return base if level == 0 else f"{base} (collector {level})"


def context_of(stream: model.Stream) -> str:
    return stream.context if stream.context is not None else DEFAULT_CONTEXT


def context_order(program: model.CheckedProgram) -> list[str]:
    """Declared contexts in declaration order, then the default context."""
    return [c.name for c in program.contexts] + [DEFAULT_CONTEXT]


def context_cycles(
    program: model.CheckedProgram, consumers: Mapping[str, list[str]]
) -> tuple[SharedThread, ...]:
    """The sets of contexts that send events to each other in a cycle (SEMANTICS §8)."""
    names = context_order(program)
    index = {name: i for i, name in enumerate(names)}
    links: list[set[int]] = [set() for _ in names]
    crossing: dict[tuple[int, int], int] = {}  # (from ctx, to ctx) -> last consuming stream
    order = {s.name: i for i, s in enumerate(program.streams)}
    streams = {s.name: s for s in program.streams}
    for producer, targets in consumers.items():
        if producer not in streams:
            continue  # an input event type
        for consumer in targets:
            a = index[context_of(streams[producer])]
            b = index[context_of(streams[consumer])]
            if a != b:
                links[a].add(b)
                crossing[(a, b)] = max(crossing.get((a, b), -1), order[consumer])
    shared = []
    for component in strongly_connected([sorted(targets) for targets in links]):
        if len(component) < 2:
            continue
        members = set(component)
        closing = max(s for (a, b), s in crossing.items() if a in members and b in members)
        shared.append(
            SharedThread(tuple(names[i] for i in component), program.streams[closing].name)
        )
    return tuple(sorted(shared, key=lambda t: names.index(t.contexts[0])))


def plan_threads(
    program: model.CheckedProgram,
    consumers: Mapping[str, list[str]],
    topological: list[str],
    shared: tuple[SharedThread, ...] = (),
) -> tuple[tuple[ContextPlan, ...], tuple[PoolPlan, ...]]:
    """The threads of a program whose streams run on several threads, with its pools.

    `consumers` maps a stream name to the streams consuming its output; `topological` lists
    every stream after its upstream streams; each of `shared` runs as the thread of its first
    context.
    """
    streams = {s.name: s for s in program.streams}
    pools = {name: found for name, s in streams.items() if (found := pool_of(s)) is not None}
    bases = _bases(streams, shared)
    levels = _levels(bases, consumers, topological, pools)
    cores = _cores(program, shared)

    where = {name: thread_name(bases[name], levels[name]) for name in streams}
    pool_plans = {
        name: _pool_plan(streams[name], split, pool, bases[name], levels[name])
        for name, (split, pool) in pools.items()
    }
    order = _thread_order(program, where, pool_plans, levels)
    edges = _edges(streams, consumers, where, pool_plans)
    plans = []
    for name, base, level in order:
        members = tuple(s for s in streams if where[s] == name)
        role = _role(name, pool_plans)
        if role is not None:
            members = (role.stream,)
        upstream = tuple(t for t, _, _ in order if t in edges.get(name, set()))
        pinned = _worker_cores(cores.get(base, ()), role)
        shares = () if role else next((g.contexts[1:] for g in shared if g.contexts[0] == base), ())
        plans.append(ContextPlan(name, pinned, members, upstream, role, base, level, shares))
    return tuple(plans), tuple(pool_plans[n] for n in streams if n in pool_plans)


def _bases(streams: Mapping[str, model.Stream], shared: tuple[SharedThread, ...]) -> dict[str, str]:
    """Per stream, the context whose threads run it: its own, or its shared thread's."""
    merged = {ctx: group.contexts[0] for group in shared for ctx in group.contexts}
    return {name: merged.get(context_of(s), context_of(s)) for name, s in streams.items()}


def _cores(
    program: model.CheckedProgram, shared: tuple[SharedThread, ...]
) -> dict[str, tuple[int, ...]]:
    """Per context, its cores; a shared thread may run on the cores of all its contexts."""
    cores = {c.name: c.cores for c in program.contexts}
    for group in shared:
        union = [core for ctx in group.contexts for core in cores.get(ctx, ())]
        cores[group.contexts[0]] = tuple(dict.fromkeys(union))
    return cores


def _worker_cores(cores: tuple[int, ...], role: WorkerRole | None) -> tuple[int, ...]:
    """A worker gets one of its context's cores, in turn; other threads get them all."""
    if role is None or not cores:
        return cores
    return (cores[role.index % len(cores)],)


def _levels(
    bases: Mapping[str, str],
    consumers: Mapping[str, list[str]],
    topological: list[str],
    pools: Mapping[str, tuple[int, model.Concurrent]],
) -> dict[str, int]:
    """Per stream, how many pools of its own context lie upstream of it in that context."""
    levels = dict.fromkeys(bases, 0)
    for name in topological:
        here = bases[name]
        for consumer in consumers.get(name, []):
            if consumer != name and bases[consumer] == here:
                step = 1 if name in pools else 0
                levels[consumer] = max(levels[consumer], levels[name] + step)
    return levels


def _pool_plan(
    stream: model.Stream,
    split: int,
    pool: model.Concurrent,
    base: str,
    level: int,
) -> PoolPlan:
    workers = tuple(f"{stream.name} (worker {i})" for i in range(pool.workers))
    collector = None
    if pool.ordered and emits_after(stream, split):
        collector = thread_name(base, level + 1)
    return PoolPlan(stream.name, pool, split, thread_name(base, level), workers, collector)


def _role(name: str, pools: Mapping[str, PoolPlan]) -> WorkerRole | None:
    for plan in pools.values():
        if name in plan.workers:
            return WorkerRole(plan.stream, plan.workers.index(name), len(plan.workers))
    return None


def _thread_order(
    program: model.CheckedProgram,
    where: Mapping[str, str],
    pools: Mapping[str, PoolPlan],
    levels: Mapping[str, int],
) -> list[tuple[str, str, int]]:
    """(thread, base context, level) in order: per context (declared ones, then the default),
    level by level, each level followed by the workers of its pools."""
    used = set(where.values()) | {p.collector for p in pools.values() if p.collector}
    order: list[tuple[str, str, int]] = []
    bases = context_order(program)
    top = max(levels.values(), default=0) + 1
    for base in bases:
        for level in range(top + 1):
            name = thread_name(base, level)
            if name in used:
                order.append((name, base, level))
            for plan in pools.values():
                if plan.scheduler == name:
                    order.extend((w, base, 0) for w in plan.workers)
    return order


def _edges(
    streams: Mapping[str, model.Stream],
    consumers: Mapping[str, list[str]],
    where: Mapping[str, str],
    pools: Mapping[str, PoolPlan],
) -> dict[str, set[str]]:
    """Per thread, the threads that send it events."""
    edges: dict[str, set[str]] = {}

    def add(source: str, target: str) -> None:
        if source != target:
            edges.setdefault(target, set()).add(source)

    for name in streams:
        plan = pools.get(name)
        sources = plan.workers if plan else (where[name],)
        for consumer in consumers.get(name, []):
            for source in sources:
                add(source, where[consumer])
        if plan is not None:
            for worker in plan.workers:
                add(plan.scheduler, worker)
                if plan.collector is not None:
                    add(worker, plan.collector)
    return edges

"""Which thread runs what: contexts (SEMANTICS §8, D11) and worker pools (§10, D22).

Every declared context that has streams, and the default context, is one thread. A worker
pool `.concurrent(workers: N)` with N > 1 splits its stream: the ops before it run in the
stream's thread (the *scheduler*), the ops after it run in N *worker* threads of their own,
each with its own state. The pool's results then come back to the stream's context; to keep
the thread graph acyclic (the merge of `vpl_runtime.ctx_core` needs that), the streams of a
context that consume a pool's results run in one more thread of that context, its
*collector*: `c`, then `c (collector 1)` after a first pool, and so on. A pool of one worker
is the same as no pool, and runs in place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from vplc import model

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


@dataclass(frozen=True, slots=True)
class PoolPlan:
    """A worker pool of more than one worker, and the threads that run it."""

    stream: str
    pool: model.Concurrent
    split: int  # index of the `.concurrent` op among the stream's ops
    scheduler: str  # the context running the ops before the pool
    workers: tuple[str, ...]  # worker context names, by worker index
    collector: str | None  # writes the pool's output lines in order (ordered pools)


def pool_of(stream: model.Stream) -> tuple[int, model.Concurrent] | None:
    """The stream's pool of more than one worker, with the index of its op, if any."""
    for i, op in enumerate(stream.ops):
        if isinstance(op, model.Concurrent) and op.workers > 1:
            return i, op
    return None


def emits_after(stream: model.Stream, split: int) -> bool:
    return any(isinstance(op, model.Emit) for op in stream.ops[split + 1 :])


def thread_name(base: str, level: int) -> str:
    """The thread of context `base` that runs its streams after `level` pools."""
    return base if level == 0 else f"{base} (collector {level})"


def context_of(stream: model.Stream) -> str:
    return stream.context if stream.context is not None else DEFAULT_CONTEXT


def plan_threads(
    program: model.CheckedProgram,
    consumers: Mapping[str, list[str]],
    topological: list[str],
) -> tuple[tuple[ContextPlan, ...], tuple[PoolPlan, ...]]:
    """The threads of a program whose streams run on several threads, with its pools.

    `consumers` maps a stream name to the streams consuming its output; `topological` lists
    every stream after its upstream streams.
    """
    streams = {s.name: s for s in program.streams}
    pools = {name: found for name, s in streams.items() if (found := pool_of(s)) is not None}
    levels = _levels(streams, consumers, topological, pools)
    cores = {c.name: c.cores for c in program.contexts}

    where = {name: thread_name(context_of(s), levels[name]) for name, s in streams.items()}
    pool_plans = {
        name: _pool_plan(streams[name], split, pool, where[name], levels[name])
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
        plans.append(ContextPlan(name, pinned, members, upstream, role, base, level))
    return tuple(plans), tuple(pool_plans[n] for n in streams if n in pool_plans)


def _worker_cores(cores: tuple[int, ...], role: WorkerRole | None) -> tuple[int, ...]:
    """A worker gets one of its context's cores, in turn; other threads get them all."""
    if role is None or not cores:
        return cores
    return (cores[role.index % len(cores)],)


def _levels(
    streams: Mapping[str, model.Stream],
    consumers: Mapping[str, list[str]],
    topological: list[str],
    pools: Mapping[str, tuple[int, model.Concurrent]],
) -> dict[str, int]:
    """Per stream, how many pools of its own context lie upstream of it in that context."""
    levels = dict.fromkeys(streams, 0)
    for name in topological:
        here = context_of(streams[name])
        for consumer in consumers.get(name, []):
            if consumer != name and context_of(streams[consumer]) == here:
                step = 1 if name in pools else 0
                levels[consumer] = max(levels[consumer], levels[name] + step)
    return levels


def _pool_plan(
    stream: model.Stream,
    split: int,
    pool: model.Concurrent,
    scheduler: str,
    level: int,
) -> PoolPlan:
    workers = tuple(f"{stream.name} (worker {i})" for i in range(pool.workers))
    collector = None
    if pool.ordered and emits_after(stream, split):
        collector = thread_name(context_of(stream), level + 1)
    return PoolPlan(stream.name, pool, split, scheduler, workers, collector)


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
    bases = [c.name for c in program.contexts] + [DEFAULT_CONTEXT]
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

"""`vplc graph`: where each stream runs and how events flow, as Graphviz DOT or Mermaid."""

from __future__ import annotations

from dataclasses import dataclass

from vplc.plan.planner import DEFAULT_CONTEXT, Plan, context_of


@dataclass(frozen=True, slots=True)
class Edge:
    source: str  # node id
    target: str  # node id
    channel: bool  # crosses threads: a bounded queue at run time
    label: str = "queue"


@dataclass(frozen=True, slots=True)
class Cluster:
    """One thread: a context, a pool's worker, or a context's collector."""

    label: str
    nodes: tuple[tuple[str, str], ...]  # (node id, label)


@dataclass(frozen=True, slots=True)
class Topology:
    inputs: tuple[str, ...]  # event types that come only from input
    clusters: tuple[Cluster, ...]
    edges: tuple[Edge, ...]


def topology(plan: Plan) -> Topology:
    streams = {s.stream.name: s.stream for s in plan.streams}
    pools = {p.stream: p for p in plan.pools}
    where = {name: context_of(s) for name, s in streams.items()}
    for ctx in plan.contexts:
        for name in ctx.streams:
            if ctx.worker is None:
                where[name] = ctx.name
    edges = []
    for route in plan.routes:
        pool = pools.get(route.name)
        sources = [_worker_id(route.name, i) for i in range(len(pool.workers))] if pool else []
        for target in route.targets:
            crossing = bool(plan.contexts) and (
                pool is not None
                or (route.name in where and where[route.name] != where[target.stream])
            )
            for source in sources or [_id(route.name)]:
                edges.append(Edge(source, _id(target.stream), crossing))
    for pool in pools.values():
        strategy = pool.pool.strategy.value
        for i in range(len(pool.workers)):
            edges.append(Edge(_id(pool.stream), _worker_id(pool.stream, i), True, strategy))
            if pool.collector is not None:
                edges.append(Edge(_worker_id(pool.stream, i), _lines_id(pool.stream), True))
    inputs = tuple(r.name for r in plan.routes if r.name not in streams)
    return Topology(inputs, _clusters(plan, tuple(streams)), tuple(edges))


def _clusters(plan: Plan, streams: tuple[str, ...]) -> tuple[Cluster, ...]:
    if not plan.contexts:
        return (Cluster(_label(DEFAULT_CONTEXT, ()), tuple((_id(s), s) for s in streams)),)
    clusters = []
    for ctx in plan.contexts:
        if ctx.worker is not None:
            stream, i = ctx.worker.stream, ctx.worker.index
            label = f"worker {i} of {stream}" + _cores(ctx.cores)
            clusters.append(Cluster(label, ((_worker_id(stream, i), stream),)))
            continue
        nodes = [(_id(s), s + (" (scheduler)" if _pooled(plan, s) else "")) for s in ctx.streams]
        nodes += [
            (_lines_id(p.stream), f"{p.stream} lines, in order")
            for p in plan.pools
            if p.collector == ctx.name
        ]
        label = _label(ctx.base, ctx.cores, ctx.shares)
        label += f", collector {ctx.level}" if ctx.level else ""
        clusters.append(Cluster(label, tuple(nodes)))
    return tuple(clusters)


def _pooled(plan: Plan, stream: str) -> bool:
    return any(p.stream == stream for p in plan.pools)


def _cores(cores: tuple[int, ...]) -> str:
    return f" (cores {', '.join(map(str, cores))})" if cores else ""


def _worker_id(stream: str, index: int) -> str:
    return f"w{index}_{stream}"  # stream ids start with n_, so these never collide


def _lines_id(stream: str) -> str:
    return f"o_{stream}"


def _label(context: str, cores: tuple[int, ...], shares: tuple[str, ...] = ()) -> str:
    """A thread's contexts (several when they share it, W035) and cores."""
    names = [
        "default context" if name == DEFAULT_CONTEXT else f"context {name}"
        for name in (context, *shares)
    ]
    return " + ".join(names) + _cores(cores)


def _id(name: str) -> str:
    return "n_" + name  # VPL names are identifiers; the prefix avoids DOT/Mermaid keywords


def to_dot(top: Topology) -> str:
    lines = ["digraph vpl {", "  rankdir=LR;", "  node [shape=box];"]
    for name in top.inputs:
        lines.append(f'  {_id(name)} [label="{name}", shape=ellipse];')
    for i, cluster in enumerate(top.clusters):
        lines.append(f"  subgraph cluster_{i} {{")
        lines.append(f'    label="{cluster.label}";')
        lines += [f'    {node} [label="{label}"];' for node, label in cluster.nodes]
        lines.append("  }")
    for e in top.edges:
        style = f' [style=bold, label="{e.label}"]' if e.channel else ""
        lines.append(f"  {e.source} -> {e.target}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(top: Topology) -> str:
    lines = ["flowchart LR"]
    for name in top.inputs:
        lines.append(f"  {_id(name)}([{name}])")
    for i, cluster in enumerate(top.clusters):
        lines.append(f'  subgraph c{i} ["{cluster.label}"]')
        lines += [f'    {node}["{label}"]' for node, label in cluster.nodes]
        lines.append("  end")
    for e in top.edges:
        arrow = f"==>|{e.label}|" if e.channel else "-->"
        lines.append(f"  {e.source} {arrow} {e.target}")
    return "\n".join(lines) + "\n"

"""`vplc graph`: where each stream runs and how events flow, as Graphviz DOT or Mermaid."""

from __future__ import annotations

from dataclasses import dataclass

from vplc.plan import DEFAULT_CONTEXT, Plan, context_of


@dataclass(frozen=True, slots=True)
class Edge:
    source: str  # an input type or a stream
    target: str  # a stream
    channel: bool  # crosses contexts: a bounded queue at run time


@dataclass(frozen=True, slots=True)
class Topology:
    inputs: tuple[str, ...]  # event types that come only from input
    clusters: tuple[tuple[str, tuple[int, ...], tuple[str, ...]], ...]  # context, cores, streams
    edges: tuple[Edge, ...]


def topology(plan: Plan) -> Topology:
    streams = {s.stream.name: s.stream for s in plan.streams}
    where = {name: context_of(s) for name, s in streams.items()} if plan.contexts else {}
    edges = []
    for route in plan.routes:
        for target in route.targets:
            crossing = route.name in where and where[route.name] != where.get(target.stream)
            edges.append(Edge(route.name, target.stream, crossing))
    if plan.contexts:
        clusters = tuple((c.name, c.cores, c.streams) for c in plan.contexts)
    else:
        clusters = ((DEFAULT_CONTEXT, (), tuple(streams)),)
    inputs = tuple(r.name for r in plan.routes if r.name not in streams)
    return Topology(inputs, clusters, tuple(edges))


def _label(context: str, cores: tuple[int, ...]) -> str:
    name = "default context" if context == DEFAULT_CONTEXT else f"context {context}"
    return name + (f" (cores {', '.join(map(str, cores))})" if cores else "")


def _id(name: str) -> str:
    return "n_" + name  # VPL names are identifiers; the prefix avoids DOT/Mermaid keywords


def to_dot(top: Topology) -> str:
    lines = ["digraph vpl {", "  rankdir=LR;", "  node [shape=box];"]
    for name in top.inputs:
        lines.append(f'  {_id(name)} [label="{name}", shape=ellipse];')
    for i, (context, cores, streams) in enumerate(top.clusters):
        lines.append(f"  subgraph cluster_{i} {{")
        lines.append(f'    label="{_label(context, cores)}";')
        lines += [f'    {_id(s)} [label="{s}"];' for s in streams]
        lines.append("  }")
    for e in top.edges:
        style = ' [style=bold, label="queue"]' if e.channel else ""
        lines.append(f"  {_id(e.source)} -> {_id(e.target)}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(top: Topology) -> str:
    lines = ["flowchart LR"]
    for name in top.inputs:
        lines.append(f"  {_id(name)}([{name}])")
    for i, (context, cores, streams) in enumerate(top.clusters):
        lines.append(f'  subgraph c{i} ["{_label(context, cores)}"]')
        lines += [f"    {_id(s)}[{s}]" for s in streams]
        lines.append("  end")
    for e in top.edges:
        arrow = "==>|queue|" if e.channel else "-->"
        lines.append(f"  {_id(e.source)} {arrow} {_id(e.target)}")
    return "\n".join(lines) + "\n"

"""`vplc plan`: the plan as stable, readable text (and the golden `plan.txt` files)."""

from __future__ import annotations

from vplc import __version__
from vplc.frontend.unparse import unparse
from vplc.plan.fusion import push_chains
from vplc.plan.names import py_literal
from vplc.plan.planner import Plan, StreamPlan
from vplc.plan.shape import shape_of
from vplc.plan.state import (
    LATENESS_STATE,
    QUEUE_STATE,
    StateDecl,
    scheduler_state,
    stream_parts,
    stream_state,
)


def dump_plan(plan: Plan) -> str:
    lines = [
        f"plan of {plan.program.filename} (vplc {__version__})",
        "delivery: " + ("breadth-first queue" if plan.queued else "direct calls"),
    ]
    if plan.constants:
        lines.append("constants:")
        lines += [f"  {name} = {_value(value)}" for name, value in plan.constants.items()]
    if plan.contexts:
        per = "context, pool worker and collector" if plan.pools else "context"
        lines.append(f"threads (one per {per}):")
        for ctx in plan.contexts:
            cores = f" cores {list(ctx.cores)}" if ctx.cores else ""
            upstream = f", fed by {', '.join(ctx.upstream)}" if ctx.upstream else ""
            shares = f" (also {', '.join(ctx.shares)}, W035)" if ctx.shares else ""
            lines.append(f"  {ctx.name}{shares}{cores}: {', '.join(ctx.streams)}{upstream}")
    elif plan.one_thread_reason is not None:
        lines.append(f"threads: one (W034: {plan.one_thread_reason})")
    else:
        lines.append("threads: one (no stream runs in a declared context or a pool)")
    for pool in plan.pools:
        p = pool.pool
        key = f" key {unparse(p.key)}" if p.key is not None else ""
        order = "ordered" if p.ordered else "unordered"
        lines.append(
            f"pool {pool.stream}: {p.workers} workers, {p.strategy.value}{key}, {order}; "
            f"scheduler in {pool.scheduler}"
            + (f", lines written in order by {pool.collector}" if pool.collector else "")
        )
    lines.append("streams:")
    for sp in plan.streams:
        lines += _stream(sp)
        lines += _stream_state(plan, sp)
    lines.append("routes:")
    for route in plan.routes:
        targets = []
        for t in route.targets:
            cond = " or ".join(unparse(f) for f in t.filters)
            targets.append(t.stream + (f" if {cond}" if cond else ""))
        lines.append(f"  {route.name} -> {', '.join(targets)}")
    if not plan.contexts:
        lines += _in_place(plan)
    lines.append("flush order: " + ", ".join(plan.flush_order))
    if plan.lateness is not None:
        lines.append("late data:")
        for name, ms in sorted(plan.lateness.out_of_order.items()):
            lines.append(f"  watermark {name}: out_of_order {ms} ms")
        for name, ms in sorted(plan.lateness.allowed.items()):
            lines.append(f"  allowed lateness {name}: {ms} ms")
    program = [*(LATENESS_STATE if plan.lateness else ()), *((QUEUE_STATE,) if plan.queued else ())]
    if program:
        lines.append("program state:")
        lines += [_state_line(d) for d in program]
    return "\n".join(lines) + "\n"


def _stream_state(plan: Plan, sp: StreamPlan) -> list[str]:
    """What the stream keeps between events (D35), per place where a part of it runs."""
    lines: list[str] = []
    pools = {p.stream: p for p in plan.pools}
    for part in stream_parts(sp.stream, plan.pools, bool(plan.contexts)):
        decls = stream_state(part.stream)
        if part.where == "scheduler":
            decls += scheduler_state(pools[sp.stream.name])
        if decls:
            lines.append(f"    state{' of ' + part.where if part.where else ''}:")
            lines += ["    " + _state_line(d) for d in decls]
    return lines


def _state_line(decl: StateDecl) -> str:
    keyed = f" by {decl.keyed}" if decl.keyed else ""
    op = f" ({decl.op})" if decl.op else ""
    detail = f": {decl.detail}" if decl.detail else ""
    return f"  {decl.name}: {decl.kind.value}{keyed}{op}{detail}"


def _stream(sp: StreamPlan) -> list[str]:
    s = sp.stream
    shape = shape_of(s)
    sources = ", ".join(
        src.name + (f" if {unparse(src.filter)}" if src.filter is not None else "")
        for src in s.sources
    )
    lines = [f"  {s.name}", f"    context: {s.context or '(default)'}", f"    sources: {sources}"]
    for op in s.ops:
        lines.append(f"    {op.origin.line}:{op.origin.column} {op.origin.text}")
    if shape.window is not None:
        w = shape.window
        mode = "incremental aggregate" if shape.incremental else "buffered events"
        key = f", partitioned by {shape.window_key}" if shape.window_key else ""
        slide = f" slide {w.slide}" if w.slide is not None else ""
        lines.append(f"    window: {w.kind.value} {w.size}{slide}{key}, {mode}")
    if shape.aggregate is not None and shape.aggregate_key is not None:
        lines.append(f"    aggregate partitioned by {shape.aggregate_key}")
    lines.append(f"    output: {'delivered downstream' if sp.has_consumers else 'not consumed'}")
    return lines


def _value(value: object) -> str:
    try:
        return py_literal(value)
    except TypeError:
        return "MISSING"


def _in_place(plan: Plan) -> list[str]:
    """Which stream bodies `push` runs in place (D37); the others are called."""
    found = push_chains(plan)
    if not found:
        return ["run in place by push: none (every stream is called)"]
    lines = ["run in place by push:"]
    for chain in found:
        lines.append(f"  {chain.route}: {' -> '.join(chain.streams)}")
    return lines

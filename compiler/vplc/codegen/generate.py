"""Render a plan as one Python module: stream code from `codegen`, the rest from templates.

Only this module imports jinja2 and black. The output is deterministic: everything is
ordered by declaration or sorted, and nothing depends on hashing or the clock.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.resources
from dataclasses import dataclass, replace
from functools import cache

import jinja2
from black import format_str
from black.mode import Mode, TargetVersion

from vplc import __version__
from vplc.check import model
from vplc.codegen.expressions import RUNTIME_MODULES, ExprCompiler
from vplc.codegen.pools import (
    dispatch,
    lines_route,
    pool_route,
    rebound_by_dispatch,
    scheduler_part,
    scheduler_state,
    worker_part,
)
from vplc.codegen.snapshots import state_functions
from vplc.codegen.streams import Lines, StreamCode, StreamCodegen, indent
from vplc.frontend.recursion import deep_recursion
from vplc.frontend.syntax import Expr
from vplc.plan.dump import dump_plan
from vplc.plan.fusion import Chain, chains, push_order, uses_route_table
from vplc.plan.names import comment_text, mangle, py_literal
from vplc.plan.planner import DEFAULT_CONTEXT, ContextPlan, Plan, PoolPlan, Route, RouteTarget
from vplc.plan.state import (
    LATENESS_STATE,
    QUEUE_STATE,
    StateDecl,
    copies_state,
    stream_state,
)
from vplc.plan.state import scheduler_state as scheduler_decls
from vplc.plan.threads import pool_of

# Names that generated code takes from the standard library (the runtime's are indexed).
_STDLIB = {
    "Any": "typing",
    "Callable": "collections.abc",
    "Iterator": "collections.abc",
    "Sequence": "collections.abc",
    "cycle": "itertools",
    "deque": "collections",
    "inf": "math",
}
# Names the template itself uses (imported when the module's text uses them).
_TEMPLATE_NAMES = (
    "Any",
    "Callable",
    "CloseFn",
    "EmitFn",
    "EmitterFactory",
    "Fields",
    "Instrument",
    "PushFn",
    "Built",
    "RunOptions",
    "Sequence",
    "DeliveryQueue",
    "PipelineBase",
    "push_counting",
    "StreamFn",
    "Watermark",
    "run_module",
)


@dataclass(frozen=True, slots=True)
class TargetView:
    entry: str
    cond: str | None


@dataclass(frozen=True, slots=True)
class RouteView:
    name: str  # Python literal of the event type
    function: str  # what `routes` maps the type to: an entry or a route function
    targets: tuple[TargetView, ...]
    needs_function: bool


@dataclass(frozen=True, slots=True)
class StreamView:
    name: str
    comment: str
    body: str
    entry: str
    function: str
    in_place: bool  # `push` runs its body: no entry function


@dataclass(frozen=True, slots=True)
class ContextView:
    """The streams that run on one thread, with their routes; for a program without
    contexts, the single group that `_build` itself runs."""

    name: str  # display name (a Python literal)
    function: str  # run_<name>
    doc: str
    cores: tuple[int, ...]
    senders: tuple[tuple[str, str], ...]  # (variable, literal target context name)
    streams: tuple[StreamView, ...]
    routes: tuple[RouteView, ...]
    flushes: tuple[tuple[int, str], ...]  # (global flush position, function)
    upstream: tuple[str, ...]  # literal names
    instrument: str  # how the body reaches the instrument hook
    instrumented: tuple[str, ...] = ()  # statements that give --stats its counts
    push_nonlocals: tuple[str, ...] = ()
    dispatch: str = ""  # the body of `push` after the late-data test (no route table)
    route_table: bool = False
    counted: bool = False  # some stream runs in place: --stats counts at `push`
    # The threads this function runs as: one (name, cores) per context; a pool's N workers
    # share one function, each call with its own state.
    instances: tuple[tuple[str, tuple[int, ...]], ...] = ()
    input_routes: tuple[str, ...] = ()  # literal input event types it accepts
    state: tuple[str, ...] = ()  # pool state declared after the senders
    snapshot: tuple[str, ...] = ()  # snapshot_state and restore_state (no contexts)
    line_routes: tuple[tuple[str, str], ...] = ()  # (literal route, literal stream)
    pool_worker: bool = False
    on_caller: bool = False


class _Group:
    """Generation state of one context (or of the whole single-threaded program)."""

    def __init__(
        self, plan: Plan, context: ContextPlan | None, names: dict[str, str], uses: set[str]
    ) -> None:
        self.plan = plan
        self.uses = uses
        self.context = context
        self.sender_names = names  # context name -> the variable of a sender to it
        members = context.streams if context else tuple(s.stream.name for s in plan.streams)
        self.members = set(members)
        self.pools = {p.stream: p for p in plan.pools}
        self.role = context.worker if context else None
        # Without threads, a broadcast pool still runs its ops N times, in place (§10).
        self.copies = {
            name: found
            for name in members
            if context is None
            and (found := pool_of(plan.stream(name).stream)) is not None
            and found[1].strategy is model.Strategy.BROADCAST
        }
        self.streams = [self._part(plan.stream(n).stream) for n in members]
        self.senders: dict[str, str] = {}  # target context -> variable
        served = [r for r in self.routes() if r.targets]
        self.chains = chains(plan, served) if context is None else ()
        self.route_table = uses_route_table(len(served))
        # stream -> its consumer that runs in place after it (D37)
        self.fused = {
            a: b for c in self.chains for a, b in zip(c.streams, c.streams[1:], strict=False)
        }
        self.in_place = {name for c in self.chains for name in c.streams}
        self.codes: dict[str, StreamCode] = {}
        self.classes: list[str] = []  # module-level code, in generation order

    def _part(self, stream: model.Stream) -> model.Stream:
        """What of `stream` runs here: all of it, or its pool's scheduler or worker part."""
        if stream.name in self.copies:
            return scheduler_part(stream, self.copies[stream.name][0])
        pool = self.pools.get(stream.name)
        if pool is None:
            return stream
        if self.role is not None:
            return worker_part(stream, pool.split)
        return scheduler_part(stream, pool.split)

    def routes(self) -> list[Route]:
        """The routes this group serves: a worker serves its scheduler's route only."""
        if self.role is not None:
            stream = self.role.stream
            return [Route(pool_route(stream), (RouteTarget(stream, ()),))]
        return [self.local_route(r) for r in push_order(self.plan)]

    def local_route(self, route: Route) -> Route:
        return Route(route.name, tuple(t for t in route.targets if t.stream in self.members))

    def sender(self, context: str) -> str:
        return self.senders.setdefault(context, self.sender_names[context])

    def code(self, stream: model.Stream) -> StreamCode:
        """The stream's code, written once."""
        code = self.codes.get(stream.name)
        if code is None:
            code = self.codes[stream.name] = StreamCodegen(
                stream,
                self.plan.program.filename,
                self.plan.constants,
                self.uses,
                deliver=self.delivery,
                queued=self.plan.queued,
                emitter_factory=_emitter(self),
                pool_worker=self.role is not None,
                in_place=stream.name in self.in_place,
                rebound=self.rebound(stream.name),
            ).generate()
        return code

    def delivery(self, name: str) -> Lines | None:
        """The statements handing `(ts, f)` of stream `name` to its consumers."""
        if name in self.fused:
            return []  # `push` runs the consumer's statements next (`_chain_lines`)
        pool = self.pools.get(name)
        if pool is not None and self.role is None:
            return self._to_workers(pool).split("\n")
        if name in self.copies:
            return [f"for copy in {mangle('copies', name)}:", "    copy(ts, f)"]
        return self.downstream(name)

    def downstream(self, name: str) -> Lines | None:
        """The statements handing `(ts, f)` of stream `name` to the streams consuming it."""
        route = self.plan.route(name)
        if route is None:
            return None
        lines: list[str] = []
        local = self.local_route(route)
        if local.targets and self.role is None:
            target = _route_target_name(local)
            lines.append(f"enqueue(({target}, ts, f))" if self.plan.queued else f"{target}(ts, f)")
        here = self.context.name if self.context else None
        for ctx in self.plan.contexts:
            if (
                ctx.name != here
                and ctx.worker is None  # a pool's events reach its workers via its scheduler
                and any(t.stream in ctx.streams for t in route.targets)
            ):
                lines.append(f"{self.sender(ctx.name)}({py_literal(name)}, ts, f)")
        return lines or None

    def rebound(self, name: str) -> tuple[str, ...]:
        """The group's state that the delivery of stream `name` reassigns."""
        pool = self.pools.get(name)
        return tuple(rebound_by_dispatch(pool)) if pool is not None and self.role is None else ()

    def _to_workers(self, pool: PoolPlan) -> str:
        return dispatch(pool, ExprCompiler(self.plan.constants, self.uses), self.uses)


def generate_module(plan: Plan) -> str:
    """The generated module's source, black-formatted."""
    with deep_recursion():
        return _generate(plan)


def _generate(plan: Plan) -> str:
    uses: set[str] = set()
    classes: list[str] = []
    functions, senders = _thread_names(plan)
    contexts = [
        _context_view(plan, _Group(plan, ctx, senders, uses), functions, classes)
        for ctx in (plan.contexts or (None,))
        if ctx is None or ctx.worker is None or ctx.worker.index == 0
    ]
    contexts = _one_on_caller(contexts)
    if plan.contexts:
        uses.update({"ContextRuntime", "ContextSpec", "launch_contexts"})
    threaded_state = plan.contexts and plan.lateness is not None
    program_state = state_functions(_program_state(plan), uses) if threaded_state else []

    def render(imports: list[str]) -> str:
        return _template().render(
            version=__version__,
            fingerprint=py_literal(program_fingerprint(plan)),
            filename=_display_name(plan.program.filename),
            program_literal=py_literal(plan.program.filename),
            imports=imports,
            classes=classes,
            threaded=bool(plan.contexts),
            contexts=contexts,
            queued=plan.queued,
            lateness=_lateness_view(plan),
            program_state=program_state,  # with contexts: the state of `_build` itself
            literal=py_literal,
        )

    # Import what the text uses, nothing else (ruff's F401): render, then read its names.
    used = _names_in(render([]))
    return format_source(render(_imports({*uses, *_TEMPLATE_NAMES} & used)))


def _names_in(source: str) -> set[str]:
    return {node.id for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Name)}


def program_fingerprint(plan: Plan) -> str:
    """What snapshots are checked against (D35): a hash of the plan as `vplc plan` prints
    it, without the file's name (a renamed file is the same program), and the compiler's
    version (another version may lay out state differently)."""
    text = dump_plan(plan).partition("\n")[2]
    return hashlib.sha256(f"vplc {__version__}\n{text}".encode()).hexdigest()


def _display_name(filename: str) -> str:
    """The source's name as it may appear in a comment or docstring of generated code."""
    return comment_text(filename).replace("\\", "/").replace('"', "'")


def _thread_names(plan: Plan) -> tuple[dict[str, str], dict[str, str]]:
    """Per thread, the name of its function and of the variable of a sender to it.

    A context's are `run_c` and `send_c`; the default context takes the first of `default`,
    `default_1`, ... that no declared context uses. A collector's are `collector_c_1` and
    `sendcollector_c_1`, a pool's workers share `worker_S` and have `sendworker_S_0`, ...
    (distinct role words keep the names apart, see `mangle`).
    """
    idents = {c.name: c.name for c in plan.program.contexts}
    taken = set(idents)
    idents[DEFAULT_CONTEXT] = next(
        n for n in ("default", *(f"default_{i}" for i in range(1, 100))) if n not in taken
    )
    functions: dict[str, str] = {}
    senders: dict[str, str] = {}
    for ctx in plan.contexts:
        if ctx.worker is not None:
            functions[ctx.name] = mangle("worker", ctx.worker.stream)
            senders[ctx.name] = mangle("sendworker", ctx.worker.stream, ctx.worker.index)
        elif ctx.level:
            functions[ctx.name] = mangle("collector", idents[ctx.base], ctx.level)
            senders[ctx.name] = mangle("sendcollector", idents[ctx.base], ctx.level)
        else:
            functions[ctx.name] = mangle("run", idents[ctx.name])
            senders[ctx.name] = mangle("send", idents[ctx.name])
    return functions, senders


def _emitter(group: _Group) -> str:
    """How a stream's emitter is made: in place, in a context, or for an ordered pool's
    collector, which writes the workers' lines in order."""
    if group.context is None:
        return "make_emitter"
    role = group.role
    pool = group.pools.get(role.stream) if role else None
    if pool is not None and pool.collector is not None:
        collector = py_literal(pool.collector)
        return f"ctx.lines_to({collector}, {py_literal(lines_route(pool.stream))})"
    return "ctx.emitter"


def _context_view(
    plan: Plan, group: _Group, functions: dict[str, str], classes: list[str]
) -> ContextView:
    uses = group.uses
    streams: list[StreamView] = []
    flushes: list[tuple[int, str]] = []
    codes = {stream.name: group.code(stream) for stream in group.streams}
    decls: list[StateDecl] = []
    for stream in group.streams:
        code = codes[stream.name]
        classes.extend(code.classes)
        decls.extend(_checked_state(stream, code))
        if stream.name in group.copies:
            decls.append(copies_state(plan.stream(stream.name).stream))
            lines, flushed = _copies(plan, group, stream.name, classes)
            code.body += lines
            if flushed:
                code.flush = mangle("flushcopies", stream.name)
        if code.flush is not None:
            flushes.append((plan.flush_order.index(stream.name), code.flush))
        streams.append(
            StreamView(
                # --stats counts a pool's workers apart from its scheduler.
                name=stream.name + (" (workers)" if group.role else ""),
                comment=comment_text(
                    f"{plan.program.filename}:{stream.span.line}:{stream.span.column} "
                    f"stream {stream.name}"
                    + _part_note(group, stream.name)
                    + (", run in place by push" if code.entry is not None else "")
                ),
                body="\n".join(code.body),
                entry=mangle("entry", stream.name),
                function=mangle("stream", stream.name),
                in_place=code.entry is not None,
            )
        )
    routes = group.routes()
    ctx = group.context
    instrument = "ctx.instrument" if ctx else "instrument"
    return ContextView(
        name=py_literal(ctx.name if ctx else ""),
        function=functions[ctx.name] if ctx else "",
        doc=_context_doc(ctx),
        cores=ctx.cores if ctx else (),
        senders=tuple(
            (var, py_literal(target))
            for target, var in sorted(group.senders.items(), key=lambda kv: kv[1])
        ),
        streams=tuple(streams),
        routes=tuple(_route_view(plan, r, uses) for r in routes if r.targets),
        push_nonlocals=tuple(sorted({v for c in codes.values() for v in c.entry_rebinds})),
        dispatch="\n".join(_dispatch(group, [r for r in routes if r.targets], codes)),
        route_table=group.route_table,
        counted=bool(group.chains),
        flushes=tuple(sorted(flushes)),
        upstream=tuple(py_literal(u) for u in ctx.upstream) if ctx else (),
        instrument=instrument,
        instrumented=tuple(_instrumented(group, instrument)),
        instances=_instances(plan, ctx),
        pool_worker=group.role is not None,
        on_caller=_runs_on_caller(group.context),
        input_routes=tuple(py_literal(r.name) for r in routes if r.targets and not group.role),
        state=tuple(_pool_state(group)),
        snapshot=tuple(_snapshot_functions(plan, group, decls)),
        line_routes=tuple(
            (py_literal(lines_route(p.stream)), py_literal(p.stream))
            for p in plan.pools
            if ctx is not None and p.collector == ctx.name
        ),
    )


def _instrumented(group: _Group, instrument: str) -> Lines:
    """--stats: a stream with an entry function counts its calls; a stream run in place
    counts at `push` the events of the type it reads and, after its upstream in a chain,
    that stream's lines (its `.emit` is its last op, D37). Declaration order: the table's."""
    entered = {s: e for c in group.chains for s, e in zip(c.streams, c.entries, strict=True)}
    lines: Lines = []
    for stream in group.streams:
        name = stream.name
        literal = py_literal(name + (" (workers)" if group.role else ""))
        if name not in entered:
            entry = mangle("entry", name)
            lines.append(f"{entry} = {instrument}({literal}, {entry})")
            continue
        route = py_literal(entered[name])
        lines.append(f"counts[{route}] = {instrument}({literal}, ignore_event)")
        upstream = next((a for a, b in group.fused.items() if b == name), None)
        if upstream is not None:
            emit = mangle("emit", upstream)
            lines.append(f"{emit} = count_lines_as_events({emit}, counts[{route}])")
    if group.chains:
        group.uses.update({"count_lines_as_events", "ignore_event"})
    return lines


def _dispatch(group: _Group, routes: list[Route], codes: dict[str, StreamCode]) -> Lines:
    """`push`'s tests of the event type, each running a chain in place or calling."""
    chain_of = {c.route: c for c in group.chains}
    inside = {e for c in group.chains for e in c.entries[1:]}  # tested in their chain
    lines: Lines = []
    for route in routes:
        if route.name in inside:
            continue
        keyword = "elif" if lines else "if"
        chain = chain_of.get(route.name)
        if chain is None:
            lines += [
                f"{keyword} event_type == {py_literal(route.name)}:",
                f"    {_route_target_name(route)}(timestamp, fields)",
            ]
            continue
        test = " or ".join(f"event_type == {py_literal(e)}" for e in chain.entries)
        body = _chain_lines(chain, len(chain.streams) - 1, codes)
        lines += [f"{keyword} {test}:", "    ts, f = timestamp, fields", *indent(body)]
    return lines or ["pass  # no stream reads input events"]


def _chain_lines(chain: Chain, last: int, codes: dict[str, StreamCode]) -> Lines:
    """The chain's streams up to `last`, for an event of one of their entry types: each
    stream's statements fall through to its consumer's, which an event typed like the
    stream before enters directly (§5.1: input events may carry a stream's name)."""
    name = chain.streams[last]
    entry = codes[name].entry
    assert entry is not None
    own = [comment_text(f"# stream {name}"), *(entry or ["pass"])]
    if last == 0:
        return own
    before = _chain_lines(chain, last - 1, codes)
    return [f"if event_type != {py_literal(chain.entries[last])}:", *indent(before), *own]


def _checked_state(stream: model.Stream, code: StreamCode) -> tuple[StateDecl, ...]:
    """The plan's state of `stream`, which must be what its code created."""
    decls = stream_state(stream)
    if sorted(d.name for d in decls) != sorted(code.state):
        raise AssertionError(f"stream {stream.name!r} creates {code.state}, not {decls}")
    return decls


def _snapshot_functions(plan: Plan, group: _Group, decls: list[StateDecl]) -> list[str]:
    """snapshot_state/restore_state of one context (its streams' parts and its pool
    schedulers' state) or of a program without contexts (its streams' state, the late-data
    state and the queue)."""
    if group.context is not None:
        pools = [group.pools[s.name] for s in group.streams if s.name in group.pools]
        schedulers = [d for p in pools for d in scheduler_decls(p)] if group.role is None else []
        stateful = [*decls, *schedulers]
        return state_functions(stateful, group.uses) if stateful else []
    return state_functions([*decls, *_program_state(plan)], group.uses)


def _program_state(plan: Plan) -> list[StateDecl]:
    """The state `_build` itself keeps: late data (with contexts too: it runs in `push`)
    and, without contexts, the delivery queue."""
    queue = [QUEUE_STATE] if plan.queued and not plan.contexts else []
    return [*(LATENESS_STATE if plan.lateness else ()), *queue]


def _copies(plan: Plan, group: _Group, name: str, classes: list[str]) -> tuple[list[str], bool]:
    """The N copies of a broadcast pool's ops, run one after the other in place: a factory
    makes each copy's state and returns its entry and its end-of-input flush, a generator
    that flushes one partition per step. Returns the
    lines and whether the copies have windows to flush (`flushcopies_S`)."""
    split, pool = group.copies[name]
    stream = worker_part(plan.stream(name).stream, split)
    code = StreamCodegen(
        stream,
        plan.program.filename,
        plan.constants,
        group.uses,
        deliver=group.downstream,
        queued=plan.queued,
        stepwise_flush=True,
    ).generate()
    classes.extend(code.classes)
    factory, copies = mangle("copy", name), mangle("copies", name)
    made = copies_state(plan.stream(name).stream).name
    state = state_functions(_checked_state(stream, code), group.uses)
    copy_type = (
        "tuple[StreamFn, Callable[[], Iterator[None]], "
        "Callable[[], dict[str, object]], Callable[[dict[str, object]], None]]"
    )
    lines = [
        "",
        f"def {factory}() -> {copy_type}:",
        f'    """One of the {pool.workers} copies of the ops after the pool (broadcast)."""',
        *indent(code.body),
        *indent(state),
        f"    entry, flush = {mangle('stream', name)}, {code.flush or 'lambda: iter(())'}",
        "    return entry, flush, snapshot_state, restore_state",
        "",
        f"{made} = [{factory}() for _ in range({pool.workers})]",
        f"{copies} = [entry for entry, _, _, _ in {made}]",
    ]
    if code.flush is not None:
        lines += [
            "",
            f"def {mangle('flushcopies', name)}() -> None:",
            "    # Partition by partition, each copy's results in turn (SEMANTICS 10).",
            f"    for _ in zip(*[flush() for _, flush, _, _ in {made}]):",
            "        pass",
        ]
    return lines, code.flush is not None


def _runs_on_caller(ctx: ContextPlan | None) -> bool:
    """A context fed by the input alone and not pinned may run on the thread that calls
    `push` (see `_one_on_caller`)."""
    return ctx is not None and ctx.worker is None and not ctx.upstream and not ctx.cores


def _one_on_caller(contexts: list[ContextView]) -> list[ContextView]:
    """The context that runs on the thread calling `push`: one that may, if it is the only
    context taking input events (else the ingress could wait on a channel while holding the
    promise its consumers wait for); the runtime runs the one marked so."""
    takers = [view for view in contexts if view.input_routes]
    chosen = takers[0] if len(takers) == 1 and takers[0].on_caller else None
    return [
        view if view is chosen or not view.on_caller else replace(view, on_caller=False)
        for view in contexts
    ]


def _part_note(group: _Group, stream: str) -> str:
    pool = group.pools.get(stream)
    if pool is None:
        return ""
    n = pool.pool.workers
    return f", ops after its pool (each of {n} workers)" if group.role else ", its pool's scheduler"


def _instances(plan: Plan, ctx: ContextPlan | None) -> tuple[tuple[str, tuple[int, ...]], ...]:
    if ctx is None:
        return ()
    if ctx.worker is None:
        return ((py_literal(ctx.name), ctx.cores),)
    stream = ctx.worker.stream
    return tuple(
        (py_literal(c.name), c.cores)
        for c in plan.contexts
        if c.worker is not None and c.worker.stream == stream
    )


def _pool_state(group: _Group) -> list[str]:
    if group.role is not None:
        return []
    lines: list[str] = []
    for stream in group.streams:
        pool = group.pools.get(stream.name)
        if pool is not None:
            lines += scheduler_state(pool, group.uses)
    return lines


def _context_name(context: str) -> str:
    return "the default context" if context == DEFAULT_CONTEXT else f"context {context!r}"


def _context_doc(ctx: ContextPlan | None) -> str:
    if ctx is None:
        return ""
    if ctx.worker is not None:
        n = ctx.worker.workers
        return (
            f"Each of the {n} workers of stream {ctx.worker.stream}'s pool: the ops after "
            "its .concurrent, with the worker's own state."
        )
    name = _context_name(ctx.base)
    if ctx.shares:
        name += " (also running " + ", ".join(_context_name(c) for c in ctx.shares) + ")"
    role = f"Collector thread {ctx.level} of {name}" if ctx.level else f"Thread of {name}"
    cores = f" (cores {list(ctx.cores)})" if ctx.cores else ""
    plural = "s" if len(ctx.streams) > 1 else ""
    streams = f": stream{plural} {', '.join(ctx.streams)}." if ctx.streams else "."
    return f"{role}{cores}{streams}"


@dataclass(frozen=True, slots=True)
class LatenessView:
    out_of_order: str  # dict literals, sorted
    allowed: str


def _lateness_view(plan: Plan) -> LatenessView | None:
    if plan.lateness is None:
        return None
    return LatenessView(
        out_of_order=py_literal(dict(sorted(plan.lateness.out_of_order.items()))),
        allowed=py_literal(dict(sorted(plan.lateness.allowed.items()))),
    )


def format_source(source: str) -> str:
    return format_str(source, mode=Mode(target_versions={TargetVersion.PY310}))


def _is_direct(route: Route) -> bool:
    """Whether the route hands its events straight to one stream's entry."""
    return len(route.targets) == 1 and not route.targets[0].filters


def _route_target_name(route: Route) -> str:
    if _is_direct(route):
        return mangle("entry", route.targets[0].stream)
    return mangle("route", route.name)


def _route_view(plan: Plan, route: Route, uses: set[str]) -> RouteView:
    compiler = ExprCompiler(plan.constants, uses)
    targets = tuple(
        TargetView(
            mangle("entry", t.stream), _admission(compiler, t.filters) if t.filters else None
        )
        for t in route.targets
    )
    return RouteView(
        name=py_literal(route.name),
        function=_route_target_name(route),
        targets=targets,
        needs_function=not _is_direct(route),
    )


def _admission(compiler: ExprCompiler, filters: tuple[Expr, ...]) -> str:
    """A merge admits an event once if any of its entries' filters is true (§3)."""
    return " or ".join(f"({compiler.cond(f)})" for f in filters)


def _imports(uses: set[str]) -> list[str]:
    """Import lines: the standard library, a blank line, vpl_runtime; each group sorted."""
    stdlib: dict[str, set[str]] = {}
    runtime: dict[str, set[str]] = {}
    for name in uses:
        module = _module_of(name)
        group = runtime if module.startswith("vpl_runtime.") else stdlib
        group.setdefault(module, set()).add(name)
    lines = ["import sys"]
    lines += [f"from {m} import {', '.join(sorted(stdlib[m]))}" for m in sorted(stdlib)]
    lines.append("")
    lines += [f"from {m} import {', '.join(sorted(runtime[m]))}" for m in sorted(runtime)]
    return lines


# Runtime modules whose names the template and the state code use (besides RUNTIME_MODULES,
# which expressions use).
_SUPPORT_MODULES = ("contexts", "snapshot", "lateness", "delivery", "library")


@cache
def _runtime_index() -> dict[str, str]:
    """Runtime name -> the module that defines it (not one that merely imports it)."""
    index: dict[str, str] = dict(_STDLIB)
    for module in ("driver", *RUNTIME_MODULES, *_SUPPORT_MODULES):
        full = f"vpl_runtime.{module}"
        package = importlib.resources.files("vpl_runtime")
        found = package.joinpath(f"{module}.py")
        if not found.is_file():  # a package of modules (`contexts`): its public names
            found = package.joinpath(module).joinpath("__init__.py")
        source = found.read_text(encoding="utf-8")
        for name in _top_level_definitions(ast.parse(source)):
            index.setdefault(name, full)
    return index


def _top_level_definitions(tree: ast.Module) -> list[str]:
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
        elif isinstance(node, ast.ImportFrom):  # explicit re-exports: `import X as X`
            names += [a.name for a in node.names if a.asname == a.name]
    return [n for n in names if not n.startswith("_")]


def _module_of(name: str) -> str:
    return _runtime_index()[name]


@cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(importlib.resources.files("vplc.templates"))),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    template: jinja2.Template = env.get_template("module.py.j2")
    return template

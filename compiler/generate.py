"""Render a plan as one Python module: stream code from `codegen`, the rest from templates.

Only this module imports jinja2 and black. The output is deterministic: everything is
ordered by declaration or sorted, and nothing depends on hashing or the clock.
"""

from __future__ import annotations

import ast
import importlib.resources
import re
from dataclasses import dataclass
from functools import cache

import jinja2
from black import format_str
from black.mode import Mode, TargetVersion

from vplc import __version__
from vplc.codegen import StreamCode, StreamCodegen
from vplc.expressions import RUNTIME_MODULES, ExprCompiler
from vplc.names import comment_text, mangle, py_literal
from vplc.plan import DEFAULT_CONTEXT, ContextPlan, Plan, Route
from vplc.recursion import deep_recursion
from vplc.syntax import Expr

# Names that generated code takes from the standard library or the driver.
_STDLIB = {"deque": "collections", "inf": "math"}
_DRIVER_NAMES = (
    "CloseFn",
    "EmitFn",
    "EmitterFactory",
    "Fields",
    "Instrument",
    "PushFn",
    "RunOptions",
    "StreamFn",
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
    inline: str | None = None  # the sole target's body, which `push` runs in place


@dataclass(frozen=True, slots=True)
class StreamView:
    name: str
    comment: str
    body: str
    entry: str
    function: str


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
    push_nonlocals: tuple[str, ...] = ()


class _Group:
    """Generation state of one context (or of the whole single-threaded program)."""

    def __init__(self, plan: Plan, context: ContextPlan | None, idents: dict[str, str]) -> None:
        self.plan = plan
        self.context = context
        self.idents = idents  # context name -> identifier part of its functions
        names = context.streams if context else tuple(s.stream.name for s in plan.streams)
        self.streams = [plan.stream(n).stream for n in names]
        self.members = set(names)
        self.senders: dict[str, str] = {}  # target context -> variable
        self.push_nonlocals: list[str] = []  # state that bodies inlined into push reassign

    def local_route(self, route: Route) -> Route:
        return Route(route.name, tuple(t for t in route.targets if t.stream in self.members))

    def delivery(self, name: str) -> str | None:
        """The statements handing `(ts, f)` of stream `name` to its consumers."""
        route = self.plan.route(name)
        if route is None:
            return None
        lines: list[str] = []
        local = self.local_route(route)
        if local.targets:
            target = _route_target_name(local)
            lines.append(f"enqueue(({target}, ts, f))" if self.plan.queued else f"{target}(ts, f)")
        for ctx in self.plan.contexts:
            if ctx.name != (self.context.name if self.context else None) and any(
                t.stream in ctx.streams for t in route.targets
            ):
                sender = self.senders.setdefault(ctx.name, mangle("send", self.idents[ctx.name]))
                lines.append(f"{sender}({py_literal(name)}, ts, f)")
        return "\n".join(lines) if lines else None


def generate_module(plan: Plan) -> str:
    """The generated module's source, black-formatted."""
    with deep_recursion():
        return _generate(plan)


def _generate(plan: Plan) -> str:
    uses: set[str] = set()
    classes: list[str] = []
    idents = _context_idents(plan)
    contexts = [
        _context_view(plan, _Group(plan, ctx, idents), uses, classes)
        for ctx in (plan.contexts or (None,))
    ]
    if plan.queued:
        uses.add("deque")
    if plan.contexts:
        uses.update({"ContextRuntime", "ContextSpec", "start_contexts"})
    source = _template().render(
        version=__version__,
        filename=_display_name(plan.program.filename),
        program_literal=py_literal(plan.program.filename),
        imports=_imports(uses),
        classes=classes,
        threaded=bool(plan.contexts),
        contexts=contexts,
        queued=plan.queued,
        lateness=_lateness_view(plan),
        literal=py_literal,
    )
    return format_source(source)


def _display_name(filename: str) -> str:
    """The source's name as it may appear in a comment or docstring of generated code."""
    return comment_text(filename).replace("\\", "/").replace('"', "'")


def _context_idents(plan: Plan) -> dict[str, str]:
    """Identifier part of each context's names; the default context takes the first of
    `default`, `default_1`, ... that no declared context uses."""
    idents = {c.name: c.name for c in plan.program.contexts}
    taken = set(idents)
    fallback = next(
        n for n in ("default", *(f"default_{i}" for i in range(1, 100))) if n not in taken
    )
    idents[DEFAULT_CONTEXT] = fallback
    return idents


def _context_view(plan: Plan, group: _Group, uses: set[str], classes: list[str]) -> ContextView:
    emitter = "ctx.emitter" if group.context else "make_emitter"
    streams: list[StreamView] = []
    flushes: list[tuple[int, str]] = []
    codes: dict[str, StreamCode] = {}
    inlined: set[str] = set()
    for stream in group.streams:
        code = codes[stream.name] = StreamCodegen(
            stream,
            plan.program.filename,
            plan.constants,
            uses,
            deliver=group.delivery,
            queued=plan.queued,
            emitter_factory=emitter,
        ).generate()
        classes.extend(code.classes)
        if code.flush is not None:
            flushes.append((plan.flush_order.index(stream.name), code.flush))
        streams.append(
            StreamView(
                name=stream.name,
                comment=comment_text(
                    f"{plan.program.filename}:{stream.span.line}:{stream.span.column} "
                    f"stream {stream.name}"
                ),
                body="\n".join(code.body),
                entry=mangle("entry", stream.name),
                function=mangle("stream", stream.name),
            )
        )
    # Input event types first (the common case in push), then types named after streams.
    stream_names = {sp.stream.name for sp in plan.streams}
    ordered = sorted(plan.routes, key=lambda r: (r.name in stream_names, r.name))
    routes = [group.local_route(r) for r in ordered]
    ctx = group.context
    ident = group.idents[ctx.name] if ctx else ""
    return ContextView(
        name=py_literal(ctx.name if ctx else ""),
        function=mangle("run", ident) if ctx else "",
        doc=_context_doc(ctx),
        cores=ctx.cores if ctx else (),
        senders=tuple(
            (var, py_literal(target))
            for target, var in sorted(group.senders.items(), key=lambda kv: kv[1])
        ),
        streams=tuple(streams),
        routes=tuple(
            _route_view(plan, r, uses, _inlined(plan, group, r, codes, inlined))
            for r in routes
            if r.targets
        ),
        push_nonlocals=tuple(group.push_nonlocals),
        flushes=tuple(sorted(flushes)),
        upstream=tuple(py_literal(u) for u in ctx.upstream) if ctx else (),
        instrument="ctx.instrument" if ctx else "instrument",
    )


def _context_doc(ctx: ContextPlan | None) -> str:
    if ctx is None:
        return ""
    name = "the default context" if ctx.name == DEFAULT_CONTEXT else f"context {ctx.name!r}"
    cores = f" (cores {list(ctx.cores)})" if ctx.cores else ""
    plural = "s" if len(ctx.streams) > 1 else ""
    return f"Thread of {name}{cores}: stream{plural} {', '.join(ctx.streams)}."


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


def _route_target_name(route: Route) -> str:
    if len(route.targets) == 1 and not route.targets[0].filters:
        return mangle("entry", route.targets[0].stream)
    return mangle("route", route.name)


def _inlined(
    plan: Plan, group: _Group, route: Route, codes: dict[str, StreamCode], taken: set[str]
) -> str | None:
    """The body `push` runs in place of calling the route's only stream, saving a call per
    input event: for a stream without merge filter, on one thread, when deliveries are
    direct calls (a queued delivery must drain after the stream). At most one inlined body
    keeps a window (`w` has a different type in each). Records what it inlines in `taken`.
    """
    if group.context is not None or plan.queued or len(route.targets) != 1:
        return None
    target = route.targets[0]
    code = codes.get(target.stream)
    if target.filters or code is None or code.inline is None or target.stream in taken:
        return None
    if code.windowed and "(window)" in taken:
        return None
    taken.add(target.stream)
    if code.windowed:
        taken.add("(window)")
    group.push_nonlocals.extend(code.rebound)
    name = target.stream
    note = f"# stream {name}, run in place (through stream_{name} when --stats counts)"
    return "\n".join([note, "ts, f = timestamp, fields", *_fused(code.inline, codes)])


_DELIVERY = re.compile(r"entry_(\w+)\(ts, f\)\Z")


def _fused(body: list[str], codes: dict[str, StreamCode]) -> list[str]:
    """`body` with a final hand-over to a lone stateless consumer replaced by that
    consumer's own body, and so on down the chain: what `A -> B -> C` costs by hand.
    (Its `return`s still just end the event's work: the hand-over was the last thing.)"""
    lines = list(body)
    while lines:
        match = _DELIVERY.match(lines[-1])
        code = codes.get(match.group(1)) if match else None
        if code is None or code.inline is None or code.windowed or code.rebound:
            return lines
        lines[-1:] = [f"# stream {match.group(1) if match else ''}, run in place", *code.inline]
    return lines


def _route_view(plan: Plan, route: Route, uses: set[str], inline: str | None = None) -> RouteView:
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
        needs_function=_route_target_name(route) == mangle("route", route.name),
        inline=inline,
    )


def _admission(compiler: ExprCompiler, filters: tuple[Expr, ...]) -> str:
    """A merge admits an event once if any of its entries' filters is true (§3)."""
    return " or ".join(f"({compiler.cond(f)})" for f in filters)


def _imports(uses: set[str]) -> list[str]:
    """Import lines: the standard library, a blank line, vpl_runtime; each group sorted."""
    stdlib: dict[str, set[str]] = {
        "collections.abc": {"Callable", "Sequence"},
        "typing": {"Any"},
    }
    runtime: dict[str, set[str]] = {"vpl_runtime.driver": set(_DRIVER_NAMES)}
    for name in uses:
        module = _module_of(name)
        group = runtime if module.startswith("vpl_runtime.") else stdlib
        group.setdefault(module, set()).add(name)
    lines = ["import sys"]
    lines += [f"from {m} import {', '.join(sorted(stdlib[m]))}" for m in sorted(stdlib)]
    lines.append("")
    lines += [f"from {m} import {', '.join(sorted(runtime[m]))}" for m in sorted(runtime)]
    return lines


@cache
def _runtime_index() -> dict[str, str]:
    """Runtime name -> the module that defines it (not one that merely imports it)."""
    index: dict[str, str] = dict(_STDLIB)
    for module in (*RUNTIME_MODULES, "contexts"):
        full = f"vpl_runtime.{module}"
        source = importlib.resources.files("vpl_runtime").joinpath(f"{module}.py").read_text()
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

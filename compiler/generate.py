"""Render a plan as one Python module: stream code from `codegen`, the rest from templates.

Only this module imports jinja2 and black. The output is deterministic: everything is
ordered by declaration or sorted, and nothing depends on hashing or the clock.
"""

from __future__ import annotations

import ast
import importlib.resources
from dataclasses import dataclass
from functools import cache

import jinja2
from black import format_str
from black.mode import Mode, TargetVersion

from vplc import __version__
from vplc.codegen import StreamCodegen
from vplc.expressions import RUNTIME_MODULES, ExprCompiler
from vplc.names import mangle, py_literal
from vplc.plan import Plan, Route
from vplc.syntax import Expr

# Names that generated code takes from the standard library or the driver.
_STDLIB = {"deque": "collections"}
_DRIVER_NAMES = (
    "CloseFn",
    "EmitFn",
    "EmitterFactory",
    "Fields",
    "Instrument",
    "PushFn",
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


@dataclass(frozen=True, slots=True)
class StreamView:
    name: str
    comment: str
    body: str
    entry: str
    function: str


def generate_module(plan: Plan) -> str:
    """The generated module's source, black-formatted."""
    uses: set[str] = set()
    classes: list[str] = []
    streams: list[StreamView] = []
    flushes: dict[str, str] = {}
    for sp in plan.streams:
        code = StreamCodegen(
            sp.stream,
            plan.program.filename,
            plan.constants,
            uses,
            deliver=lambda name: _delivery(plan, name),
            queued=plan.queued,
        ).generate()
        classes.extend(code.classes)
        if code.flush is not None:
            flushes[sp.stream.name] = code.flush
        s = sp.stream
        streams.append(
            StreamView(
                name=s.name,
                comment=f"{plan.program.filename}:{s.span.line}:{s.span.column} stream {s.name}",
                body="\n".join(code.body),
                entry=mangle("entry", s.name),
                function=mangle("stream", s.name),
            )
        )
    routes = [_route_view(plan, r, uses) for r in plan.routes]
    if plan.queued:
        uses.add("deque")
    source = _template().render(
        version=__version__,
        filename=plan.program.filename,
        imports=_imports(uses),
        classes=classes,
        streams=streams,
        routes=routes,
        queued=plan.queued,
        lateness=_lateness_view(plan),
        flushes=[flushes[name] for name in plan.flush_order if name in flushes],
        literal=py_literal,
    )
    return format_source(source)


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


def _delivery(plan: Plan, name: str) -> str | None:
    """The statement handing `(ts, f)` of stream `name` to its consumers."""
    route = plan.route(name)
    if route is None:
        return None
    target = _route_target_name(route)
    if plan.queued:
        return f"enqueue(({target}, ts, f))"
    return f"{target}(ts, f)"


def _route_target_name(route: Route) -> str:
    if len(route.targets) == 1 and not route.targets[0].filters:
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
        needs_function=_route_target_name(route) == mangle("route", route.name),
    )


def _admission(compiler: ExprCompiler, filters: tuple[Expr, ...]) -> str:
    """A merge admits an event once if any of its entries' filters is true (§3)."""
    return " or ".join(f"({compiler.cond(f)})" for f in filters)


def _imports(uses: set[str]) -> list[str]:
    by_module: dict[str, set[str]] = {"vpl_runtime.driver": set(_DRIVER_NAMES)}
    for name in uses:
        by_module.setdefault(_module_of(name), set()).add(name)
    lines = [
        "import sys",
        "from collections.abc import Callable, Sequence",
        "from functools import partial",
        "from typing import Any",
        "",
    ]
    for module in sorted(by_module):
        if module == "collections":
            lines.insert(1, f"from collections import {', '.join(sorted(by_module[module]))}")
            continue
        lines.append(f"from {module} import {', '.join(sorted(by_module[module]))}")
    return lines


@cache
def _runtime_index() -> dict[str, str]:
    """Runtime name -> the module that defines it (not one that merely imports it)."""
    index: dict[str, str] = dict(_STDLIB)
    for module in RUNTIME_MODULES:
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

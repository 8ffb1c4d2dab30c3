"""The compiler's stages in order: parse, check, plan, generate."""

from __future__ import annotations

from dataclasses import dataclass

from vplc.check.checker import check
from vplc.diagnostics import CompileError, Diagnostic, error, sorted_diagnostics
from vplc.frontend.parser import parse
from vplc.frontend.recursion import deep_recursion, nesting_errors
from vplc.frontend.syntax import Span
from vplc.plan.planner import Plan, plan
from vplc.plan.validate import check_plan


@dataclass(frozen=True, slots=True)
class Compiled:
    plan: Plan
    warnings: tuple[Diagnostic, ...]


def analyse(source: str, filename: str) -> Compiled:
    """Parse, check and plan `source`; raises CompileError with every diagnostic."""
    program = parse(source, filename)
    too_deep = nesting_errors(program)
    if too_deep:
        raise CompileError(too_deep)
    try:
        with deep_recursion():
            checked = check(program, source, filename)
            planned = plan(checked)
    except RecursionError:
        span = Span(1, 1, 1, 2)
        raise CompileError([error("E099", "expressions are nested too deeply", span)]) from None
    check_plan(planned)  # a violation is a compiler bug: the CLI reports an internal error
    warnings = checked.warnings
    if planned.one_thread_reason is not None:
        # Pools run in place on the one thread (W034): no unordered pool reorders lines.
        warnings = tuple(w for w in warnings if w.code != "W103")
    return Compiled(planned, tuple(sorted_diagnostics(warnings + planned.warnings)))


def compile_source(source: str, filename: str) -> str:
    """The generated module for `source` (named `filename` in messages and the header)."""
    from vplc.codegen.generate import generate_module  # jinja2 and black: only when generating

    return generate_module(analyse(source, filename).plan)


__all__ = ["CompileError", "Compiled", "analyse", "compile_source"]

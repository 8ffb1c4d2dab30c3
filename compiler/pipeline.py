"""The compiler's stages in order: parse, check, plan, generate."""

from __future__ import annotations

from dataclasses import dataclass

from vplc.checker import check
from vplc.diagnostics import CompileError, Diagnostic
from vplc.generate import generate_module
from vplc.parser import parse
from vplc.plan import Plan, plan


@dataclass(frozen=True, slots=True)
class Compiled:
    plan: Plan
    warnings: tuple[Diagnostic, ...]


def analyse(source: str, filename: str) -> Compiled:
    """Parse, check and plan `source`; raises CompileError with every diagnostic."""
    program = parse(source, filename)
    checked = check(program, source, filename)
    return Compiled(plan(checked), checked.warnings)


def compile_source(source: str, filename: str) -> str:
    """The generated module for `source` (named `filename` in messages and the header)."""
    return generate_module(analyse(source, filename).plan)


__all__ = ["CompileError", "Compiled", "analyse", "compile_source"]

"""Compile-time diagnostics: one value type, one printer, one exception.

Format (SEMANTICS §9, mypy's layout):

    prog.vpl:12:30: error: E020 event 'Order' has no field 'amout' (did you mean 'amount'?)
        .where(amout > 10)
               ^~~~~

Messages are lowercase, quote names in single quotes and have no final period.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from vplc.frontend.syntax import Span


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    severity: Severity
    code: str  # "PARSE", "E002", "W030", "LOAD", ...
    message: str
    span: Span
    # Lines that help find the cause, each shown with its own caret: `'(' opened here`.
    notes: tuple[tuple[str, Span], ...] = ()

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR


def error(code: str, message: str, span: Span) -> Diagnostic:
    return Diagnostic(Severity.ERROR, code, message, span)


def warning(code: str, message: str, span: Span) -> Diagnostic:
    return Diagnostic(Severity.WARNING, code, message, span)


class CompileError(Exception):
    """Raised by a stage that found errors; carries every diagnostic it collected."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics = tuple(sorted_diagnostics(diagnostics))
        super().__init__(f"{sum(d.is_error for d in self.diagnostics)} error(s)")


def sorted_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Position order, errors before warnings at the same position; duplicates dropped."""
    unique = dict.fromkeys(diagnostics)
    return sorted(
        unique,
        key=lambda d: (d.span.line, d.span.column, d.severity is Severity.WARNING, d.code),
    )


def format_diagnostic(diagnostic: Diagnostic, filename: str, source: str) -> str:
    """The diagnostic's header line, the source line indented by 4, and a caret line; then
    each note the same way (`prog.vpl:3:10: note: '(' opened here`)."""
    text = diagnostic.severity.value + ": " + diagnostic.code + " " + diagnostic.message
    parts = [_located(text, diagnostic.span, filename, source)]
    parts += [_located(f"note: {message}", span, filename, source) for message, span in
              diagnostic.notes]  # fmt: skip
    return "\n".join(parts)


def _located(text: str, span: Span, filename: str, source: str) -> str:
    header = f"{filename}:{span.line}:{span.column}: {text}"
    lines = source.split("\n")  # line numbers count \n only, as the parser does
    if not 1 <= span.line <= len(lines):
        return header
    shown = lines[span.line - 1].expandtabs(1)
    start = max(span.column - 1, 0)
    if span.end_line == span.line:
        width = max(span.end_column - span.column, 1)
    else:
        width = max(len(shown.rstrip()) - start, 1)
    caret = " " * start + "^" + "~" * (width - 1)
    return f"{header}\n    {shown.rstrip()}\n    {caret}"


def format_all(diagnostics: Iterable[Diagnostic], filename: str, source: str) -> str:
    return "\n".join(format_diagnostic(d, filename, source) for d in diagnostics)

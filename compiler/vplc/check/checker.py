"""The checker: a syntax tree (`syntax.Program`) becomes a `model.CheckedProgram`.

Every problem is collected (SEMANTICS §9) and raised once, as a `CompileError` carrying all
errors and warnings, sorted by position. Declarations are checked first (events, contexts,
constants), then streams in dependency order so that each stream knows the schema of the
events its sources produce (D21); the model lists streams in declaration order.

Codes the spec leaves to vplc: E003 unknown base event in `extends` (an error: the event's
fields cannot be known), E004 inheritance cycle, E015 an op other than `.where` in a merge
source, E074 too many arguments to an aggregate function, E091 unknown stream operation,
E092 malformed op arguments (wrong count, missing item name, second `.context`), W013 window
`policy:` ignored, W021 an operator that always evaluates to MISSING, W041 a name in an
initializer that is not an earlier constant, W050/W051 unknown builtin or wrong arity in a
stream expression (warnings: §4 defines both as MISSING).
"""

from __future__ import annotations

from collections.abc import Sequence

from vplc.check.concurrent import PoolSite, unordered_pool_warnings
from vplc.check.decls import Declarations, check_declarations
from vplc.check.exprs import Env
from vplc.check.graph import cycle_errors, strongly_connected
from vplc.check.model import CheckedProgram, SourceRef, Stream, StreamOp
from vplc.check.ops import StreamChecker, StreamResult
from vplc.check.types import DYNAMIC, Schema, assert_never, union
from vplc.diagnostics import CompileError, Diagnostic, error, sorted_diagnostics, warning
from vplc.frontend import syntax


def check(program: syntax.Program, source: str, filename: str) -> CheckedProgram:
    """Check `program` (parsed from `source`); raise CompileError if there is any error."""
    diagnostics: list[Diagnostic] = []
    decls = check_declarations(program, diagnostics)
    streams = [s for s in program.statements if isinstance(s, syntax.StreamDecl)]
    checked = _StreamsChecker(decls, streams, source, diagnostics).run()
    if any(d.is_error for d in diagnostics):
        raise CompileError(diagnostics)
    return CheckedProgram(
        filename=filename,
        streams=checked,
        events=decls.events,
        contexts=decls.contexts,
        bindings=decls.bindings,
        constant_names=decls.constant_names,
        warnings=tuple(sorted_diagnostics(diagnostics)),
    )


def span_text(lines: Sequence[str], span: syntax.Span) -> str:
    """The source text of `span` with every whitespace run collapsed to one space."""
    if not 1 <= span.line <= span.end_line <= len(lines):
        return ""
    if span.line == span.end_line:
        text = lines[span.line - 1][span.column - 1 : span.end_column - 1]
    else:
        parts = [lines[span.line - 1][span.column - 1 :]]
        parts += lines[span.line : span.end_line - 1]
        parts.append(lines[span.end_line - 1][: span.end_column - 1])
        text = "\n".join(parts)
    return " ".join(text.split())


class _StreamsChecker:
    """Checks every stream declaration, in dependency order."""

    def __init__(
        self,
        decls: Declarations,
        streams: list[syntax.StreamDecl],
        source: str,
        diagnostics: list[Diagnostic],
    ) -> None:
        self.decls = decls
        self.streams = streams
        self.lines = source.split("\n")
        self.env = Env(decls.constant_types, diagnostics)
        self.first: dict[str, int] = {}  # stream name -> index of its first declaration
        self.outputs: dict[str, Schema] = {}
        self.results: dict[int, StreamResult] = {}
        self.sources: dict[int, tuple[SourceRef, ...]] = {}
        # Source name -> its first use, for names that are neither events nor streams.
        self.undeclared: dict[str, syntax.Span] = {}

    def run(self) -> tuple[Stream, ...]:
        self._duplicates()
        edges = [self._dependencies(stream) for stream in self.streams]
        components = strongly_connected(edges)
        names = [stream.name for stream in self.streams]
        spans = [stream.name_span for stream in self.streams]
        for diagnostic in cycle_errors(components, edges, names, spans):
            self.env.report(diagnostic)
        for component in components:
            for index in component:
                self._check_stream(index)
        self._undeclared_warnings()
        self._cross_stream_warnings()
        return tuple(
            Stream(
                stream.name,
                self.sources[i],
                tuple(self.results[i].ops),
                self.results[i].context,
                stream.name_span,
            )
            for i, stream in enumerate(self.streams)
        )

    def _duplicates(self) -> None:
        for index, stream in enumerate(self.streams):
            if stream.name in self.first:
                self.env.report(
                    error("E002", f"duplicate stream '{stream.name}'", stream.name_span)
                )
            else:
                self.first[stream.name] = index

    def _dependencies(self, stream: syntax.StreamDecl) -> list[int]:
        return [self.first[name] for name, _ in _source_names(stream) if name in self.first]

    # -- one stream ---------------------------------------------------------------------

    def _check_stream(self, index: int) -> None:
        stream = self.streams[index]
        refs: list[SourceRef] = []
        schemas: list[Schema] = []
        match stream.source:
            case syntax.SourceName(name=name, span=span):
                schemas.append(self._source_schema(name, span))
                refs.append(SourceRef(name, None, span))
            case syntax.Merge(sources=entries):
                for entry in entries:
                    schema = self._source_schema(entry.name, entry.name_span)
                    checker = self._stream_checker(schema)
                    refs.append(SourceRef(entry.name, checker.source_filter(entry.ops), entry.span))
                    schemas.append(schema)
        self.sources[index] = tuple(refs)
        result = self._stream_checker(union(schemas, "'merge(...)'")).run(stream.ops)
        self.results[index] = result
        if self.first.get(stream.name) == index and result.schema is not None:
            self.outputs[stream.name] = Schema(result.schema.fields, f"stream '{stream.name}'")

    def _stream_checker(self, schema: Schema) -> StreamChecker:
        return StreamChecker(
            self.env,
            lambda span: span_text(self.lines, span),
            schema,
            self.decls.context_names,
            self.decls.event_schemas.keys(),
        )

    def _source_schema(self, name: str, span: syntax.Span) -> Schema:
        """Input events of type `name` and output events of the stream `name` (§3)."""
        parts: list[Schema] = []
        event = self.decls.event_schemas.get(name)
        if event is not None:
            parts.append(event)
        if name in self.first:
            # A stream in a cycle may not be checked yet: its output is unknown.
            parts.append(self.outputs.get(name, DYNAMIC))
        if not parts:
            # Streams are checked in dependency order: keep the use first in the source.
            first = self.undeclared.get(name)
            if first is None or (span.line, span.column) < (first.line, first.column):
                self.undeclared[name] = span
            return DYNAMIC
        return union(parts, f"'{name}'")

    def _undeclared_warnings(self) -> None:
        """One W030 per undeclared source name, at its first use (not once per stream)."""
        for name, span in self.undeclared.items():
            message = f"'{name}' is neither a declared event type nor a stream"
            self.env.report(warning("W030", message, span))

    # -- warnings across streams --------------------------------------------------------

    def _cross_stream_warnings(self) -> None:
        consumers = self._consumers()
        contexts = {s.name: self.results[i].context for i, s in enumerate(self.streams)}
        for index, stream in enumerate(self.streams):
            for context, span in self.results[index].emit_contexts:
                if all(contexts.get(c) != context for c in consumers.get(stream.name, [])):
                    self.env.report(
                        warning(
                            "W032",
                            f"no consumer of stream '{stream.name}' runs in context "
                            f"'{context}'",
                            span,
                        )
                    )
        ops: dict[str, list[StreamOp]] = {}
        sites: list[PoolSite] = []
        for index, stream in enumerate(self.streams):
            if self.first[stream.name] != index:
                continue
            ops[stream.name] = self.results[index].ops
            sites += [PoolSite(stream.name, i, span) for i, span in self.results[index].pools]
        for diagnostic in unordered_pool_warnings(sites, ops):
            self.env.report(diagnostic)

    def _consumers(self) -> dict[str, list[str]]:
        """Stream name -> names of the streams reading its output, in declaration order."""
        consumers: dict[str, list[str]] = {}
        for stream in self.streams:
            for name, _ in _source_names(stream):
                readers = consumers.setdefault(name, [])
                if stream.name not in readers:
                    readers.append(stream.name)
        return consumers


def _source_names(stream: syntax.StreamDecl) -> list[tuple[str, syntax.Span]]:
    match stream.source:
        case syntax.SourceName(name=name, span=span):
            return [(name, span)]
        case syntax.Merge(sources=entries):
            return [(entry.name, entry.name_span) for entry in entries]
        case _:
            assert_never(stream.source)

"""Contexts: the output lines of a context that runs in the caller's process (both backends)."""

from vpl_runtime.contexts.stats import Counters
from vpl_runtime.driver import EmitFn, EmitterFactory, Fields, RunOptions


class BufferedOutput:
    """A context's output lines: buffered, written once per processing pass under the output
    lock, flushed before the context waits."""

    def __init__(
        self, counters: Counters, make_emitter: EmitterFactory, options: RunOptions
    ) -> None:
        self._counters = counters
        self._make_emitter = make_emitter
        self._lock = options.output_lock
        self._flush_output = options.flush_output
        self._flushed_lines = 0
        self._emitters: dict[str, EmitFn] = {}
        self._lines: list[tuple[str, int, Fields]] = []

    def emitter(self, stream: str) -> EmitFn:
        # Lines are buffered per context and written once per processing pass under the
        # output lock: a lock taken per line made the contexts queue on it (a convoy with
        # the GIL) and cost more than the work itself.
        with self._lock:
            self._emitters[stream] = self._make_emitter(stream)
        lines = self._lines
        name = stream

        def emit_buffered(_stream: str, timestamp: int, fields: Fields) -> None:
            lines.append((name, timestamp, fields))

        return emit_buffered

    def passed(self) -> None:
        lines = self._lines
        if lines:
            emitters = self._emitters
            with self._lock:
                for stream, timestamp, fields in lines:
                    emitters[stream](stream, timestamp, fields)
            self._counters.lines += len(lines)
            lines.clear()

    def idle(self) -> None:
        # Live input: what this context wrote must reach the reader before it waits.
        if self._counters.lines != self._flushed_lines:
            self._flushed_lines = self._counters.lines
            with self._lock:
                self._flush_output()

    def progressed(self, upto: int) -> None:
        pass  # the backend's transports that need it say what it is

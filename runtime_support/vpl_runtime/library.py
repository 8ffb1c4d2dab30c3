"""The generated module's `Pipeline`: the program as a library (README, "The generated module").

Every generated module defines `class Pipeline(PipelineBase, build=_build, fingerprint=...)`;
what is the same for every program lives here once: `push`/`close`/`flush`, the options of
a program with contexts, and `snapshot()`/`restore()` (SEMANTICS §15, D35, D36).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple, TypeAlias, TypeVar

from vpl_runtime.driver import (
    Built,
    CloseFn,
    EmitFn,
    EmitterFactory,
    Fields,
    Instrument,
    PushFn,
    RunOptions,
    SnapshotFn,
)
from vpl_runtime.snapshot import decode_snapshot, encode_snapshot

__all__ = ["PipelineBase"]

Sink: TypeAlias = Callable[[str, int, Fields], None]
P = TypeVar("P", bound="PipelineBase")
# The generated `_build(make_emitter, instrument, options, saved)`.
Build: TypeAlias = Callable[
    [EmitterFactory, Instrument | None, RunOptions, dict[str, object] | None], Built
]

# With contexts, seconds a pushed event may wait in a partial batch before the ingress sends
# it anyway, so results reach the sink without `flush` or `close` (D39).
LIVE_DELAY = 0.02


class _Program(NamedTuple):
    build: Build
    fingerprint: str
    live: bool  # the program has contexts: its results arrive from their threads


class PipelineBase:
    """`sink(stream, timestamp, fields)` receives every output event; call `push` once per
    input event, in order, and `close` once at the end of input (it flushes windows).
    Between pushes, `snapshot()` gives the state as bytes, and `Pipeline.restore(sink,
    data)` a pipeline that goes on from them."""

    _program: ClassVar[_Program]
    push: PushFn
    close: CloseFn
    _snapshot_state: SnapshotFn
    _closed: bool
    _options: RunOptions

    def __init_subclass__(
        cls, *, build: Build, fingerprint: str, live: bool = False, **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        cls._program = _Program(build, fingerprint, live)

    def __init__(
        self,
        sink: Sink,
        *,
        backend: str = "thread",
        batch_size: int = 64,
        queue_capacity: int = 1000,
    ) -> None:
        self._start(sink, None, backend, batch_size, queue_capacity)

    @classmethod
    def restore(
        cls: type[P],
        sink: Sink,
        data: bytes,
        *,
        backend: str = "thread",
        batch_size: int = 64,
        queue_capacity: int = 1000,
    ) -> P:
        """A pipeline that goes on from `data`, the bytes of some pipeline's `snapshot()`:
        fed the events that followed the snapshot, it gives what that pipeline would have.
        ValueError if `data` is not an intact snapshot of this program."""
        saved = decode_snapshot(cls._program.fingerprint, data)
        pipeline = cls.__new__(cls)
        pipeline._start(sink, saved, backend, batch_size, queue_capacity)
        return pipeline

    def snapshot(self) -> bytes:
        """The state of every stream as bytes (versioned, checksummed), between pushes:
        store it with the source position of the last event pushed."""
        if self._closed:
            raise RuntimeError(
                "Pipeline.snapshot() after close(): the end of input has been processed"
            )
        return encode_snapshot(self._program.fingerprint, self._snapshot_state())

    def flush(self) -> None:
        """Return once every event pushed so far is processed and its output is in the sink
        (end-of-input results come with `close`). Without contexts at once: `push` did it."""
        for flush in self._options.hooks.flush:
            flush()

    def _start(
        self,
        sink: Sink,
        saved: dict[str, object] | None,
        backend: str,
        batch_size: int,
        queue_capacity: int,
    ) -> None:
        def make_emitter(stream: str) -> EmitFn:
            return sink  # emit functions take the stream name first, as sinks do

        program = self._program
        self._options = RunOptions(
            backend=backend,
            batch_size=batch_size,
            queue_capacity=queue_capacity,
            live_delay=LIVE_DELAY if program.live else None,
        )
        # `push` is the built function itself, so that a call costs what it costs in `main`;
        # closing swaps it for one that refuses, and makes a second `close` do nothing.
        built = program.build(make_emitter, None, self._options, saved)
        self.push, self._snapshot_state = built.push, built.snapshot
        self._closed = False

        def close() -> None:
            self.push, self.close, self._closed = _push_after_close, _close_again, True
            built.close()

        self.close = close


def _push_after_close(event_type: str, timestamp: int, fields: Fields) -> None:
    raise RuntimeError(
        "Pipeline.push() after close(): the end of input has been processed; "
        "make a new Pipeline for more events"
    )


def _close_again() -> None:
    """A second `Pipeline.close()`: the end of input was processed once already."""

"""Contexts: failures, and the one object that decides what a failure does (every backend).

A context that raises is described as a `ContextFailure` (context, stream, input position,
error, traceback); the `Supervisor` of the pipeline keeps the first one, stops every context
through the backend's `stop`, and makes `push`/`close` raise it in the caller's thread.
Restart policies (SEMANTICS §13) would plug in here, and only here.
"""

import re
import threading
import traceback
from collections.abc import Callable

from vpl_runtime.contexts.cascade import position_text

_WAIT = 1.0  # seconds: waits are woken by notify; this only bounds a lost wake-up


class ContextFailure(RuntimeError):
    """A context raised: `push` and `close` raise this in the caller's thread.

    `str()` is one line (`context 'a' failed in stream 'S': ZeroDivisionError: ...`);
    `traceback_text` is the traceback of the context where it happened.
    """

    def __init__(
        self,
        context: str,
        stream: str | None,
        error: str,
        traceback_text: str,
        position: int | None = None,
    ) -> None:
        where = f"context '{context}' failed" + ("" if stream is None else f" in stream '{stream}'")
        super().__init__(f"{where}{position_text(position)}: {error}")
        self.position = position  # the input-level cascade id being processed, if any
        self.context = context
        self.stream = stream
        self.error = error
        self.traceback_text = traceback_text


class Stopped(Exception):
    """Raised inside a context (or the ingress) when the pipeline is stopping."""


_FUNCTION = re.compile(r"(?:stream|after|batch|flush|result)_(\w+)")


def describe(context: str, exc: BaseException, position: int | None = None) -> ContextFailure:
    """The failure of `context` caused by `exc` while processing cascade `position` (None:
    not while processing); the stream is read from the traceback.

    Generated functions are named `stream_<Name>`, `flush_<Name>`...: the innermost such
    frame is the stream that failed.
    """
    stream = None
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        match = _FUNCTION.fullmatch(frame.name)
        if match is not None:
            stream = match.group(1)
            break
    text = str(exc)
    error = type(exc).__name__ + (f": {text}" if text else "")
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return ContextFailure(context, stream, error, details, position)


def raise_failure(failure: ContextFailure) -> None:
    """Raise `failure` in the caller's thread (a fresh copy: it may be raised several times).

    A closed output (`| head`) stays a BrokenPipeError, which the driver ends quietly.
    """
    if failure.error.startswith("BrokenPipeError"):
        raise BrokenPipeError(failure.error)
    raise ContextFailure(
        failure.context, failure.stream, failure.error, failure.traceback_text, failure.position
    )


class Supervisor:
    """Watches the contexts of one pipeline: counts those done, decides what a failure does.

    `stop()` is the backend's way to wake and stop every context (they raise `Stopped`);
    `before_raise()` runs before the failure is raised in the caller (the process backend
    reaps its children there). Safe to call from any thread.
    """

    def __init__(
        self, stop: Callable[[], None], before_raise: Callable[[], None] | None = None
    ) -> None:
        self.failure: ContextFailure | None = None
        self._stop = stop
        self._before_raise = before_raise
        self._changed = threading.Condition()
        self._done = 0

    def context_done(self) -> None:
        """A context served to the end."""
        with self._changed:
            self._done += 1
            self._changed.notify_all()

    def context_failed(self, name: str, exc: BaseException, position: int | None) -> None:
        """Context `name` (in this process) raised `exc` while processing `position`."""
        self.failed(describe(name, exc, position))

    def failed(self, failure: ContextFailure) -> None:
        """A context failed: the one place that decides what happens then.

        Today the whole pipeline stops: the first failure is kept, every context is stopped
        and `push`/`close` raise it.
        """
        with self._changed:
            if self.failure is None:
                self.failure = failure
            self._changed.notify_all()
        self._stop()

    def caller_failed(self, name: str, exc: BaseException, position: int | None) -> None:
        """The context on the caller's thread raised `exc` (a `Stopped`: another context
        failed first): record it, then raise the pipeline's failure."""
        if not isinstance(exc, Stopped):
            self.context_failed(name, exc, position)
        self.check()

    def check(self) -> None:
        """Raise the failure, if any."""
        if self.failure is not None:
            if self._before_raise is not None:
                self._before_raise()
            raise_failure(self.failure)

    def wait(self, count: int) -> None:
        """Block until `count` contexts are done, or one failed."""
        with self._changed:
            while self._done < count and self.failure is None:
                self._changed.wait(_WAIT)

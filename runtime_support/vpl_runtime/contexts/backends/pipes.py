"""Contexts in processes: pipes between them, carrying frames of pickled objects (one writer
and one reader per pipe)."""

import os
import pickle
import select
import time
from collections.abc import Callable, Sequence
from typing import Any

from vpl_runtime.contexts.merge import Item

POLL = 0.2  # seconds between checks for a stop or a dead process while blocked
POLL_MS = int(POLL * 1000)
_PIPE_SIZE = 1 << 20  # bytes a pipe may hold, where the system allows it
_READ_SIZE = 1 << 18


def pipe() -> tuple[int, int]:
    """A pipe (read end, write end), both non-blocking, with a large buffer where allowed."""
    read, write = os.pipe()
    os.set_blocking(read, False)
    os.set_blocking(write, False)
    try:
        import fcntl  # Linux only, like the process backend

        fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
    except (ImportError, AttributeError, OSError):
        pass  # the default size works too, with more waits
    return read, write


def dumps(value: Any) -> bytes:
    """The bytes of one frame's object."""
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def encode_batch(items: Sequence[Item], upto: int) -> bytes:
    """A batch as sent between processes: (upto, columns of the items or None).

    Four columns pickle in half the time of one tuple per item, and unpickle faster too.
    """
    return dumps((upto, tuple(zip(*items, strict=True)) if items else None))


def decode_batch(value: Any) -> tuple[list[Item], int]:
    """(items, upto) of a batch made by `encode_batch`, once unpickled."""
    upto, columns = value
    return (list(zip(*columns, strict=True)) if columns is not None else []), upto


class FrameWriter:
    """The write end of a pipe: sends whole frames (8-byte length, then the bytes)."""

    __slots__ = ("_fd", "_poll")

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._poll = select.poll()
        self._poll.register(fd, select.POLLOUT)

    def write(self, data: bytes, check: Callable[[], None]) -> float:
        """Write one frame; return the seconds spent waiting for room in the pipe.

        `check` runs while waiting and raises to give up (a stop, a failure elsewhere).
        """
        view = memoryview(len(data).to_bytes(8, "little") + data)
        blocked = 0.0
        while view:
            try:
                view = view[os.write(self._fd, view) :]
            except BlockingIOError:
                started = time.perf_counter()
                self._poll.poll(POLL_MS)
                blocked += time.perf_counter() - started
                check()
            except BrokenPipeError:
                # The reader's process is gone: the parent notices and stops the pipeline,
                # which `check` then reports.
                while True:
                    check()
                    time.sleep(POLL)
        return blocked


class FrameReader:
    """The read end of a pipe: the objects of the whole frames that arrived."""

    __slots__ = ("_buffer", "fd", "open")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.open = True  # False once the writer closed its end and everything was read
        self._buffer = bytearray()

    def read(self) -> list[Any]:
        """Read what is available without waiting; return the objects of its whole frames."""
        buffer = self._buffer
        while True:
            try:
                data = os.read(self.fd, _READ_SIZE)
            except BlockingIOError:
                break
            if not data:
                self.open = False
                break
            buffer += data
            if len(data) < _READ_SIZE:
                break  # drained (more would wake the next poll): spare a read that fails
        values = []
        start, end = 0, len(buffer)
        with memoryview(buffer) as view:
            while end - start >= 8:
                size = int.from_bytes(view[start : start + 8], "little")
                if end - start - 8 < size:
                    break
                values.append(pickle.loads(view[start + 8 : start + 8 + size]))
                start += 8 + size
        del buffer[:start]
        return values

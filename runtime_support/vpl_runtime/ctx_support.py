"""Contexts: pinning to cores (D11), thread names, the `--stats` table, pipes between context
processes."""

import ctypes
import os
import pickle
import re
import select
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from vpl_runtime.ctx_core import _ctx_Counters, _ctx_Item

_ctx_POLL = 0.2  # seconds between checks for a stop or a dead process while blocked
_ctx_POLL_MS = int(_ctx_POLL * 1000)
_ctx_PIPE_SIZE = 1 << 20  # bytes a pipe may hold, where the system allows it
_ctx_READ_SIZE = 1 << 18


def _ctx_warn(name: str, message: str) -> None:
    sys.stderr.write(f"warning: context '{name}': {message}\n")


def _ctx_available_cores() -> set[int]:
    """The cores this process may run on."""
    getaffinity = getattr(os, "sched_getaffinity", None)
    if getaffinity is not None:
        try:
            return set(getaffinity(0))
        except OSError:
            pass
    return set(range(os.cpu_count() or 1))


def _ctx_usable_cores(name: str, cores: tuple[int, ...]) -> tuple[int, ...]:
    """The cores to pin context `name` to: `cores`, or none (with a warning) if one is missing."""
    if not cores:
        return ()
    available = _ctx_available_cores()
    missing = [str(core) for core in cores if core not in available]
    if missing:
        _ctx_warn(name, f"core(s) {', '.join(missing)} not available; running unpinned")
        return ()
    return cores


def _ctx_pin(name: str, cores: tuple[int, ...], whole_process: bool) -> None:
    """Pin the calling thread (with `whole_process`, the calling process) to `cores`.

    Linux pins one thread with `sched_setaffinity(native thread id)`; elsewhere psutil can
    only pin the whole process, which is said in a warning for a thread.
    """
    if not cores:
        return
    listed = ", ".join(map(str, cores))
    setaffinity = getattr(os, "sched_setaffinity", None)
    if setaffinity is not None:
        try:
            setaffinity(0 if whole_process else threading.get_native_id(), cores)
        except OSError as exc:
            _ctx_warn(name, f"cannot pin to core(s) {listed} ({exc.strerror}); running unpinned")
        return
    if not _ctx_pin_with_psutil(cores):
        _ctx_warn(name, f"cannot pin to core(s) {listed} on this platform; running unpinned")
    elif not whole_process:
        _ctx_warn(name, f"pinned the whole process to core(s) {listed}, not only its thread")


_ctx_OS_NAME_BYTES = 15  # Linux keeps 16 bytes of a thread's name, with the final NUL
_ctx_PR_SET_NAME = 15
_ctx_PART = re.compile(r"(.*) \((worker|collector) (\d+)\)")


def _ctx_thread_name(context: str) -> str:
    """The name of the thread (or process) that runs `context`, for `threading` and ps/top."""
    return f"vpl:{context}"


def _ctx_os_name(context: str) -> bytes:
    """`vpl:<context>` in at most 15 bytes: a worker or collector keeps its number
    (`vpl:Spread/w1`, `vpl:ingest/c1`), a long name loses its end."""
    suffix = ""
    match = _ctx_PART.fullmatch(context)
    if match is not None:
        context, suffix = match.group(1), f"/{match.group(2)[0]}{match.group(3)}"
    room = _ctx_OS_NAME_BYTES - len("vpl:") - len(suffix.encode())
    base = context.encode()[: max(room, 0)].decode(errors="ignore")  # whole characters only
    return f"vpl:{base}{suffix}".encode()[:_ctx_OS_NAME_BYTES]


def _ctx_name_os_thread(context: str) -> None:
    """Name the calling thread `_ctx_os_name(context)` where the OS shows thread names (Linux,
    for ps -L and top -H; a process's main thread names the process); silently nothing
    elsewhere or if it fails."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_ctx_PR_SET_NAME, ctypes.c_char_p(_ctx_os_name(context)), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _ctx_pin_with_psutil(cores: tuple[int, ...]) -> bool:
    try:
        import psutil  # optional: only where the os module cannot pin
    except ImportError:
        return False
    try:
        psutil.Process().cpu_affinity(list(cores))
    except (AttributeError, OSError, ValueError, psutil.Error):
        return False
    return True


def _ctx_gil_enabled() -> bool:
    """False on a free-threaded interpreter, where threads run Python code in parallel."""
    return bool(getattr(sys, "_is_gil_enabled", lambda: True)())


def _ctx_parallelism(backend: str) -> str:
    """What runs in parallel on `backend`, as the `--stats` heading says it."""
    if backend == "process":
        # The context fed on the reader's thread (D28) runs in the parent with the reader.
        return (
            "each context a process with its own interpreter: contexts run Python code in "
            "parallel; events and lines cross pipes, pickled"
        )
    if _ctx_gil_enabled():
        return "interpreter with a GIL: threads take turns running Python code"
    return "free-threaded interpreter: threads run in parallel"


def _ctx_stats_report(
    backend: str, ingress: _ctx_Counters, contexts: Sequence[tuple[str, _ctx_Counters]]
) -> str:
    """The per-context table printed at exit with `--stats`."""
    interpreter = _ctx_parallelism(backend)
    rows = [("context", "events in", "sent", "lines out", "busy s", "queue max", "blocked s")]
    rows.append(
        (
            "(input)",
            str(ingress.events_in),
            str(ingress.sent),
            "-",
            "-",
            "-",
            f"{ingress.blocked:.3f}",
        )
    )
    for name, c in contexts:
        rows.append(
            (
                name,
                str(c.events_in),
                str(c.sent),
                str(c.lines),
                f"{c.busy:.3f}",
                str(c.high_water),
                f"{c.blocked:.3f}",
            )
        )
    width = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [f"stats: contexts on the {backend} backend ({interpreter})"]
    for row in rows:
        cells = [row[0].ljust(width[0])] + [row[i].rjust(width[i]) for i in range(1, len(row))]
        lines.append("  ".join(cells))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Pipes between processes: frames of pickled objects, one writer and one reader per pipe


def _ctx_pipe() -> tuple[int, int]:
    """A pipe (read end, write end), both non-blocking, with a large buffer where allowed."""
    read, write = os.pipe()
    os.set_blocking(read, False)
    os.set_blocking(write, False)
    try:
        import fcntl  # Linux only, like the process backend

        fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, _ctx_PIPE_SIZE)
    except (ImportError, AttributeError, OSError):
        pass  # the default size works too, with more waits
    return read, write


def _ctx_dumps(value: Any) -> bytes:
    """The bytes of one frame's object."""
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def _ctx_encode_batch(items: Sequence[_ctx_Item], upto: int) -> bytes:
    """A batch as sent between processes: (upto, columns of the items or None).

    Four columns pickle in half the time of one tuple per item, and unpickle faster too.
    """
    return _ctx_dumps((upto, tuple(zip(*items, strict=True)) if items else None))


def _ctx_decode_batch(value: Any) -> tuple[list[_ctx_Item], int]:
    """(items, upto) of a batch made by `_ctx_encode_batch`, once unpickled."""
    upto, columns = value
    return (list(zip(*columns, strict=True)) if columns is not None else []), upto


class _ctx_FrameWriter:
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
                self._poll.poll(_ctx_POLL_MS)
                blocked += time.perf_counter() - started
                check()
            except BrokenPipeError:
                # The reader's process is gone: the parent notices and stops the pipeline,
                # which `check` then reports.
                while True:
                    check()
                    time.sleep(_ctx_POLL)
        return blocked


class _ctx_FrameReader:
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
                data = os.read(self.fd, _ctx_READ_SIZE)
            except BlockingIOError:
                break
            if not data:
                self.open = False
                break
            buffer += data
            if len(data) < _ctx_READ_SIZE:
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

"""Contexts: pinning to cores (D11) and the names of their threads and processes."""

import ctypes
import os
import re
import sys
import threading


def warn(name: str, message: str) -> None:
    """A warning about context `name` on stderr."""
    sys.stderr.write(f"warning: context '{name}': {message}\n")


def _available_cores() -> set[int]:
    """The cores this process may run on."""
    getaffinity = getattr(os, "sched_getaffinity", None)
    if getaffinity is not None:
        try:
            return set(getaffinity(0))
        except OSError:
            pass
    return set(range(os.cpu_count() or 1))


def usable_cores(name: str, cores: tuple[int, ...]) -> tuple[int, ...]:
    """The cores to pin context `name` to: `cores`, or none (with a warning) if one is missing."""
    if not cores:
        return ()
    available = _available_cores()
    missing = [str(core) for core in cores if core not in available]
    if missing:
        warn(name, f"core(s) {', '.join(missing)} not available; running unpinned")
        return ()
    return cores


def pin(name: str, cores: tuple[int, ...], whole_process: bool) -> None:
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
            warn(name, f"cannot pin to core(s) {listed} ({exc.strerror}); running unpinned")
        return
    if not _pin_with_psutil(cores):
        warn(name, f"cannot pin to core(s) {listed} on this platform; running unpinned")
    elif not whole_process:
        warn(name, f"pinned the whole process to core(s) {listed}, not only its thread")


def _pin_with_psutil(cores: tuple[int, ...]) -> bool:
    try:
        import psutil  # optional: only where the os module cannot pin
    except ImportError:
        return False
    try:
        psutil.Process().cpu_affinity(list(cores))
    except (AttributeError, OSError, ValueError, psutil.Error):
        return False
    return True


_OS_NAME_BYTES = 15  # Linux keeps 16 bytes of a thread's name, with the final NUL
_PR_SET_NAME = 15
_PART = re.compile(r"(.*) \((worker|collector) (\d+)\)")


def thread_name(context: str) -> str:
    """The name of the thread (or process) that runs `context`, for `threading` and ps/top."""
    return f"vpl:{context}"


def os_name(context: str) -> bytes:
    """`vpl:<context>` in at most 15 bytes: a worker or collector keeps its number
    (`vpl:Spread/w1`, `vpl:ingest/c1`), a long name loses its end."""
    suffix = ""
    match = _PART.fullmatch(context)
    if match is not None:
        context, suffix = match.group(1), f"/{match.group(2)[0]}{match.group(3)}"
    room = _OS_NAME_BYTES - len("vpl:") - len(suffix.encode())
    base = context.encode()[: max(room, 0)].decode(errors="ignore")  # whole characters only
    return f"vpl:{base}{suffix}".encode()[:_OS_NAME_BYTES]


def name_os_thread(context: str) -> None:
    """Name the calling thread `os_name(context)` where the OS shows thread names (Linux,
    for ps -L and top -H; a process's main thread names the process); silently nothing
    elsewhere or if it fails."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_NAME, ctypes.c_char_p(os_name(context)), 0, 0, 0)
    except (OSError, AttributeError):
        pass

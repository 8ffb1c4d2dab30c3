"""Contexts: pinning to cores (D11) and the `--stats` table of contexts."""

import os
import sys
import threading
from collections.abc import Sequence

from vpl_runtime.ctx_core import _ctx_Counters


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


def _ctx_stats_report(
    backend: str, ingress: _ctx_Counters, contexts: Sequence[tuple[str, _ctx_Counters]]
) -> str:
    """The per-context table printed at exit with `--stats`."""
    if _ctx_gil_enabled():
        interpreter = "interpreter with a GIL: threads take turns running Python code"
    else:
        interpreter = "free-threaded interpreter: threads run in parallel"
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

"""Contexts: the counters every context keeps, and the `--stats` table made of them."""

import sys
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(slots=True)
class Counters:
    """What `--stats` reports for one context (or for the ingress)."""

    events_in: int = 0  # items processed
    sent: int = 0  # items sent to other contexts
    lines: int = 0  # output lines emitted
    busy: float = 0.0  # seconds in routes and flushes
    high_water: int = 0  # most events received and not yet processed
    blocked: float = 0.0  # seconds waiting for room in a full channel

    def as_tuple(self) -> tuple[int, int, int, float, int, float]:
        """The counters as plain values (sent from a child process)."""
        return (self.events_in, self.sent, self.lines, self.busy, self.high_water, self.blocked)


def gil_enabled() -> bool:
    """False on a free-threaded interpreter, where threads run Python code in parallel."""
    return bool(getattr(sys, "_is_gil_enabled", lambda: True)())


def _parallelism(backend: str) -> str:
    """What runs in parallel on `backend`, as the `--stats` heading says it."""
    if backend == "process":
        # The context fed on the reader's thread (D28) runs in the parent with the reader.
        return (
            "each context a process with its own interpreter: contexts run Python code in "
            "parallel; events and lines cross pipes, pickled"
        )
    if gil_enabled():
        return "interpreter with a GIL: threads take turns running Python code"
    return "free-threaded interpreter: threads run in parallel"


def stats_report(backend: str, ingress: Counters, contexts: Sequence[tuple[str, Counters]]) -> str:
    """The per-context table printed at exit with `--stats`."""
    interpreter = _parallelism(backend)
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

"""Results of bench_pipelines: the run's sizes, one row per measurement, the printed table."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass

from vplc import __version__ as vplc_version


@dataclass(frozen=True, slots=True)
class Sizes:
    """How much each measurement runs, and with which clock."""

    events: int  # per pipeline, in process
    lines: int  # per input file, end to end
    repeat: int
    seed: int
    clock: str = "wall"  # "wall": time.perf_counter; "cpu": time.process_time

    def timer(self) -> Callable[[], float]:
        """The clock of every measurement."""
        return time.process_time if self.clock == "cpu" else time.perf_counter


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table: a generated / hand-written pair, or a skipped one."""

    mode: str
    pipeline: str
    input: str
    generated: float | None  # events per second; None: skipped
    hand: float | None
    target: float | None  # None: for information only
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """generated / hand-written, or None when skipped."""
        if self.generated is None or self.hand is None:
            return None
        return self.generated / self.hand

    @property
    def met(self) -> bool | None:
        """Whether the target is met; None without a target or a measurement."""
        ratio = self.ratio
        return None if ratio is None or self.target is None else ratio >= self.target


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def format_row(row: Row) -> str:
    """One table line; measured rows carry `ratio` = generated / hand-written."""
    head = f"{row.mode:<11} {row.pipeline:<8} {row.input:<13}"
    ratio = row.ratio
    if ratio is None:
        return f"{head} {row.note}"
    if row.target is None:
        verdict = "(info)"
    else:
        verdict = f">= {row.target:.2f} {'met' if row.met else 'MISSED'}"
    line = f"{head} {_rate(row.generated):>14} {_rate(row.hand):>12} {ratio:>6.2f}  {verdict:<12}"
    return f"{line} {row.note}".rstrip()


def print_report(rows: list[Row], sizes: Sizes, orjson: bool) -> None:
    """The whole table on stdout, with the run's context above and the targets met below."""
    print(
        f"vplc {vplc_version}, Python {platform.python_version()} "
        f"({platform.python_implementation()}), {platform.machine()}, {os.cpu_count()} CPUs, "
        f"orjson {'importable' if orjson else 'not importable'}"
    )
    print(
        f"in-process: {sizes.events:,} events per pipeline; end-to-end: {sizes.lines:,} lines "
        f"per file; best of {sizes.repeat} ({sizes.clock} time); rates in input events/s; "
        "ratio = generated / hand"
    )
    print()
    print(
        f"{'mode':<11} {'pipeline':<8} {'input':<13} {'generated ev/s':>14} {'hand ev/s':>12} "
        f"{'ratio':>6}  target"
    )
    for row in rows:
        print(format_row(row))
    judged = [r.met for r in rows if r.met is not None]
    met = judged.count(True)
    print()
    print(f"targets met: {met} of {len(judged)}")

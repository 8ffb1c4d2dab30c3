"""Generated `push` against the same work hand-written behind `push`, per event.

    python benchmarks/bench_push.py [--events N] [--rounds R]

A narrower, steadier companion of bench_pipelines.py for the in-process target: one
pipeline at a time, generated and hand-written runs alternating, R rounds of 9 timed
passes each over the same pre-built events, best pass kept (wall clock), a sink that does
nothing. Prints ns/event and the ratio hand/generated (1.0: as fast as hand-written), of
the best passes and the range of the per-round ratios. `win-close` is the window case where
almost every event closes its key's window (a result per event).
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable, Sequence
from typing import Any

import bench_cases as cases
import bench_hand as hand

from vplc.pipeline import compile_source

Push = Callable[[str, int, dict[str, Any]], None]


def generated_pipeline(source: str) -> Any:
    namespace: dict[str, Any] = {"__name__": "bench_push"}
    exec(compile(compile_source(source, "bench.vpl"), "bench.py", "exec"), namespace)
    return namespace["Pipeline"]


def best_pass(make_push: Callable[[], Push], events: list[cases.Event], passes: int = 9) -> float:
    """The best of `passes` timed passes, each with a fresh pipeline: a window that saw the
    events once would see times go back (nothing closing) on the next pass."""
    best = float("inf")
    for _ in range(passes):
        push = make_push()
        start = time.perf_counter()
        for event_type, ts, fields in events:
            push(event_type, ts, fields)
        best = min(best, time.perf_counter() - start)
    return best / len(events) * 1e9


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    pipelines = (
        ("filter", cases.FILTER_VPL, cases.filter_events, hand.filter_push),
        ("window", cases.WINDOW_VPL, cases.window_events, hand.window_push),
        ("win-close", cases.WINDOW_VPL, cases.window_close_events, hand.window_push),
        ("3-stage", cases.THREE_STAGE_VPL, cases.three_stage_events, hand.three_stage_push),
    )

    def sink(stream: str, ts: int, fields: dict[str, Any]) -> None:
        pass

    for name, source, make_events, hand_push in pipelines:
        events = make_events(args.events, 1)
        gc.freeze()
        pipeline = generated_pipeline(source)
        generated: list[float] = []
        written: list[float] = []
        for _ in range(args.rounds):  # alternating
            generated.append(best_pass(lambda p=pipeline: p(sink).push, events))
            written.append(best_pass(lambda h=hand_push: h(sink)[0], events))
        gc.unfreeze()
        ratios = sorted(w / g for w, g in zip(written, generated, strict=True))
        print(
            f"{name:9} generated {min(generated):6.0f} ns/event   hand-written push"
            f" {min(written):6.0f} ns/event   ratio {min(written) / min(generated):.2f}"
            f" (rounds {ratios[0]:.2f}-{ratios[-1]:.2f}; target >= 0.90)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

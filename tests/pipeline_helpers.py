"""Compile a VPL program and drive its generated module in-process."""

from __future__ import annotations

from typing import Any

from vplc.pipeline import compile_source

Event = tuple[str, int, dict[str, Any]]
Output = tuple[str, int, dict[str, Any]]


def load(source: str) -> dict[str, Any]:
    """The generated module's namespace."""
    namespace: dict[str, Any] = {"__name__": "generated_under_test"}
    exec(compile(compile_source(source, "test.vpl"), "test.py", "exec"), namespace)
    return namespace


def run(source: str, events: list[Event]) -> list[Output]:
    """Every output (stream, timestamp, fields) of the program on `events`, in order."""
    outputs: list[Output] = []
    pipeline = load(source)["Pipeline"](lambda s, t, f: outputs.append((s, t, f)))
    for event_type, ts, fields in events:
        pipeline.push(event_type, ts, fields)
    pipeline.close()
    return outputs


def of(outputs: list[Output], stream: str) -> list[tuple[int, dict[str, Any]]]:
    return [(t, f) for s, t, f in outputs if s == stream]

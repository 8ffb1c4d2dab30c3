"""Type-strict comparison of JSON values (int, float and bool are different types)."""

from __future__ import annotations

import json
from typing import Any


def same_value(expected: Any, actual: Any, tolerance: float = 0.0) -> bool:
    if type(expected) is not type(actual):
        return False
    if isinstance(expected, float):
        return expected == actual or abs(expected - actual) <= tolerance
    if isinstance(expected, list):
        return len(expected) == len(actual) and all(
            same_value(e, a, tolerance) for e, a in zip(expected, actual, strict=False)
        )
    if isinstance(expected, dict):
        return expected.keys() == actual.keys() and all(
            same_value(expected[k], actual[k], tolerance) for k in expected
        )
    return bool(expected == actual)


def lines_by_stream(text: str) -> dict[str, list[Any]]:
    """Output lines grouped per stream, in order (the only order SEMANTICS guarantees)."""
    streams: dict[str, list[Any]] = {}
    for line in text.splitlines():
        if line.strip():
            record = json.loads(line)
            streams.setdefault(record["stream"], []).append(record)
    return streams


def diff_outputs(expected: str, actual: str, tolerance: float = 0.0) -> str | None:
    """None if every stream's lines match in order, else a readable explanation."""
    want, got = lines_by_stream(expected), lines_by_stream(actual)
    if want.keys() != got.keys():
        return f"streams differ: expected {sorted(want)}, got {sorted(got)}\n{actual}"
    for stream, lines in want.items():
        if len(lines) != len(got[stream]) or not all(
            same_value(e, a, tolerance) for e, a in zip(lines, got[stream], strict=False)
        ):
            shown = "\n".join(json.dumps(x) for x in got[stream])
            wanted = "\n".join(json.dumps(x) for x in lines)
            return f"stream {stream!r}:\nexpected:\n{wanted}\ngot:\n{shown}"
    return None

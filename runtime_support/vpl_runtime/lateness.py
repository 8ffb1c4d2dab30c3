"""Late data (SEMANTICS §6.6): the watermark, and which input events are too late for it.

The watermark is the minimum over input types of (latest timestamp of the type - its
declared `out_of_order`). An event older than the watermark is dropped unless it is within
the allowed lateness of a stream consuming its type; every event, dropped or not, moves the
watermark. One object per run, created by the generated `_build`; `is_late` is its per-event
call. Its state is three values, which a snapshot holds (`state`/`restore`, D35).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["Watermark"]


class Watermark:
    __slots__ = ("_allowed", "_highest", "_marks", "_out_of_order", "_watermark")

    def __init__(self, out_of_order: Mapping[str, int], allowed: Mapping[str, int]) -> None:
        """`out_of_order`: input type -> declared out_of_order (ms); `allowed`: input type
        -> the largest allowed lateness of the streams consuming it (absent: none)."""
        self._out_of_order = dict(out_of_order)
        self._allowed = dict(allowed)
        self._highest: dict[str, int] = {}  # input type -> its latest timestamp
        self._marks: dict[str, int] = {}  # input type -> latest timestamp - out_of_order
        self._watermark: float = float("-inf")

    def is_late(self, event_type: str, timestamp: int) -> bool:
        """Whether to drop this input event; it moves the watermark either way."""
        watermark = self._watermark
        late = False
        if timestamp < watermark:
            allowed = self._allowed.get(event_type)
            late = allowed is None or timestamp < watermark - allowed
        highest = self._highest
        high = highest.get(event_type)
        if high is None or timestamp > high:
            highest[event_type] = timestamp
            marks = self._marks
            marks[event_type] = timestamp - self._out_of_order.get(event_type, 0)
            self._watermark = min(marks.values())
        return late

    def would_be_late(self, event_type: str, timestamp: int) -> bool:
        """What `is_late` will answer, without moving the watermark (--stats asks first)."""
        watermark = self._watermark
        if timestamp < watermark:
            allowed = self._allowed.get(event_type)
            return allowed is None or timestamp < watermark - allowed
        return False

    def state(self) -> dict[str, object]:
        """The moving parts as plain values, for a snapshot."""
        return {
            "highest": dict(self._highest),
            "marks": dict(self._marks),
            "watermark": self._watermark,
        }

    def restore(self, saved: object) -> None:
        """Put `state()` values back; ValueError for values of another shape."""
        if not isinstance(saved, dict):
            raise ValueError("corrupt snapshot (late-data state is not a dict)")
        highest, marks = saved.get("highest"), saved.get("marks")
        watermark = saved.get("watermark")
        if not (isinstance(highest, dict) and isinstance(marks, dict)):
            raise ValueError("corrupt snapshot (late-data highest and marks are not dicts)")
        if watermark.__class__ not in (int, float):
            raise ValueError(f"corrupt snapshot (the watermark is not a number: {watermark!r})")
        self._highest, self._marks = dict(highest), dict(marks)
        self._watermark = float(watermark)

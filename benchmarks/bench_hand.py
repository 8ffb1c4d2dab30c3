"""Hand-written Python doing the work of the benchmarked pipelines, in process.

Written the way a careful person would write a fast dedicated loop: locals only, one dict per
output, the type tests the semantics need on well-formed input (a number test before a
numeric comparison or aggregation, `bool` not being a number), nothing else. Two shapes:

- `*_loop(events, sink)`: the whole input in one loop; the baseline of the ratios.
- `*_push(sink) -> (push, close)`: the same work behind the generated module's API (one call
  per event); it shows how much of a gap is the per-event call that API implies.

`sink(stream, timestamp, fields)` receives every output event, as `Pipeline(sink)` does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

from bench_cases import Event, Fields

Sink: TypeAlias = Callable[[str, int, Fields], None]
Push: TypeAlias = Callable[[str, int, Fields], None]
Close: TypeAlias = Callable[[], None]
Loop: TypeAlias = Callable[[list[Event], Sink], None]
PushFactory: TypeAlias = Callable[[Sink], tuple[Push, Close]]

_INF = float("inf")


def _no_close() -> None:
    pass


# ---------------------------------------------------------------------------------------------
# filter + emit


def filter_loop(events: list[Event], sink: Sink) -> None:
    """`stream Hot = Reading .where(temperature > 100.0) .emit(sensor, temp)`."""
    for event_type, ts, f in events:
        if event_type != "Reading":
            continue
        t: Any = f.get("temperature")
        cls = t.__class__
        if (cls is float or cls is int) and t > 100.0:
            sink("Hot", ts, {"sensor": f["sensor_id"], "temp": t})


def filter_push(sink: Sink) -> tuple[Push, Close]:
    """`filter_loop` as a per-event function."""

    def push(event_type: str, ts: int, f: Fields) -> None:
        if event_type != "Reading":
            return
        t: Any = f.get("temperature")
        cls = t.__class__
        if (cls is float or cls is int) and t > 100.0:
            sink("Hot", ts, {"sensor": f["sensor_id"], "temp": t})

    return push, _no_close


# ---------------------------------------------------------------------------------------------
# partitioned tumbling window + aggregate
#
# State per key: [start, n, last_ts, sum, numeric count, lo, hi]. A window opens at its key's
# first event and closes at the first event with ts >= start + 1000, which opens the next.


def stats_fields(key: str, w: list[Any]) -> Fields:
    """The emitted fields of one closed window (avg/min/max are null without numbers)."""
    c = w[4]
    if c:
        return {"key": key, "n": w[1], "avg_v": w[3] / c, "lo": float(w[5]), "hi": float(w[6])}
    return {"key": key, "n": w[1], "avg_v": None, "lo": None, "hi": None}


def window_loop(events: list[Event], sink: Sink) -> None:
    """`stream Stats = Metric .partition_by(key) .window(1s) .aggregate(...) .emit(...)`."""
    windows: dict[str, list[Any]] = {}
    get = windows.get
    for event_type, ts, f in events:
        if event_type != "Metric":
            continue
        key = f["key"]
        v = f["value"]
        cls = v.__class__
        numeric = cls is float or cls is int
        w = get(key)
        if w is None or ts >= w[0] + 1000:
            if w is not None:
                sink("Stats", w[2], stats_fields(key, w))
            # 0.0 + v: the sum is a float, added in the same order as the generated code.
            windows[key] = (
                [ts, 1, ts, 0.0 + v, 1, v, v] if numeric else [ts, 1, ts, 0.0, 0, _INF, -_INF]
            )
            continue
        w[1] += 1
        w[2] = ts
        if numeric:
            w[3] += v
            w[4] += 1
            if v < w[5]:
                w[5] = v
            if v > w[6]:
                w[6] = v
    for key, w in windows.items():
        sink("Stats", w[2], stats_fields(key, w))


def window_push(sink: Sink) -> tuple[Push, Close]:
    """`window_loop` as a per-event function and a flush."""
    windows: dict[str, list[Any]] = {}
    get = windows.get

    def push(event_type: str, ts: int, f: Fields) -> None:
        if event_type != "Metric":
            return
        key = f["key"]
        v = f["value"]
        cls = v.__class__
        numeric = cls is float or cls is int
        w = get(key)
        if w is None or ts >= w[0] + 1000:
            if w is not None:
                sink("Stats", w[2], stats_fields(key, w))
            windows[key] = (
                [ts, 1, ts, 0.0 + v, 1, v, v] if numeric else [ts, 1, ts, 0.0, 0, _INF, -_INF]
            )
            return
        w[1] += 1
        w[2] = ts
        if numeric:
            w[3] += v
            w[4] += 1
            if v < w[5]:
                w[5] = v
            if v > w[6]:
                w[6] = v

    def close() -> None:
        for key, w in windows.items():
            sink("Stats", w[2], stats_fields(key, w))

    return push, close


# ---------------------------------------------------------------------------------------------
# three stages: A filters and emits, B computes a field, C filters again


def three_stage_loop(events: list[Event], sink: Sink) -> None:
    """Streams A (where, emit), B = A (emit with `amount * qty`), C = B (where, emit)."""
    for event_type, ts, f in events:
        if event_type != "Order":
            continue
        amount: Any = f.get("amount")
        cls = amount.__class__
        if not ((cls is float or cls is int) and amount > 100.0):
            continue
        oid = f["id"]
        qty = f["qty"]
        sink("A", ts, {"id": oid, "amount": amount, "qty": qty})
        cls = qty.__class__
        if cls is int or cls is float:
            total = amount * qty
            sink("B", ts, {"id": oid, "total": total})
            if total > 5000.0:
                sink("C", ts, {"id": oid, "total": total})
        else:  # no total: B omits it and C's condition is not true
            sink("B", ts, {"id": oid})


def three_stage_push(sink: Sink) -> tuple[Push, Close]:
    """`three_stage_loop` as a per-event function."""

    def push(event_type: str, ts: int, f: Fields) -> None:
        if event_type != "Order":
            return
        amount: Any = f.get("amount")
        cls = amount.__class__
        if not ((cls is float or cls is int) and amount > 100.0):
            return
        oid = f["id"]
        qty = f["qty"]
        sink("A", ts, {"id": oid, "amount": amount, "qty": qty})
        cls = qty.__class__
        if cls is int or cls is float:
            total = amount * qty
            sink("B", ts, {"id": oid, "total": total})
            if total > 5000.0:
                sink("C", ts, {"id": oid, "total": total})
        else:
            sink("B", ts, {"id": oid})

    return push, _no_close


LOOPS: dict[str, Loop] = {
    "filter": filter_loop,
    "window": window_loop,
    "3-stage": three_stage_loop,
}
PUSHES: dict[str, PushFactory] = {
    "filter": filter_push,
    "window": window_push,
    "3-stage": three_stage_push,
}

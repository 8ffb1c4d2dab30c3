"""Hand-written end-to-end scripts: read an input file, run the pipeline, write JSON lines.

Each function is what a careful person would write as a dedicated script for one pipeline
and one input format: a text-mode `for line in file` loop, the parse inlined (JSON Lines:
`loads(line)` of the JSON library under test; `.evt`: the runtime's own line parser, since
writing a second one is not the point), the pipeline of `bench_hand` inlined, and every
output line written with the stdlib `json.dumps` in the generated module's format
`{"stream": NAME, "timestamp": MS, "fields": {...}}`. The input is well-formed: no blank,
comment or `BATCH` lines, a `timestamp` on every JSON line.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeAlias

from bench_hand import stats_fields

from vpl_runtime.evt import parse_event_line

Loads: TypeAlias = Callable[[str], Any]
FileFn: TypeAlias = Callable[[str, str, Loads], None]

_INF = float("inf")


def _open_out(path: str) -> Any:
    return open(path, "w", encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# filter + emit


def filter_evt(path: str, out: str, loads: Loads) -> None:
    """`stream Hot` over a `.evt` file."""
    parse = parse_event_line
    dumps = json.dumps
    with open(path, encoding="utf-8") as lines, _open_out(out) as sink:
        write = sink.write
        for line in lines:
            event = parse(line, 0)
            if event.__class__ is not tuple:  # None or BATCH: not in this input
                continue
            event_type, ts, f = event
            if event_type != "Reading":
                continue
            t: Any = f.get("temperature")
            cls = t.__class__
            if (cls is float or cls is int) and t > 100.0:
                fields = {"sensor": f["sensor_id"], "temp": t}
                write(f'{{"stream": "Hot", "timestamp": {ts}, "fields": {dumps(fields)}}}\n')


def filter_jsonl(path: str, out: str, loads: Loads) -> None:
    """`stream Hot` over a JSON Lines file."""
    dumps = json.dumps
    with open(path, encoding="utf-8") as lines, _open_out(out) as sink:
        write = sink.write
        for line in lines:
            obj = loads(line)
            if obj["event_type"] != "Reading":
                continue
            f = obj["fields"]
            t: Any = f.get("temperature")
            cls = t.__class__
            if (cls is float or cls is int) and t > 100.0:
                ts = obj["timestamp"]
                fields = {"sensor": f["sensor_id"], "temp": t}
                write(f'{{"stream": "Hot", "timestamp": {ts}, "fields": {dumps(fields)}}}\n')


# ---------------------------------------------------------------------------------------------
# partitioned tumbling window + aggregate (state as in bench_hand.window_loop)


def window_evt(path: str, out: str, loads: Loads) -> None:
    """`stream Stats` over a `.evt` file."""
    parse = parse_event_line
    dumps = json.dumps
    windows: dict[str, list[Any]] = {}
    get = windows.get
    with open(path, encoding="utf-8") as lines, _open_out(out) as sink:
        write = sink.write
        for line in lines:
            event = parse(line, 0)
            if event.__class__ is not tuple:
                continue
            event_type, ts, f = event
            if event_type != "Metric":
                continue
            key = f["key"]
            v = f["value"]
            cls = v.__class__
            numeric = cls is float or cls is int
            w = get(key)
            if w is None or ts >= w[0] + 1000:
                if w is not None:
                    fields = stats_fields(key, w)
                    write(
                        f'{{"stream": "Stats", "timestamp": {w[2]}, "fields": {dumps(fields)}}}\n'
                    )
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
            fields = stats_fields(key, w)
            write(f'{{"stream": "Stats", "timestamp": {w[2]}, "fields": {dumps(fields)}}}\n')


def window_jsonl(path: str, out: str, loads: Loads) -> None:
    """`stream Stats` over a JSON Lines file."""
    dumps = json.dumps
    windows: dict[str, list[Any]] = {}
    get = windows.get
    with open(path, encoding="utf-8") as lines, _open_out(out) as sink:
        write = sink.write
        for line in lines:
            obj = loads(line)
            if obj["event_type"] != "Metric":
                continue
            ts = obj["timestamp"]
            f = obj["fields"]
            key = f["key"]
            v = f["value"]
            cls = v.__class__
            numeric = cls is float or cls is int
            w = get(key)
            if w is None or ts >= w[0] + 1000:
                if w is not None:
                    fields = stats_fields(key, w)
                    write(
                        f'{{"stream": "Stats", "timestamp": {w[2]}, "fields": {dumps(fields)}}}\n'
                    )
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
            fields = stats_fields(key, w)
            write(f'{{"stream": "Stats", "timestamp": {w[2]}, "fields": {dumps(fields)}}}\n')


# ---------------------------------------------------------------------------------------------
# three stages


def three_stage_evt(path: str, out: str, loads: Loads) -> None:
    """Streams A, B, C over a `.evt` file."""
    parse = parse_event_line
    dumps = json.dumps
    with open(path, encoding="utf-8") as lines, _open_out(out) as sink:
        write = sink.write
        for line in lines:
            event = parse(line, 0)
            if event.__class__ is not tuple:
                continue
            event_type, ts, f = event
            if event_type != "Order":
                continue
            amount: Any = f.get("amount")
            cls = amount.__class__
            if not ((cls is float or cls is int) and amount > 100.0):
                continue
            oid = f["id"]
            qty = f["qty"]
            fields = {"id": oid, "amount": amount, "qty": qty}
            write(f'{{"stream": "A", "timestamp": {ts}, "fields": {dumps(fields)}}}\n')
            cls = qty.__class__
            if cls is int or cls is float:
                total = amount * qty
                fields = {"id": oid, "total": total}
                write(f'{{"stream": "B", "timestamp": {ts}, "fields": {dumps(fields)}}}\n')
                if total > 5000.0:
                    fields = {"id": oid, "total": total}
                    write(f'{{"stream": "C", "timestamp": {ts}, "fields": {dumps(fields)}}}\n')
            else:
                write(f'{{"stream": "B", "timestamp": {ts}, "fields": {dumps({"id": oid})}}}\n')


def three_stage_jsonl(path: str, out: str, loads: Loads) -> None:
    """Streams A, B, C over a JSON Lines file."""
    dumps = json.dumps
    with open(path, encoding="utf-8") as lines, _open_out(out) as sink:
        write = sink.write
        for line in lines:
            obj = loads(line)
            if obj["event_type"] != "Order":
                continue
            f = obj["fields"]
            amount: Any = f.get("amount")
            cls = amount.__class__
            if not ((cls is float or cls is int) and amount > 100.0):
                continue
            ts = obj["timestamp"]
            oid = f["id"]
            qty = f["qty"]
            fields = {"id": oid, "amount": amount, "qty": qty}
            write(f'{{"stream": "A", "timestamp": {ts}, "fields": {dumps(fields)}}}\n')
            cls = qty.__class__
            if cls is int or cls is float:
                total = amount * qty
                fields = {"id": oid, "total": total}
                write(f'{{"stream": "B", "timestamp": {ts}, "fields": {dumps(fields)}}}\n')
                if total > 5000.0:
                    fields = {"id": oid, "total": total}
                    write(f'{{"stream": "C", "timestamp": {ts}, "fields": {dumps(fields)}}}\n')
            else:
                write(f'{{"stream": "B", "timestamp": {ts}, "fields": {dumps({"id": oid})}}}\n')


# (pipeline, format) -> script; `loads` is ignored by the .evt scripts.
SCRIPTS: dict[tuple[str, str], FileFn] = {
    ("filter", "evt"): filter_evt,
    ("filter", "jsonl"): filter_jsonl,
    ("window", "evt"): window_evt,
    ("window", "jsonl"): window_jsonl,
    ("3-stage", "evt"): three_stage_evt,
    ("3-stage", "jsonl"): three_stage_jsonl,
}

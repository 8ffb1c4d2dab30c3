"""The benchmarked pipelines: VPL source, deterministic input events, input files.

Every input mixes the pipeline's event type with 10% of `Status` events that no stream
consumes, so both sides pay for dispatching on the event type. Values are well-formed
(numbers where the program compares or aggregates numbers, every field present): the
hand-written code only has to agree with the generated module on such input.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeAlias

Fields: TypeAlias = dict[str, Any]
Event: TypeAlias = tuple[str, int, Fields]

FILTER_VPL = """\
stream Hot = Reading
    .where(temperature > 100.0)
    .emit(sensor: sensor_id, temp: temperature)
"""

WINDOW_VPL = """\
stream Stats = Metric
    .partition_by(key)
    .window(1s)
    .aggregate(n: count(), avg_v: avg(value), lo: min(value), hi: max(value))
    .emit(key: key, n: n, avg_v: avg_v, lo: lo, hi: hi)
"""

THREE_STAGE_VPL = """\
stream A = Order
    .where(amount > 100.0)
    .emit(id: id, amount: amount, qty: qty)
stream B = A
    .emit(id: id, total: amount * qty)
stream C = B
    .where(total > 5000.0)
    .emit(id: id, total: total)
"""

# Names of the partitions and sensors: a fixed pool, like the ids of real devices.
_KEYS = tuple(f"k{i}" for i in range(1000))
_SENSORS = tuple(f"s{i}" for i in range(1000))
_NOISE_EVERY = 10  # one event in ten is a `Status` event that no stream consumes


def _status(rng: random.Random) -> Fields:
    return {"code": rng.randrange(100)}


def filter_events(count: int, seed: int) -> list[Event]:
    """`Reading` events, 1 ms apart; about half of them are hotter than 100.0."""
    rng = random.Random(seed)
    events: list[Event] = []
    for i in range(count):
        if i % _NOISE_EVERY == _NOISE_EVERY - 1:
            events.append(("Status", i, _status(rng)))
            continue
        fields = {"sensor_id": rng.choice(_SENSORS), "temperature": round(rng.uniform(50, 150), 2)}
        events.append(("Reading", i, fields))
    return events


def window_events(count: int, seed: int) -> list[Event]:
    """`Metric` events over 1,000 keys, ten per ms: about 9 events per key and 1 s window."""
    rng = random.Random(seed)
    events: list[Event] = []
    for i in range(count):
        if i % _NOISE_EVERY == _NOISE_EVERY - 1:
            events.append(("Status", i // 10, _status(rng)))
            continue
        fields = {"key": rng.choice(_KEYS), "value": round(rng.uniform(0, 100), 3)}
        events.append(("Metric", i // 10, fields))
    return events


def window_close_events(count: int, seed: int) -> list[Event]:
    """`Metric` events over 1,000 keys, 10 ms apart: a key's next event comes about 10 s
    later, so almost every event closes its key's 1 s window (a result per event)."""
    rng = random.Random(seed)
    events: list[Event] = []
    for i in range(count):
        if i % _NOISE_EVERY == _NOISE_EVERY - 1:
            events.append(("Status", i * 10, _status(rng)))
            continue
        fields = {"key": rng.choice(_KEYS), "value": round(rng.uniform(0, 100), 3)}
        events.append(("Metric", i * 10, fields))
    return events


def three_stage_events(count: int, seed: int) -> list[Event]:
    """`Order` events; about half pass stream A and a fifth reach stream C's output."""
    rng = random.Random(seed)
    events: list[Event] = []
    for i in range(count):
        if i % _NOISE_EVERY == _NOISE_EVERY - 1:
            events.append(("Status", i, _status(rng)))
            continue
        fields = {"id": i, "amount": round(rng.uniform(0, 200), 2), "qty": rng.randrange(1, 100)}
        events.append(("Order", i, fields))
    return events


@dataclass(frozen=True, slots=True)
class Case:
    """One benchmarked pipeline."""

    name: str  # short name in the table and in file names
    vpl: str
    make_events: Callable[[int, int], list[Event]]


CASES = (
    Case("filter", FILTER_VPL, filter_events),
    Case("window", WINDOW_VPL, window_events),
    Case("3-stage", THREE_STAGE_VPL, three_stage_events),
)


# ---------------------------------------------------------------------------------------------
# Input files


def _evt_value(value: Any) -> str:
    # Only the value types the generators produce: ints, floats and plain strings.
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def evt_line(event: Event) -> str:
    """`@<ts>ms Type { name: value, ... }` (SEMANTICS 1.1)."""
    event_type, ts, fields = event
    body = ", ".join(f"{name}: {_evt_value(value)}" for name, value in fields.items())
    return f"@{ts}ms {event_type} {{ {body} }}\n"


def jsonl_line(event: Event) -> str:
    """`{"event_type": T, "timestamp": ms, "fields": {...}}` (SEMANTICS 1.2)."""
    event_type, ts, fields = event
    return json.dumps({"event_type": event_type, "timestamp": ts, "fields": fields}) + "\n"


def write_input(path: str, events: Iterable[Event], line: Callable[[Event], str]) -> None:
    """Write `events` to `path`, one `line(event)` each."""
    with open(path, "w", encoding="utf-8") as file:
        file.writelines(line(event) for event in events)

"""Aggregate-function helpers for generated `.aggregate(...)` code (SEMANTICS §7).

Two styles, for the code generator to choose per window kind:
- incremental state updated per event (`agg_number` to filter, `agg_welford` for stddev,
  `ema_alpha` for ema) and finished with `agg_stddev`;
- batch functions over the buffered values of one window (`agg_sum`, `agg_avg`, `agg_min`,
  `agg_max`, `agg_batch_stddev`, `agg_batch_ema`, `agg_percentile`, `agg_count_distinct`,
  `agg_collect`, `agg_value_or_null`). They take the argument's value per event in arrival
  order, MISSING where the event lacks it, and skip what the table says to skip.

Numeric aggregates skip everything but ints and floats (bools, null, strings, MISSING, NaN).
Results are floats, `None` (null) where the table says null; sums add left to right like the
reference (no compensated summation), so results match it bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from vpl_runtime.keys import key_of
from vpl_runtime.values import MISSING, Value


def agg_number(v: Value) -> bool:
    """True iff `v` counts for a numeric aggregate: an int or float, not bool, not NaN."""
    t = type(v)
    return t is int or (t is float and v == v)


def agg_numbers(values: Iterable[Value]) -> list[float]:
    """The values that count for a numeric aggregate, as floats, in order."""
    return [float(v) for v in values if agg_number(v)]


# ---------------------------------------------------------------------------------------
# Incremental state


def agg_welford(n: int, mean: float, m2: float, x: float) -> tuple[int, float, float]:
    """One step of Welford's algorithm: the (count, mean, M2) state after adding `x`."""
    n += 1
    delta = x - mean
    mean += delta / n
    m2 += delta * (x - mean)
    return n, mean, m2


def agg_stddev(n: int, m2: float) -> float | None:
    """Sample standard deviation from Welford state (count, M2); None (null) if n < 2."""
    if n < 2:
        return None
    if m2 < 0.0:  # rounding can leave M2 a hair below zero (NaN stays NaN)
        m2 = 0.0
    return math.sqrt(m2 / (n - 1))


def ema_alpha(n: int) -> float:
    """The smoothing factor k = 2 / (n + 1) of `ema(x, n)`."""
    return 2.0 / (n + 1)


# ---------------------------------------------------------------------------------------
# Batch (buffered window) functions


def agg_sum(values: Iterable[Value]) -> float:
    """`sum(x)`: float sum of the numeric values; 0.0 when there are none."""
    total = 0.0
    for v in values:
        if agg_number(v):
            total += v
    return total


def agg_avg(values: Iterable[Value]) -> float | None:
    """`avg(x)`: float mean of the numeric values; None (null) when there are none."""
    total = 0.0
    n = 0
    for v in values:
        if agg_number(v):
            total += v
            n += 1
    return total / n if n else None


def agg_min(values: Iterable[Value]) -> float | None:
    """`min(x)`: the least numeric value as a float; None (null) when there are none."""
    best: float | None = None
    for v in values:
        if agg_number(v) and (best is None or v < best):
            best = v
    return None if best is None else float(best)


def agg_max(values: Iterable[Value]) -> float | None:
    """`max(x)`: the greatest numeric value as a float; None (null) when there are none."""
    best: float | None = None
    for v in values:
        if agg_number(v) and (best is None or v > best):
            best = v
    return None if best is None else float(best)


def agg_batch_stddev(values: Iterable[Value]) -> float | None:
    """`stddev(x)` of a batch: sample (n − 1) standard deviation of the numeric values, by
    the reference's two-pass formula; None (null) with fewer than 2 values."""
    xs = agg_numbers(values)
    n = len(xs)
    if n < 2:
        return None
    mean = 0.0
    for x in xs:
        mean += x
    mean /= n
    squares = 0.0
    for x in xs:
        d = x - mean
        squares += d * d
    return math.sqrt(squares / (n - 1))


def agg_batch_ema(values: Iterable[Value], n: int) -> float | None:
    """`ema(x, n)` of a batch: seeded with the first numeric value, then
    `v·k + prev·(1−k)` with k = 2/(n+1); None (null) when there are no numeric values."""
    k = ema_alpha(n)
    ema: float | None = None
    for v in values:
        if agg_number(v):
            ema = float(v) if ema is None else v * k + ema * (1.0 - k)
    return ema


def agg_percentile(values: Sequence[int | float], p: float) -> float | None:
    """`percentile(x, p)` (D6) of numeric values (filter them first, e.g. `agg_numbers`).

    numpy's default "linear" method: the (n−1)·p/100-th value of the sorted values,
    interpolated between the two closest ranks. None (null) if there are no values or if
    p is not within [0, 100].
    """
    n = len(values)
    if n == 0 or not 0.0 <= p <= 100.0:
        return None
    ordered = sorted(values)
    index = (n - 1) * (p / 100)
    below = math.floor(index)
    above = min(below + 1, n - 1)
    a = float(ordered[below])
    b = float(ordered[above])
    t = index - below
    # numpy's `_lerp`: interpolate from the nearer end so that t = 1 gives b exactly.
    diff = b - a
    if t >= 0.5:
        return b - diff * (1.0 - t)
    return a + diff * t


def agg_count_distinct(values: Iterable[Value]) -> int:
    """`count_distinct(x)`: distinct values (key equality, §7) among the events having x;
    null counts as a value, MISSING does not."""
    return len({key_of(v) for v in values if v is not MISSING})


def agg_collect(values: Iterable[Value]) -> list[Value]:
    """`collect(x)` (D6): the values in arrival order, MISSING skipped, null kept."""
    return [v for v in values if v is not MISSING]


def agg_value_or_null(v: Value) -> Value:
    """`first(x)` / `last(x)`: the raw value of that event, null if it lacks x."""
    return None if v is MISSING else v

"""vpl_runtime.lateness.Watermark, the late-data rule of SEMANTICS §6.6, in isolation (the
generated modules' late-data tests drive it end to end)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vpl_runtime.lateness import Watermark

EVENTS = st.lists(st.tuples(st.sampled_from(["A", "B", "C"]), st.integers(0, 200)), max_size=40)


def _fresh() -> Watermark:
    return Watermark({"A": 20, "B": 0}, {"A": 15})


def test_the_watermark_is_the_minimum_over_input_types() -> None:
    late = _fresh()
    assert not late.is_late("B", 50)  # mark B = 50: the watermark is 50
    assert not late.is_late("A", 100)  # mark A = 80: the watermark stays 50
    assert late.is_late("B", 49)  # B allows no lateness
    assert not late.is_late("A", 40)  # within A's allowed 15 ms
    assert late.is_late("A", 34)
    assert not late.is_late("C", 50)  # not older than the watermark


@given(EVENTS, st.sampled_from(["A", "B", "C"]), st.integers(0, 200))
def test_would_be_late_answers_what_is_late_will_without_moving(
    events: list[tuple[str, int]], event_type: str, timestamp: int
) -> None:
    late, twin = _fresh(), _fresh()
    for t, ts in events:
        late.is_late(t, ts)
        twin.is_late(t, ts)
    asked = late.would_be_late(event_type, timestamp)
    assert late.state() == twin.state()
    assert asked == late.is_late(event_type, timestamp)


@given(EVENTS, EVENTS)
def test_a_restored_watermark_goes_on_like_the_original(
    before: list[tuple[str, int]], after: list[tuple[str, int]]
) -> None:
    original = _fresh()
    for t, ts in before:
        original.is_late(t, ts)
    restored = _fresh()
    restored.restore(original.state())
    assert [original.is_late(t, ts) for t, ts in after] == [
        restored.is_late(t, ts) for t, ts in after
    ]


@pytest.mark.parametrize(
    "saved",
    [
        [],
        {"highest": [], "marks": {}, "watermark": 0},
        {"highest": {}, "marks": {}, "watermark": "0"},
        {"highest": {}, "marks": {}, "watermark": True},
        {"highest": {}, "marks": {}},
    ],
)
def test_state_of_another_shape_is_a_corrupt_snapshot(saved: object) -> None:
    with pytest.raises(ValueError, match="corrupt snapshot"):
        _fresh().restore(saved)

"""The plan validator: every plan the planner makes passes it, and each invariant it states
catches the plan that breaks it (a plan edited here the way a planner bug would)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from vplc.pipeline import analyse
from vplc.plan.planner import Plan
from vplc.plan.threads import ContextPlan
from vplc.plan.validate import PlanInvariantError, check_plan, plan_violations

ROOT = Path(__file__).resolve().parent.parent
GOLDEN_PROGRAMS = sorted(
    p for p in (ROOT / "golden").glob("*/program.vpl") if not p.parent.name.startswith("err_")
)

POOLS_AND_CONTEXTS = """
event Reading:
    sensor: str
    value: float

context edge (cores: [0])

stream Scaled = Reading
    .partition_by(sensor)
    .concurrent(workers: 2, ordered: true)
    .window(3)
    .aggregate(top: max(value))
    .emit(sensor: sensor, top: top)

stream Alarm = Scaled
    .context(edge)
    .where(top > 10.0)
    .emit(sensor: sensor)
"""


def planned(source: str) -> Plan:
    return analyse(source, "program.vpl").plan


@pytest.mark.parametrize("program", GOLDEN_PROGRAMS, ids=lambda p: p.parent.name)
def test_every_golden_plan_keeps_the_invariants(program: Path) -> None:
    assert list(plan_violations(planned(program.read_text()))) == []


def _thread(plan: Plan, name: str) -> ContextPlan:
    return next(ctx for ctx in plan.contexts if ctx.name == name)


def _replace_thread(plan: Plan, name: str, **changes: object) -> Plan:
    contexts = tuple(
        dataclasses.replace(ctx, **changes) if ctx.name == name else ctx  # type: ignore[arg-type]
        for ctx in plan.contexts
    )
    return dataclasses.replace(plan, contexts=contexts)


def test_the_example_plan_has_workers_a_collector_and_a_context() -> None:
    plan = planned(POOLS_AND_CONTEXTS)
    names = [ctx.name for ctx in plan.contexts]
    assert names == [
        "edge",
        "(default)",
        "Scaled (worker 0)",
        "Scaled (worker 1)",
        "(default) (collector 1)",
    ]
    assert list(plan_violations(plan)) == []


def test_a_stream_placed_in_two_threads_is_caught() -> None:
    plan = planned(POOLS_AND_CONTEXTS)
    broken = _replace_thread(plan, "edge", streams=("Alarm", "Scaled"))
    assert any("'Scaled' runs in 2 threads" in v for v in plan_violations(broken))


def test_a_stream_placed_nowhere_is_caught() -> None:
    plan = planned(POOLS_AND_CONTEXTS)
    broken = _replace_thread(plan, "edge", streams=())
    assert any("'Alarm' runs in 0 threads" in v for v in plan_violations(broken))


def test_a_channel_with_a_missing_end_is_caught() -> None:
    plan = planned(POOLS_AND_CONTEXTS)
    broken = _replace_thread(plan, "edge", upstream=("nowhere", *_thread(plan, "edge").upstream))
    assert any("fed by 'nowhere', which is not a thread" in v for v in plan_violations(broken))


def test_a_route_across_threads_without_a_channel_is_caught() -> None:
    plan = planned(POOLS_AND_CONTEXTS)
    worker = "Scaled (worker 0)"
    upstream = tuple(u for u in _thread(plan, "edge").upstream if u != worker)
    broken = _replace_thread(plan, "edge", upstream=upstream)
    assert f"'{worker}' sends to 'edge' but 'edge' does not list it upstream" in list(
        plan_violations(broken)
    )


def test_a_channel_that_carries_nothing_is_caught() -> None:
    plan = planned(POOLS_AND_CONTEXTS)
    broken = _replace_thread(plan, "Scaled (worker 1)", upstream=("(default)", "edge"))
    assert "channel 'edge' -> 'Scaled (worker 1)' carries nothing" in list(plan_violations(broken))


def test_a_cycle_of_bounded_channels_is_caught() -> None:
    plan = planned(POOLS_AND_CONTEXTS)
    broken = _replace_thread(plan, "(default)", upstream=("edge",))
    found = [v for v in plan_violations(broken) if "form a cycle" in v]
    assert found, list(plan_violations(broken))
    assert "edge" in found[0] and "(default)" in found[0]


def test_a_pool_with_a_worker_missing_is_caught() -> None:
    plan = planned(POOLS_AND_CONTEXTS)
    pool = dataclasses.replace(plan.pools[0], workers=plan.pools[0].workers[:1])
    broken = dataclasses.replace(plan, pools=(pool,))
    assert any("has 1 of 2 workers" in v for v in plan_violations(broken))


def test_an_ordered_pool_without_its_collector_is_caught() -> None:
    plan = planned(POOLS_AND_CONTEXTS)
    pool = dataclasses.replace(plan.pools[0], collector=None)
    broken = dataclasses.replace(plan, pools=(pool,))
    assert any(
        "an ordered collector exactly when lines follow it" in v for v in plan_violations(broken)
    )


def test_a_flush_order_missing_a_stream_is_caught() -> None:
    plan = planned(POOLS_AND_CONTEXTS)
    broken = dataclasses.replace(plan, flush_order=plan.flush_order[:1])
    assert any("does not name every stream once" in v for v in plan_violations(broken))


def test_check_plan_raises_with_every_violation() -> None:
    plan = planned(POOLS_AND_CONTEXTS)
    broken = dataclasses.replace(
        _replace_thread(plan, "edge", streams=()), flush_order=plan.flush_order[:1]
    )
    with pytest.raises(PlanInvariantError) as raised:
        check_plan(broken)
    assert len(raised.value.violations) >= 2
    assert str(raised.value).startswith("plan invariants violated:")


def test_a_broken_plan_is_an_internal_error_on_the_command_line(tmp_path: Path) -> None:
    """The CLI names a planner bug as an internal compiler error (exit 70), not a program
    error; the planner is broken here by a wrapper that drops a thread's streams."""
    program = tmp_path / "program.vpl"
    program.write_text(POOLS_AND_CONTEXTS)
    script = (
        "import dataclasses, sys\n"
        "import vplc.pipeline as p\n"
        "real = p.plan\n"
        "def broken(checked, one_thread=False):\n"
        "    plan = real(checked, one_thread)\n"
        "    ctxs = tuple(dataclasses.replace(c, streams=()) if c.name == 'edge' else c\n"
        "                 for c in plan.contexts)\n"
        "    return dataclasses.replace(plan, contexts=ctxs)\n"
        "p.plan = broken\n"
        "from vplc.cli import main\n"
        f"sys.exit(main(['compile', {str(program)!r}]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 70, done.stderr
    assert "internal compiler error" in done.stderr
    assert "'Alarm' runs in 0 threads" in done.stderr


def test_state_declared_twice_is_caught() -> None:
    plan = planned(POOLS_AND_CONTEXTS)
    twice = dataclasses.replace(plan, streams=(*plan.streams, plan.streams[-1]))
    found = list(plan_violations(twice))
    assert "a stream is planned twice" in found
    plain = planned(
        "stream S = T .distinct(k) .emit(k: k)\nstream U = T .distinct(k) .emit(k: k)\n"
    )
    renamed = dataclasses.replace(
        plain.streams[1], stream=dataclasses.replace(plain.streams[1].stream, name="S")
    )
    clash = dataclasses.replace(plain, streams=(plain.streams[0], renamed))
    assert "state 'seen_S_1' is declared twice (stream S)" in list(plan_violations(clash))

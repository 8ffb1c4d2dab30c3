"""`vplc plan` shows the fusion decisions (D37) that the generated `push` follows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vplc.codegen.generate import generate_module
from vplc.pipeline import analyse
from vplc.plan.dump import dump_plan

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = sorted(
    p for p in (ROOT / "golden").glob("*/program.vpl") if not p.parent.name.startswith("err_")
)
THREE_STAGE = """
event Order:
    id: int
    amount: float
    qty: int

stream A = Order .where(amount > 100.0) .emit(id: id, amount: amount, qty: qty)
stream B = A .emit(id: id, total: amount * qty)
stream C = B .where(total > 5000.0) .emit(id: id, total: total)
"""


def _planned_in_place(plan_text: str) -> set[str]:
    """The streams of the plan's "run in place by push:" section (indented lines)."""
    found: set[str] = set()
    section = plan_text.split("run in place by push:")[1].splitlines()[1:]
    for line in section:
        if not line.startswith("  "):
            break
        found.update(line.split(": ", 1)[1].split(" -> "))
    return found


@pytest.mark.parametrize(
    "source", [THREE_STAGE, *PROGRAMS], ids=lambda s: getattr(s, "parent", Path("three_stage")).name
)
def test_the_plan_names_exactly_the_streams_push_runs_in_place(source: str | Path) -> None:
    text = source.read_text() if isinstance(source, Path) else source
    plan = analyse(text, "program.vpl").plan
    module = generate_module(plan)
    in_module = set(re.findall(r"# \S+ stream (\w+), run in place by push", module))
    if plan.contexts:
        assert "run in place by push" not in dump_plan(plan)
        assert in_module == set()
    else:
        assert _planned_in_place(dump_plan(plan)) == in_module


def test_a_three_stage_chain_is_one_chain_in_the_plan() -> None:
    text = dump_plan(analyse(THREE_STAGE, "program.vpl").plan)
    assert "run in place by push:\n  Order: A -> B -> C\n" in text

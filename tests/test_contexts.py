"""Contexts are transparent (SEMANTICS §8, D11): every stream's lines, in content and
order, equal those of the same program run without contexts."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jsoncompare import lines_by_stream
from pipeline_helpers import Event

from vpl_runtime.driver import RunOptions
from vplc.check import model
from vplc.codegen.generate import generate_module
from vplc.pipeline import analyse
from vplc.plan.planner import plan

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("VPL_CONFORMANCE_DIR", ROOT.parent / "shared" / "conformance"))


def without_contexts(program: model.CheckedProgram) -> model.CheckedProgram:
    """The same program with every stream in the default context."""
    streams = tuple(dataclasses.replace(s, context=None) for s in program.streams)
    return dataclasses.replace(program, streams=streams, contexts=())


def modules(source: str) -> tuple[str, str, bool]:
    """(module with contexts, module without, whether the first uses threads)."""
    compiled = analyse(source, "program.vpl")
    threaded = bool(compiled.plan.contexts)
    plain = generate_module(plan(without_contexts(compiled.plan.program)))
    return generate_module(compiled.plan), plain, threaded


def run_module(path: Path, events: Path, *options: str) -> str:
    run = subprocess.run(
        [sys.executable, str(path), *options, str(events)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode in (0, 3), run.stderr
    return run.stdout


def _programs() -> list[object]:
    """Every golden and conformance program that assigns a stream to a context."""
    cases = sorted((ROOT / "golden").glob("*/events.evt"))
    if CORPUS.is_dir():
        cases += sorted(CORPUS.glob("*/events.evt"))
    return [
        pytest.param(p.parent, id=p.parent.name)
        for p in cases
        if ".context(" in (p.parent / "program.vpl").read_text()
    ]


@pytest.mark.parametrize("case", _programs())
@pytest.mark.parametrize("backend", ["thread", "process"])
def test_contexts_do_not_change_any_stream(case: Path, backend: str, tmp_path: Path) -> None:
    source = (case / "program.vpl").read_text()
    # Programs where two chains of streams meet run their contexts on one thread (W034);
    # they are compared all the same.
    with_contexts, plain, _ = modules(source)
    (tmp_path / "ctx.py").write_text(with_contexts)
    (tmp_path / "plain.py").write_text(plain)
    events = case / "events.evt"
    expected = lines_by_stream(run_module(tmp_path / "plain.py", events))
    got = lines_by_stream(
        run_module(tmp_path / "ctx.py", events, "--backend", backend, "--batch-size", "3")
    )
    assert got == expected


# -- generated programs ------------------------------------------------------------------

_OPS = [
    ".where(v > {n})",
    ".where(v % 3 != {n} % 3)",
    ".emit(v: v + {n}, k: k)",
    ".window({w}) .aggregate(v: sum(v), k: last(k), n: count()) .emit(v: v, k: k, n: n)",
    ".partition_by(k) .window({w}) .aggregate(v: count(), k: last(k)) .emit(v: v, k: k)",
    ".window(session: {w}s) .aggregate(v: max(v), k: first(k)) .emit(v: v, k: k)",
    ".partition_by(k) .window({w}s) .aggregate(v: avg(v), k: last(k)) .emit(v: v, k: k)",
]


@st.composite
def programs(draw: st.DrawFn) -> tuple[str, list[Event]]:
    n_contexts = draw(st.integers(1, 3))
    lines = [f"context c{i}" for i in range(n_contexts)]
    names: list[str] = []
    for i in range(draw(st.integers(1, 5))):
        # Tree-shaped or not: a stream reads the input or one earlier stream.
        source = draw(st.sampled_from(["T", *names]))
        op = draw(st.sampled_from(_OPS)).format(
            n=draw(st.integers(0, 9)), w=draw(st.integers(1, 4))
        )
        place = draw(st.integers(-1, n_contexts - 1))
        context = f".context(c{place}) " if place >= 0 else ""
        name = f"S{i}"
        lines.append(f"stream {name} = {source} {context}{op}")
        names.append(name)
    times = draw(st.lists(st.integers(0, 20), min_size=1, max_size=40))
    events = [
        (
            "T",
            sum(times[: i + 1]) * 1000,
            {"v": draw(st.integers(-5, 20)), "k": draw(st.sampled_from("abc"))},
        )
        for i in range(len(times))
    ]
    return "\n".join(lines), events


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_generated_programs_with_contexts_match_single_threaded(
    program: tuple[str, list[Event]],
) -> None:
    source, events = program
    # Contexts feeding each other in a cycle are programs like any other (§8): no assume.
    with_contexts, plain, _ = modules(source)
    outputs = []
    for module in (with_contexts, plain):
        namespace: dict[str, object] = {"__name__": "generated"}
        exec(compile(module, "generated.py", "exec"), namespace)
        lines: list[tuple[str, int, dict[str, object]]] = []
        pipeline = namespace["Pipeline"](lambda s, t, f, out=lines: out.append((s, t, f)))  # type: ignore[operator]
        for event_type, ts, fields in events:
            pipeline.push(event_type, ts, fields)
        pipeline.close()
        by_stream: dict[str, list[object]] = {}
        for s, t, f in lines:
            by_stream.setdefault(s, []).append((t, f))
        outputs.append(by_stream)
    assert outputs[0] == outputs[1]


# -- contexts that feed each other in a cycle (§8, W035) -------------------------------------

CYCLE = """\
context c1
stream A = Order .context(c1) .emit(x: x)
stream B = A .emit(y: x * 2)
stream C = B .context(c1) .emit(z: y + 1)
"""


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_the_issue_cycle_runs_like_the_program_without_contexts(
    backend: str, tmp_path: Path
) -> None:
    (tmp_path / "cycle.vpl").write_text(CYCLE)
    plain = CYCLE.replace("context c1\n", "").replace(" .context(c1)", "")
    (tmp_path / "plain.vpl").write_text(plain)
    events = tmp_path / "events.evt"
    events.write_text("".join(f"@{i} Order {{ x: {i} }}\n" for i in range(1, 30)))
    vplc = [sys.executable, "-m", "vplc.cli"]
    run = subprocess.run(
        [*vplc, "run", str(tmp_path / "cycle.vpl"), str(events), "--backend", backend,
         "--batch-size", "2", "--queue-capacity", "1"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "E016" not in run.stderr and "''" not in run.stderr
    assert "W035 context 'c1' and the default context send events to each other" in run.stderr
    reference = subprocess.run(
        [*vplc, "run", str(tmp_path / "plain.vpl"), str(events)],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert lines_by_stream(run.stdout) == lines_by_stream(reference.stdout)
    assert len(lines_by_stream(run.stdout)["C"]) == 29


def test_only_the_contexts_of_a_cycle_share_a_thread() -> None:
    compiled = analyse(CYCLE + "context c2\nstream D = Order .context(c2) .emit(w: x)\n", "p.vpl")
    threads = {ctx.name: ctx for ctx in compiled.plan.contexts}
    assert set(threads) == {"c1", "c2"}
    assert threads["c1"].streams == ("A", "B", "C")
    assert threads["c1"].shares == ("(default)",)
    assert threads["c2"].streams == ("D",) and threads["c2"].shares == ()
    assert [d.code for d in compiled.plan.warnings] == ["W035"]


@st.composite
def cyclic_programs(draw: st.DrawFn) -> tuple[str, list[Event]]:
    """A chain T -> S0 -> S1 -> ... whose contexts return to an earlier one (a context
    cycle through an acyclic stream graph), with side branches in other contexts."""
    n_contexts = draw(st.integers(1, 3))
    lines = [f"context c{i}" for i in range(n_contexts)]
    places = draw(st.lists(st.integers(-1, n_contexts - 1), min_size=3, max_size=6))
    places[2] = places[0]
    assume(places[1] != places[0])
    names: list[str] = []
    for i, place in enumerate(places):
        source = names[-1] if names and draw(st.integers(0, 3)) else "T"
        source = names[-1] if i in (1, 2) else source
        op = draw(st.sampled_from(_OPS)).format(
            n=draw(st.integers(0, 9)), w=draw(st.integers(1, 4))
        )
        context = f".context(c{place}) " if place >= 0 else ""
        lines.append(f"stream S{i} = {source} {context}{op}")
        names.append(f"S{i}")
    times = draw(st.lists(st.integers(0, 5), min_size=1, max_size=30))
    events = [
        ("T", sum(times[: i + 1]) * 1000, {"v": draw(st.integers(-5, 20)), "k": "ab"[i % 2]})
        for i in range(len(times))
    ]
    return "\n".join(lines), events


def _run_in_process(module: str, events: list[Event], backend: str) -> dict[str, list[object]]:
    namespace: dict[str, object] = {"__name__": "generated"}
    exec(compile(module, "generated.py", "exec"), namespace)
    lines: dict[str, list[object]] = {}

    def make_emitter(stream: str) -> object:
        return lambda s, t, f: lines.setdefault(s, []).append((t, f))

    options = RunOptions(backend=backend, batch_size=2, queue_capacity=1)
    push, close, *_ = namespace["_build"](make_emitter, None, options)  # type: ignore[operator]
    for event_type, ts, fields in events:
        push(event_type, ts, fields)
    close()
    return lines


@pytest.mark.parametrize("backend", ["thread", "process"])
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=cyclic_programs())
def test_cyclic_contexts_match_the_program_without_contexts(
    backend: str, program: tuple[str, list[Event]]
) -> None:
    source, events = program
    compiled = analyse(source, "program.vpl")
    assert "W035" in [d.code for d in compiled.plan.warnings] or not compiled.plan.contexts
    with_contexts, plain, _ = modules(source)
    assert _run_in_process(with_contexts, events, backend) == _run_in_process(
        plain, events, "thread"
    )

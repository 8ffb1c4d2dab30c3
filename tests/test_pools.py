"""Worker pools, `.concurrent(...)` (SEMANTICS §10, D22), end to end through generated modules.

The reference for a program is the same program run on one thread (`plan(..., one_thread=True)`),
where a pool runs in place: consistent_hash and round_robin as if absent, broadcast as N copies
taking turns. Pools on threads or processes must give, per stream: exactly the reference's
lines for ordered pools and for every stream downstream of a pool (the collector merges), and
for an unordered pool's own lines the same multiset, in order within each key for
consistent_hash.
"""

from __future__ import annotations

import collections
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pipeline_helpers import Event

from vpl_runtime.driver import RunOptions
from vpl_runtime.keys import jump_hash, stable_hash
from vpl_runtime.values import MISSING
from vplc.codegen.generate import generate_module
from vplc.pipeline import analyse
from vplc.plan.dump import dump_plan
from vplc.plan.planner import plan
from vplc.plan.topology import to_dot, to_mermaid, topology

Line = tuple[str, int, dict[str, Any]]

# -- the partitioner ----------------------------------------------------------------------


def test_stable_hash_follows_key_equality() -> None:
    assert stable_hash(1) == stable_hash(1.0)
    assert stable_hash(float("nan")) == stable_hash(float("nan"))
    assert stable_hash({"a": [1, 2.0], "b": True}) == stable_hash({"b": True, "a": [1.0, 2]})
    assert stable_hash("1") != stable_hash(1)
    assert stable_hash(True) != stable_hash(1)
    assert stable_hash(MISSING) == stable_hash(MISSING)


def test_stable_hash_is_the_same_in_another_process() -> None:
    # Python's own hash() of a str changes with PYTHONHASHSEED; this one must not.
    code = "from vpl_runtime.keys import stable_hash; print(stable_hash('sensor-7'))"
    runs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env={"PYTHONHASHSEED": seed},
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert runs == {f"{stable_hash('sensor-7')}\n"}


def test_jump_hash_spreads_keys_and_moves_few_when_workers_grow() -> None:
    keys = [stable_hash(f"k{i}") for i in range(10_000)]
    for n in (2, 3, 4):
        counts = collections.Counter(jump_hash(k, n) for k in keys)
        assert set(counts) == set(range(n))
        assert min(counts.values()) > 10_000 / n * 0.9
        moved = [k for k in keys if jump_hash(k, n) != jump_hash(k, n + 1)]
        # Only about 1/(n+1) of the keys move, and only to the new worker.
        assert len(moved) < 10_000 / (n + 1) * 1.15
        assert all(jump_hash(k, n + 1) == n for k in moved)


# -- the plan -------------------------------------------------------------------------------

POOLED = """
stream Hot = T .partition_by(k) .concurrent(workers: 3, ordered: true)
    .window(2) .aggregate(n: count(), k: last(k)) .emit(n: n, k: k)
stream Loud = Hot .where(n > 1) .emit(k: k)
"""


def test_a_pool_has_a_scheduler_workers_and_a_collector() -> None:
    compiled = analyse(POOLED, "p.vpl")
    threads = {c.name: c for c in compiled.plan.contexts}
    assert list(threads) == [
        "(default)",
        "Hot (worker 0)",
        "Hot (worker 1)",
        "Hot (worker 2)",
        "(default) (collector 1)",
    ]
    assert threads["Hot (worker 1)"].upstream == ("(default)",)
    assert threads["(default) (collector 1)"].streams == ("Loud",)
    assert threads["(default) (collector 1)"].upstream == tuple(
        f"Hot (worker {i})" for i in range(3)
    )
    (pool,) = compiled.plan.pools
    assert pool.collector == "(default) (collector 1)"


def test_a_pool_of_one_worker_changes_nothing() -> None:
    one = analyse(POOLED.replace("workers: 3", "workers: 1"), "p.vpl")
    none = analyse(POOLED.replace(".concurrent(workers: 3, ordered: true)", ""), "p.vpl")
    assert one.plan.contexts == () and one.plan.pools == ()
    # Only the program fingerprint differs: it hashes the plan's text, which shows the op.
    assert _unsigned(generate_module(one.plan)) == _unsigned(generate_module(none.plan))


def _unsigned(module: str) -> str:
    return re.sub(r'PROGRAM_FINGERPRINT = "[0-9a-f]+"', "", module)


# -- outputs through generated modules ------------------------------------------------------


def run_pipeline(module: str, events: list[Event], backend: str = "thread") -> list[Line]:
    namespace: dict[str, Any] = {"__name__": "generated"}
    exec(compile(module, "generated.py", "exec"), namespace)
    lines: list[Line] = []

    def make_emitter(stream: str) -> Any:
        return lambda s, t, f: lines.append((s, t, f))

    options = RunOptions(backend=backend, batch_size=3, queue_capacity=7)
    push, close, *_ = namespace["_build"](make_emitter, None, options)
    for event_type, ts, fields in events:
        push(event_type, ts, fields)
    close()
    return lines


def by_stream(lines: list[Line]) -> dict[str, list[tuple[int, dict[str, Any]]]]:
    out: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for s, t, f in lines:
        out.setdefault(s, []).append((t, f))
    return out


def check_against_reference(source: str, events: list[Event], backend: str) -> None:
    # Contexts feeding each other in a cycle share a thread (W035): a case like any other.
    compiled = analyse(source, "p.vpl")
    reference = by_stream(run_pipeline(generate_module(plan(compiled.plan.program, True)), events))
    got = by_stream(run_pipeline(generate_module(compiled.plan), events, backend))
    assert set(got) == set(reference)
    pools = {p.stream: p.pool for p in compiled.plan.pools}
    for stream, lines in reference.items():
        pool = pools.get(stream)
        if pool is None or pool.ordered:
            assert got[stream] == lines, stream
            continue
        assert sorted(map(repr, got[stream])) == sorted(map(repr, lines)), stream
        if pool.strategy.value == "consistent_hash":
            for key in {f.get("k") for _, f in lines}:
                mine = [x for x in got[stream] if x[1].get("k") == key]
                assert mine == [x for x in lines if x[1].get("k") == key], (stream, key)


def test_a_broadcast_pool_runs_its_ops_once_per_worker() -> None:
    source = "stream B = T .concurrent(workers: 3, strategy: broadcast, ordered: true) .emit(v: v)"
    events: list[Event] = [("T", i, {"v": i}) for i in range(5)]
    compiled = analyse(source, "p.vpl")
    for module in (
        generate_module(compiled.plan),
        generate_module(plan(compiled.plan.program, True)),
    ):
        lines = run_pipeline(module, events)
        assert [f["v"] for _, _, f in lines] == [v for v in range(5) for _ in range(3)]


_POOL_OPS = [
    # consistent_hash on the partition key, windows after the pool
    ".partition_by(k) .concurrent(workers: {n}, ordered: {o}) .window({w})"
    " .aggregate(v: sum(v), k: last(k), c: count()) .emit(v: v, k: k, c: c)",
    ".where(v > {x}) .partition_by(k) .concurrent(workers: {n}, ordered: {o})"
    " .window({w}s) .aggregate(v: avg(v), k: last(k)) .emit(v: v, k: k)",
    ".concurrent(workers: {n}, key: k, ordered: {o}) .partition_by(k)"
    " .window(session: {w}s) .aggregate(v: count(), k: last(k)) .emit(v: v, k: k)",
    ".concurrent(workers: {n}, key: k, ordered: {o}) .where(v % 3 != {x}) .emit(v: v * 2, k: k)",
    # round_robin: stateless ops only
    ".concurrent(workers: {n}, strategy: round_robin, ordered: {o}) .where(v > {x})"
    " .emit(v: v + 1, k: k)",
    # broadcast: every worker has the full state
    ".concurrent(workers: {n}, strategy: broadcast, ordered: {o}) .window({w})"
    " .aggregate(v: max(v), k: last(k)) .emit(v: v, k: k)",
    ".partition_by(k) .concurrent(workers: {n}, strategy: broadcast, ordered: {o})"
    " .window({w}s) .aggregate(v: sum(v), k: last(k)) .emit(v: v, k: k)",
]
_PLAIN_OPS = [
    ".where(v > {x}) .emit(v: v, k: k)",
    ".partition_by(k) .window({w}) .aggregate(v: count(), k: last(k)) .emit(v: v, k: k)",
    ".window({w}s) .aggregate(v: sum(v), k: last(k)) .emit(v: v, k: k)",
]


@st.composite
def pool_programs(draw: st.DrawFn) -> tuple[str, list[Event]]:
    contexts = draw(st.integers(0, 2))
    lines = [f"context c{i}" for i in range(contexts)]
    names: list[str] = []
    for i in range(draw(st.integers(1, 4))):
        source = draw(st.sampled_from(["T", *names[-1:]]))  # a chain: order stays exact
        template = draw(st.sampled_from(_POOL_OPS if i == 0 else _POOL_OPS + _PLAIN_OPS))
        op = template.format(
            n=draw(st.integers(1, 3)),
            o=draw(st.sampled_from(["true", "false"])),
            w=draw(st.integers(1, 4)),
            x=draw(st.integers(0, 5)),
        )
        place = draw(st.integers(-1, contexts - 1))
        context = f".context(c{place}) " if place >= 0 else ""
        lines.append(f"stream S{i} = {source} {context}{op}")
        names.append(f"S{i}")
    # Skewed keys: one hot key takes most events.
    keys = st.sampled_from("aaaaaaabcdefg")
    gaps = draw(st.lists(st.integers(0, 3), min_size=1, max_size=60))
    events: list[Event] = [
        ("T", sum(gaps[: i + 1]) * 1000, {"v": draw(st.integers(-3, 12)), "k": draw(keys)})
        for i in range(len(gaps))
    ]
    return "\n".join(lines), events


# One event fans out to several workers: the end-of-input flush of S0 yields the results of
# partitions a and d in one cascade, which S1's pool sends to two workers; the collector must
# deliver them in dispatch order (refined cascade ids), not worker order.
FAN_OUT = (
    "stream S0 = T .partition_by(k) .window(session: 1s) .aggregate(v: count(), k: last(k))"
    " .emit(v: v, k: k)\n"
    "stream S1 = S0 .partition_by(k) .concurrent(workers: 2, ordered: true) .window(1)"
    " .aggregate(v: sum(v), k: last(k), c: count()) .emit(v: v, k: k, c: c)",
    [("T", 0, {"v": 0, "k": k}) for k in "adbc"],
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(FAN_OUT)
@given(pool_programs())
def test_generated_pool_programs_on_threads(program: tuple[str, list[Event]]) -> None:
    check_against_reference(*program, backend="thread")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(FAN_OUT)
@given(pool_programs())
def test_generated_pool_programs_on_processes(program: tuple[str, list[Event]]) -> None:
    check_against_reference(*program, backend="process")


SCHEDULER_LINES = (
    "stream S = T .emit(a: v) .concurrent(workers: 2, ordered: {ordered}, {strategy}) .emit(b: a)"
)


@pytest.mark.parametrize("backend", ["thread", "process"])
@pytest.mark.parametrize("strategy", ["strategy: round_robin", "key: v", "strategy: broadcast"])
@pytest.mark.parametrize("ordered", ["true", "false"])
def test_lines_before_and_after_a_pool_keep_the_order_without_it(
    ordered: str, strategy: str, backend: str
) -> None:
    # §10: the stream's lines are those of the run without the pool (with broadcast, each
    # line after the pool once per worker), `a` before `b` for every event. vplc runs such a
    # program on one thread, pools in place (W034), rather than merge the scheduler's lines
    # with the workers' over a diamond of bounded channels.
    source = SCHEDULER_LINES.format(ordered=ordered, strategy=strategy)
    pool = f" .concurrent(workers: 2, ordered: {ordered}, {strategy})"
    expected = run_pipeline(generate_module(analyse(source.replace(pool, ""), "p.vpl").plan), [
        ("T", i, {"v": i}) for i in range(20)
    ])
    if "broadcast" in strategy:
        expected = [line for line in expected for _ in range(1 if "a" in line[2] else 2)]
    analysed = analyse(source, "p.vpl")
    assert [w.code for w in analysed.plan.warnings] == ["W034"]
    assert "writes lines both before and after its pool" in analysed.plan.warnings[0].message
    events: list[Event] = [("T", i, {"v": i}) for i in range(20)]
    assert run_pipeline(generate_module(analysed.plan), events, backend) == expected


# -- failure --------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_a_failing_scheduler_names_its_context_and_input_position(
    backend: str, tmp_path: Path
) -> None:
    # The scheduler runs in the default context: on the process backend, in the parent.
    compiled = analyse("stream S = T .concurrent(workers: 2, key: k) .emit(v: v, k: k)", "p.vpl")
    module = generate_module(compiled.plan).replace(
        '            pool_key_value = f.get("k", MISSING)',
        '            1 / (f["v"] - 3)\n            pool_key_value = f.get("k", MISSING)',
    )
    assert "1 / (f" in module
    path = tmp_path / "p.py"
    path.write_text(module)
    events = tmp_path / "e.evt"
    events.write_text("".join(f'T {{ v: {v}, k: "x" }}\n' for v in range(6)))
    run = subprocess.run(
        [sys.executable, str(path), "--backend", backend, str(events)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 4, run.stderr
    assert "context '(default)' failed in stream 'S' at input event 4" in run.stderr
    assert "ZeroDivisionError" in run.stderr


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_a_failing_worker_names_stream_worker_and_input_position(
    backend: str, tmp_path: Path
) -> None:
    # No valid VPL raises on valid input (errors are MISSING values): inject a fault into
    # the worker's code, on the event v == 3, the 4th input event.
    compiled = analyse("stream S = T .concurrent(workers: 2, key: k) .emit(v: v, k: k)", "p.vpl")
    module = generate_module(compiled.plan).replace(
        'emit_S("S", ts, f)', 'emit_S("S", ts, f)\n            1 / (f["v"] - 3)'
    )
    assert "1 / (f" in module
    path = tmp_path / "p.py"
    path.write_text(module)
    events = tmp_path / "e.evt"
    events.write_text("".join(f'T {{ v: {v}, k: "x" }}\n' for v in range(6)))
    run = subprocess.run(
        [sys.executable, str(path), "--backend", backend, str(events)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode not in (0, 3)
    worker = jump_hash(stable_hash("x"), 2)
    assert f"context 'S (worker {worker})' failed in stream 'S' at input event 4" in run.stderr
    assert "ZeroDivisionError" in run.stderr


def test_plan_and_graph_show_scheduler_workers_and_collector() -> None:
    compiled = analyse(POOLED, "p.vpl")
    text = dump_plan(compiled.plan)
    assert "pool Hot: 3 workers, consistent_hash key k, ordered; scheduler in (default)" in text
    assert "  Hot (worker 2): Hot, fed by (default)" in text
    top = topology(compiled.plan)
    dot, mermaid = to_dot(top), to_mermaid(top)
    for i in range(3):
        assert f'label="worker {i} of Hot"' in dot
        assert f'n_Hot -> w{i}_Hot [style=bold, label="consistent_hash"];' in dot
        assert f"w{i}_Hot ==>|queue| n_Loud" in mermaid
    assert 'n_Hot [label="Hot (scheduler)"]' in dot
    assert 'label="default context, collector 1"' in dot


def test_pools_of_a_one_thread_program_run_in_place() -> None:
    # T reaches M directly and through A: only one thread keeps that order (W034).
    source = (
        "stream A = T .emit(v: v + 100)\n"
        "stream M = merge(stream X = T .where(v > 0), stream Y = A .where(v > 101))"
        " .concurrent(workers: 2, strategy: broadcast, ordered: true) .emit(v: v)\n"
        "stream H = T .concurrent(workers: 3, key: v) .emit(w: v)\n"
    )
    compiled = analyse(source, "p.vpl")
    assert "W034" in {w.code for w in compiled.plan.warnings}
    assert compiled.plan.contexts == () and compiled.plan.pools == ()
    plain_source = source.replace(
        " .concurrent(workers: 2, strategy: broadcast, ordered: true)", ""
    ).replace(" .concurrent(workers: 3, key: v)", "")
    plain = analyse(plain_source, "p.vpl")
    events: list[Event] = [("T", i, {"v": v}) for i, v in enumerate([0, 1, 2, 3, -1, 5])]
    got = by_stream(run_pipeline(generate_module(compiled.plan), events))
    expected = by_stream(run_pipeline(generate_module(plain.plan), events))
    assert got["M"] == [line for line in expected["M"] for _ in range(2)]
    assert got["H"] == expected["H"]


# -- messages -------------------------------------------------------------------------------


def vplc(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vplc.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


@pytest.mark.parametrize(
    "source",
    [
        # Downstream streams get the pool's results in exact order (the collector merges).
        "stream S = T .concurrent(workers: 2) .where(v > 1)\nstream L = S .limit(3) .emit(v: v)",
        "stream S = T .partition_by(k) .concurrent(workers: 2) .where(v > 1)\n"
        "stream W = S .window(3) .aggregate(n: count(), f: first(v)) .emit(n: n, f: f)",
        # Each key's window sees the key's events in order.
        "stream S = T .partition_by(k) .concurrent(workers: 2) .window(3)"
        " .aggregate(n: count(), f: first(v))",
        # Each broadcast worker sees every event in order.
        "stream S = T .concurrent(workers: 2, strategy: broadcast) .window(2)"
        " .aggregate(l: last(v))",
    ],
)
def test_w103_is_silent_where_an_unordered_pool_keeps_every_order(
    source: str, tmp_path: Path
) -> None:
    (tmp_path / "p.vpl").write_text(source + "\n")
    run = vplc("check", "p.vpl", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "W103" not in run.stderr


@pytest.mark.parametrize(
    ("pool", "kept"),
    [("partition_by(k) .concurrent(workers: 2)", "key"), ("concurrent(workers: 3)", "worker")],
)
def test_w103_warns_where_an_unordered_pool_reorders_its_lines(
    pool: str, kept: str, tmp_path: Path
) -> None:
    source = f"stream S = T .{pool} .where(v > 1) .emit(v: v)\n"
    (tmp_path / "p.vpl").write_text(source)
    run = vplc("check", "p.vpl", cwd=tmp_path)
    column = source.index(".concurrent") + 2
    assert f"p.vpl:1:{column}: warning: W103" in run.stderr, run.stderr
    assert f"(kept within each {kept}); consider 'ordered: true'" in run.stderr
    for same in ("workers: 2, ordered: true", "workers: 1"):
        (tmp_path / "p.vpl").write_text(
            source.replace("workers: 2", same).replace("workers: 3", same)
        )
        assert "W103" not in vplc("check", "p.vpl", cwd=tmp_path).stderr


def test_plan_says_why_declared_contexts_and_pools_share_one_thread(tmp_path: Path) -> None:
    # T reaches M directly and through A: only one thread keeps that order (W034).
    (tmp_path / "p.vpl").write_text(
        "context c1\n"
        "stream A = T .context(c1) .emit(v: v + 100)\n"
        "stream M = merge(stream X = T .where(v > 0), stream Y = A .where(v > 101))"
        " .concurrent(workers: 2, strategy: broadcast, ordered: true) .emit(v: v)\n"
        "stream H = T .concurrent(workers: 3, key: v) .emit(w: v)\n"
    )
    run = vplc("plan", "p.vpl", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    why = (
        "context c1 and the pools of M, H run in one thread, pools in place: stream 'M' "
        "receives the events of 'T' through two chains of streams"
    )
    assert f"threads: one (W034: {why}" in run.stdout
    assert "no stream runs in a declared context" not in run.stdout
    assert f"warning: W034 {why}" in run.stderr
    # H's pool runs in place: its lines keep their order, so no W103.
    assert "W103" not in run.stderr

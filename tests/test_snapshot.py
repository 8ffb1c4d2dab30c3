"""Snapshots (SEMANTICS §15 "Library", D35): the bytes format, and the restore property —
a pipeline restored from a snapshot taken after k pushes, fed the rest, gives exactly the
output of the run that was never interrupted."""

from __future__ import annotations

import functools
import hashlib
import json
import pickle
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pipeline_helpers import Event
from test_contexts import programs as contexts_programs
from test_op_semantics import events as op_events
from test_op_semantics import programs as op_programs
from test_op_semantics import vpl_source
from test_pools import pool_programs

from vpl_runtime.snapshot import SNAPSHOT_VERSION, decode_snapshot, encode_snapshot
from vpl_runtime.values import MISSING
from vplc.codegen import generate as vplc_generate
from vplc.pipeline import analyse
from vplc.plan.planner import plan

ROOT = Path(__file__).resolve().parent.parent
ONE = "a" * 64
OTHER = "b" * 64

# -- the bytes format ----------------------------------------------------------------------


def test_state_round_trips_with_missing_and_deques() -> None:
    from collections import deque

    state: dict[str, object] = {"w": (3, MISSING, deque([(1, {"x": 1})], maxlen=4)), "n": 2}
    back = decode_snapshot(ONE, encode_snapshot(ONE, state))
    assert back == state
    w = back["w"]
    assert isinstance(w, tuple) and w[1] is MISSING and w[2].maxlen == 4


def test_missing_pickles_to_itself() -> None:
    assert pickle.loads(pickle.dumps(MISSING, protocol=5)) is MISSING


@pytest.mark.parametrize("data", [b"", b"VPLSNAP", b"hello world" * 20, b"\x80\x05N."])
def test_bytes_that_are_no_snapshot(data: bytes) -> None:
    with pytest.raises(ValueError, match="not a vplc snapshot"):
        decode_snapshot(ONE, data)


def test_another_format_version() -> None:
    data = bytearray(encode_snapshot(ONE, {}))
    struct.pack_into(">H", data, 8, SNAPSHOT_VERSION + 1)
    with pytest.raises(
        ValueError, match=f"unsupported snapshot format version {SNAPSHOT_VERSION + 1}"
    ):
        decode_snapshot(ONE, bytes(data))


def test_snapshot_of_another_program() -> None:
    with pytest.raises(ValueError, match="snapshot of another program"):
        decode_snapshot(OTHER, encode_snapshot(ONE, {"n": 1}))


@pytest.mark.parametrize("damage", ["flip", "truncate", "extend"])
def test_corrupt_payload(damage: str) -> None:
    data = bytearray(encode_snapshot(ONE, {"n": 1, "s": "text"}))
    if damage == "flip":
        data[-3] ^= 0x01
    elif damage == "truncate":
        del data[-1]
    else:
        data += b"\x00"
    with pytest.raises(ValueError, match="corrupt snapshot"):
        decode_snapshot(ONE, bytes(data))


def test_a_payload_naming_other_globals_is_refused_not_run() -> None:
    """A checksum is no signature: a payload that would call a function is still refused."""
    payload = pickle.dumps({"x": print}, protocol=5)  # a reference to builtins.print
    header = struct.pack(
        ">8sH32sQ32s",
        b"VPLSNAP\x00",
        SNAPSHOT_VERSION,
        bytes.fromhex(ONE),
        len(payload),
        hashlib.sha256(payload).digest(),
    )
    with pytest.raises(ValueError, match=r"corrupt snapshot .*unexpected global builtins\.print"):
        decode_snapshot(ONE, header + payload)


# -- generated modules ---------------------------------------------------------------------


@functools.cache
def pipeline_class(source: str, one_thread: bool = True) -> Any:
    """The generated Pipeline of `source`, compiled once per text (without black, which only
    reformats and costs most of the compile time)."""
    with mock.patch.object(vplc_generate, "format_source", lambda text: text):
        code = vplc_generate.generate_module(
            plan(analyse(source, "snap.vpl").plan.program, one_thread)
        )
    namespace: dict[str, Any] = {"__name__": "generated_under_test"}
    exec(compile(code, "snap.py", "exec"), namespace)
    return namespace["Pipeline"]


Line = tuple[str, int, dict[str, Any]]


def uninterrupted(cls: Any, events: list[Event]) -> list[Line]:
    lines: list[Line] = []
    pipeline = cls(lambda s, t, f: lines.append((s, t, f)))
    for event in events:
        pipeline.push(*event)
    pipeline.close()
    return lines


def restored_after(cls: Any, events: list[Event], k: int) -> list[Line]:
    """The first k events into one pipeline, the rest into a pipeline restored from its
    snapshot (the first one is dropped without close, as a crash would)."""
    lines: list[Line] = []
    first = cls(lambda s, t, f: lines.append((s, t, f)))
    for event in events[:k]:
        first.push(*event)
    data = first.snapshot()
    assert first.snapshot() == data  # deterministic: same state, same bytes
    second = cls.restore(lambda s, t, f: lines.append((s, t, f)), data)
    for event in events[k:]:
        second.push(*event)
    second.close()
    return lines


def check_split(source: str, events: list[Event], k: int, one_thread: bool = True) -> None:
    cls = pipeline_class(source, one_thread)
    k = min(k, len(events))
    assert restored_after(cls, events, k) == uninterrupted(cls, events), (source, k)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(op_programs(), op_events(), st.integers(0, 8))
def test_restored_pipeline_continues_op_programs(program: Any, evs: Any, k: int) -> None:
    """Every window kind, partitions, distinct, limit, aggregates, a consumer after or in a
    merge (the queued delivery)."""
    events = [("Order", ts, dict(f)) for ts, f in evs]
    check_split(vpl_source(*program), events, k)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pool_programs(), st.integers(0, 60))
def test_restored_pipeline_continues_pools_run_in_place(program: Any, k: int) -> None:
    """Pools on one thread: a broadcast pool's copies each keep their own state."""
    source, events = program
    check_split(source, events, k)


LATE = """\
event Scan:
    parcel: str
    hub: str
stream Late = Scan
    .watermark(out_of_order: {ooo}ms)
    .allowed_lateness({allowed}ms)
    .partition_by(hub)
    .window({size}ms)
    .aggregate(n: count(), hub: last(hub))
    .emit(hub: hub, n: n)
stream Firsts = Scan
    .distinct(parcel)
    .limit({limit})
    .emit(parcel: parcel)
"""


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(0, 30),
    st.integers(0, 30),
    st.integers(1, 50),
    st.integers(0, 6),
    st.lists(
        st.tuples(st.integers(0, 120), st.sampled_from("pqrs"), st.sampled_from("HJ")), max_size=30
    ),
    st.integers(0, 30),
)
def test_restored_pipeline_continues_late_data(
    ooo: int, allowed: int, size: int, limit: int, scans: list[tuple[int, str, str]], k: int
) -> None:
    """The watermark, the latest timestamps and marks per type are state too."""
    source = LATE.format(ooo=ooo, allowed=allowed, size=size, limit=limit)
    events: list[Event] = [("Scan", ts, {"parcel": p, "hub": h}) for ts, p, h in scans]
    check_split(source, events, k)


def test_snapshot_of_a_fresh_pipeline_restores_to_a_fresh_one() -> None:
    source = LATE.format(ooo=5, allowed=5, size=10, limit=2)
    cls = pipeline_class(source)
    events: list[Event] = [("Scan", t, {"parcel": "p", "hub": "H"}) for t in (0, 3, 12, 30)]
    fresh = cls(lambda s, t, f: None).snapshot()
    assert fresh == cls(lambda s, t, f: None).snapshot()
    restored = cls.restore(lambda s, t, f: None, fresh)
    assert restored.snapshot() == fresh
    check_split(source, events, 0)


def test_restoring_another_programs_snapshot_raises() -> None:
    one = pipeline_class(LATE.format(ooo=5, allowed=5, size=10, limit=2))
    other = pipeline_class(LATE.format(ooo=5, allowed=5, size=10, limit=3))
    with pytest.raises(ValueError, match="snapshot of another program"):
        other.restore(lambda s, t, f: None, one(lambda s, t, f: None).snapshot())


def test_snapshot_after_close_raises() -> None:
    pipeline = pipeline_class(LATE.format(ooo=5, allowed=5, size=10, limit=2))(lambda s, t, f: None)
    pipeline.close()
    with pytest.raises(RuntimeError, match=r"snapshot\(\) after close"):
        pipeline.snapshot()


def test_the_snapshot_benchmark_runs() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_snapshot.py"), "--partitions", "2000"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "2,000 partitions" in run.stdout and "restored output equal" in run.stdout


def test_vplc_plan_lists_each_streams_state(tmp_path: Path) -> None:
    program = tmp_path / "late.vpl"
    program.write_text(LATE.format(ooo=5, allowed=5, size=10, limit=2), encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "vplc.cli", "plan", str(program)], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert "      windows_Late: window map by hub (8:5 .window(10ms))" in run.stdout
    assert "      seen_Firsts_1: distinct set (12:5 .distinct(parcel)): keys seen" in run.stdout
    assert "      passed_Firsts_2: limit counter (13:5 .limit(2)): events passed" in run.stdout
    assert "program state:\n  late_data: late data: latest timestamp and watermark mark per input type" in (run.stdout)


STANDALONE_CHECK = """\
import json, sys
sys.path.insert(0, sys.argv[1])
import prog
events = [("Reading", 10 * i, {"v": i % 5}) for i in range(40)]
out = []
pipeline = prog.Pipeline(lambda s, t, f: out.append([s, t, f]))
if sys.argv[2] == "first":
    for event in events[:17]:
        pipeline.push(*event)
    sys.stdout.buffer.write(pipeline.snapshot())
elif sys.argv[2] == "all":
    for event in events:
        pipeline.push(*event)
        if event is events[16]:
            del out[:]  # what the first process wrote
    pipeline.close()
    print(json.dumps(out))
else:
    pipeline = prog.Pipeline.restore(lambda s, t, f: out.append([s, t, f]), sys.stdin.buffer.read())
    for event in events[17:]:
        pipeline.push(*event)
    pipeline.close()
    print(json.dumps(out))
"""


def test_a_standalone_module_restores_in_another_process(tmp_path: Path) -> None:
    """The runtime inlined (`MISSING` is the module's own), restored by a new interpreter."""
    source = tmp_path / "prog.vpl"
    source.write_text(
        "stream S = Reading .window(4) .aggregate(n: count(), top: max(v)) .emit(n: n, top: top)\n"
        "stream D = Reading .distinct(v) .limit(3) .emit(v: v)\n",
        encoding="utf-8",
    )
    compiled = subprocess.run(
        [
            sys.executable,
            "-m",
            "vplc.cli",
            "compile",
            "--standalone",
            str(source),
            "-o",
            str(tmp_path / "prog.py"),
        ],
        capture_output=True,
        text=True,
    )
    assert compiled.returncode == 0, compiled.stderr
    (tmp_path / "check.py").write_text(STANDALONE_CHECK, encoding="utf-8")

    def bare(*args: str, data: bytes = b"") -> bytes:
        run = subprocess.run(
            [sys.executable, "-I", str(tmp_path / "check.py"), str(tmp_path), *args],
            input=data,
            capture_output=True,
        )
        assert run.returncode == 0, run.stderr.decode()
        return run.stdout

    restored = json.loads(bare("second", data=bare("first")))
    assert restored and restored == json.loads(bare("all"))


# -- contexts: every context's state at one input position (D36) ----------------------------


@functools.cache
def threaded_module(source: str) -> dict[str, Any]:
    """The namespace of `source`'s module with its contexts and pools (no black)."""
    with mock.patch.object(vplc_generate, "format_source", lambda text: text):
        code = vplc_generate.generate_module(analyse(source, "snap.vpl").plan)
    namespace: dict[str, Any] = {"__name__": "generated_under_test"}
    exec(compile(code, "snap.py", "exec"), namespace)
    return namespace


def threaded_run(
    namespace: dict[str, Any], backend: str, events: list[Event], k: int | None
) -> list[Line]:
    """The lines of a run; with `k`, the first k events go into one pipeline, whose lines
    are those written when `snapshot()` returns, the rest into one restored from its bytes."""
    options = namespace["RunOptions"]
    fingerprint = namespace["PROGRAM_FINGERPRINT"]

    def build(lines: list[Line], saved: dict[str, object] | None) -> Any:
        def make_emitter(stream: str) -> Any:
            return lambda s, t, f: lines.append((s, t, f))

        run_options = options(backend=backend, batch_size=3, queue_capacity=7)
        return namespace["_build"](make_emitter, None, run_options, saved)

    lines: list[Line] = []
    first = build(lines, None)
    for event in events[:k]:
        first.push(*event)
    if k is None:
        first.close()
        return lines
    data = encode_snapshot(fingerprint, first.snapshot())
    assert encode_snapshot(fingerprint, first.snapshot()) == data  # the same point
    written = list(lines)  # the snapshot returns once the lines before it are written
    first.close()  # (its end-of-input lines are not the restored run's)
    second = build(written, decode_snapshot(fingerprint, data))
    for event in events[k:]:
        second.push(*event)
    second.close()
    return written


def per_stream(lines: list[Line], unordered: set[str]) -> dict[str, list[str]]:
    """Each stream's lines in order (D11), as text; sorted for an unordered pool's."""
    out: dict[str, list[str]] = {}
    for s, t, f in lines:
        out.setdefault(s, []).append(repr((t, f)))
    return {s: sorted(v) if s in unordered else v for s, v in out.items()}


LATE_IN_CONTEXTS = "context late\ncontext firsts\n" + LATE.replace(
    "stream Late = Scan\n", "stream Late = Scan\n    .context(late)\n"
).replace("stream Firsts = Scan\n", "stream Firsts = Late\n    .context(firsts)\n").replace(
    "distinct(parcel)", "distinct(hub)"
).replace(
    "emit(parcel: parcel)", "emit(hub: hub)"
)


@st.composite
def late_in_contexts(draw: st.DrawFn) -> tuple[str, list[Event]]:
    source = LATE_IN_CONTEXTS.format(
        ooo=draw(st.integers(0, 30)),
        allowed=draw(st.integers(0, 30)),
        size=draw(st.integers(1, 50)),
        limit=draw(st.integers(1, 6)),
    )
    scans = draw(st.lists(st.tuples(st.integers(0, 120), st.sampled_from("HJK")), max_size=30))
    return source, [("Scan", ts, {"parcel": "p", "hub": h}) for ts, h in scans]


def context_programs() -> st.SearchStrategy[tuple[str, list[Event]]]:
    return st.one_of(contexts_programs(), pool_programs(), late_in_contexts())


def check_threaded(program: tuple[str, list[Event]], k: int, backend: str) -> None:
    source, events = program
    namespace = threaded_module(source)
    pools = analyse(source, "snap.vpl").plan.pools
    unordered = {p.stream for p in pools if not p.pool.ordered}
    k = min(k, len(events))
    expected = per_stream(threaded_run(namespace, backend, events, None), unordered)
    got = per_stream(threaded_run(namespace, backend, events, k), unordered)
    assert got == expected, (source, k)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(context_programs(), st.integers(0, 60))
def test_restored_contexts_continue_on_threads(program: tuple[str, list[Event]], k: int) -> None:
    check_threaded(program, k, "thread")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the process backend forks")
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(context_programs(), st.integers(0, 60))
def test_restored_contexts_continue_on_processes(program: tuple[str, list[Event]], k: int) -> None:
    check_threaded(program, k, "process")


def test_a_snapshot_with_contexts_restores_through_the_library_api() -> None:
    source = LATE_IN_CONTEXTS.format(ooo=5, allowed=5, size=10, limit=2)
    cls = threaded_module(source)["Pipeline"]
    events: list[Event] = [
        ("Scan", t, {"parcel": "p", "hub": "HJ"[t % 2]}) for t in range(0, 90, 3)
    ]
    # Each stream's lines in order; streams of different contexts interleave freely (D11).
    assert per_stream(restored_after(cls, events, 11), set()) == per_stream(
        uninterrupted(cls, events), set()
    )


SESSIONS_ON_A_POOL = (
    "stream S = T .partition_by(k) .concurrent(workers: 2, ordered: true)"
    " .window(session: 1h) .aggregate(n: count(), k: last(k)) .emit(n: n, k: k)\n"
)


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_restored_input_positions_go_on_from_the_snapshot(backend: str) -> None:
    """Partitions remember the cascade that created them, and the end of input flushes
    them in that order (§6.7): after a restore, input ids must go on, not start again."""
    keys = "abcdefghij"
    events: list[Event] = [("T", i, {"k": keys[i % 10]}) for i in range(14)]
    # keys a..d are created before the snapshot, e..j after it
    namespace = threaded_module(SESSIONS_ON_A_POOL)
    expected = threaded_run(namespace, backend, events, None)
    assert [f["k"] for _, _, f in expected] == list(keys)
    assert threaded_run(namespace, backend, events, 4) == expected


def test_a_restored_pipelines_snapshot_counts_the_whole_input() -> None:
    cls = threaded_module(SESSIONS_ON_A_POOL)["Pipeline"]
    fingerprint = threaded_module(SESSIONS_ON_A_POOL)["PROGRAM_FINGERPRINT"]
    first = cls(lambda s, t, f: None)
    for i in range(5):
        first.push("T", i, {"k": "a"})
    second = cls.restore(lambda s, t, f: None, first.snapshot())
    for i in range(3):
        second.push("T", 5 + i, {"k": "b"})
    saved = decode_snapshot(fingerprint, second.snapshot())
    assert saved["input position"] == 8
    first.close()
    second.close()


def test_a_context_writes_its_lines_before_it_hands_over_its_state() -> None:
    """snapshot() returns when every context has answered: by then the lines of the events
    before it must have reached the sink (a service stores the snapshot as done)."""
    from vpl_runtime.contexts.backends.threads import _Inbox, _ThreadTransport
    from vpl_runtime.contexts.barriers import Barriers
    from vpl_runtime.contexts.stats import Counters
    from vpl_runtime.driver import RunOptions

    lines: list[Line] = []
    seen: list[list[Line]] = []
    barriers = Barriers(frozenset({"c"}))
    transport = _ThreadTransport(
        _Inbox(1, 4),
        [],
        Counters(),
        lambda stream: lambda s, t, f: lines.append((s, t, f)),
        RunOptions(),
        (barriers, "c"),
    )
    original = barriers.taken
    barriers.taken = lambda *args: (seen.append(list(lines)), original(*args))  # type: ignore[method-assign]
    transport.emitter("S")("S", 1, {"x": 1})
    transport.snapshot_taken(0, b"state")
    assert seen == [[("S", 1, {"x": 1})]]

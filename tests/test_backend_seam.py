"""One backend seam (issue 9 part 4): a generated module gives its contexts without starting
them, the compiler decides which context runs on the caller's thread, and both backends run
the same specs through one orchestration (`vpl_runtime.contexts.launch`)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from vpl_runtime.contexts import ContextRuntime, ContextSpec, start_contexts
from vpl_runtime.contexts.graph import Graph
from vpl_runtime.driver import Fields, RunOptions
from vplc.codegen.generate import generate_module
from vplc.pipeline import analyse

TWO_CONTEXTS = """
context ingest
context analytics

stream Hot = Reading .context(ingest) .where(value > 10) .emit(sensor: sensor, value: value)
stream Alerts = Hot .context(analytics) .where(value > 20) .emit(sensor: sensor, value: value)
"""
EVENTS = [("Reading", i, {"sensor": f"s{i % 3}", "value": i}) for i in range(40)]


def load(source: str, tmp_path: Path, name: str = "prog") -> Any:
    """The generated module of `source`, imported."""
    path = tmp_path / f"{name}.py"
    path.write_text(generate_module(analyse(source, "program.vpl").plan), encoding="utf-8")
    namespace: dict[str, Any] = {"__name__": name}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)
    return namespace


def test_the_module_gives_its_contexts_without_starting_them(tmp_path: Path) -> None:
    module = load(TWO_CONTEXTS, tmp_path)
    before = threading.active_count()
    specs = module["contexts"]()
    assert threading.active_count() == before  # nothing started
    assert [spec.name for spec in specs] == ["ingest", "analytics"]
    assert all(isinstance(spec, ContextSpec) for spec in specs)
    assert specs[1].upstream == ("ingest",)


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_both_backends_run_the_specs_the_module_gives(tmp_path: Path, backend: str) -> None:
    module = load(TWO_CONTEXTS, tmp_path)
    lines: list[tuple[str, int, Fields]] = []

    def make_emitter(stream: str) -> Any:
        return lambda name, ts, fields: lines.append((name, ts, fields))

    push, close = start_contexts(
        module["contexts"](), make_emitter, None, RunOptions(backend=backend)
    )
    for event in EVENTS:
        push(*event)
    close()
    expected = [e for e in EVENTS if e[2]["value"] > 10]
    assert sorted((s, t) for s, t, _ in lines) == sorted(
        [("Hot", t) for _, t, _ in expected]
        + [("Alerts", t) for _, t, f in expected if f["value"] > 20]
    )


def test_the_compiler_marks_the_caller_context_only_where_it_is_safe(tmp_path: Path) -> None:
    # One unpinned context takes all the input: it runs on the caller's thread.
    alone = "context a\nstream S = Reading .context(a) .emit(v: value)\n"
    (spec,) = load(alone, tmp_path, "alone")["contexts"]()
    assert spec.on_caller
    # Two contexts take input events: neither may (the ingress could wait holding a promise).
    both = (
        "context a\ncontext b\nstream S = Reading .context(a) .emit(v: value)\n"
        "stream T = Reading .context(b) .emit(v: value)\n"
    )
    assert not any(s.on_caller for s in load(both, tmp_path, "both")["contexts"]())
    # A pinned context stays on its own thread.
    pinned = "context a (cores: [0])\nstream S = Reading .context(a) .emit(v: value)\n"
    assert not any(s.on_caller for s in load(pinned, tmp_path, "pinned")["contexts"]())


def _nothing(ctx: ContextRuntime) -> None:
    ctx.serve({}, [])


def test_a_context_wrongly_marked_for_the_caller_is_refused() -> None:
    with pytest.raises(ValueError, match="caller's thread"):
        Graph.build(
            (
                ContextSpec("a", _nothing, routes=("R",), on_caller=True),
                ContextSpec("b", _nothing, routes=("R",)),
            )
        )
    with pytest.raises(ValueError, match="more than one"):
        Graph.build(
            (
                ContextSpec("a", _nothing, routes=("R",), on_caller=True),
                ContextSpec("b", _nothing, on_caller=True),
            )
        )
    graph = Graph.build((ContextSpec("a", _nothing, routes=("R",), on_caller=True),))
    assert graph.caller_index() == 0

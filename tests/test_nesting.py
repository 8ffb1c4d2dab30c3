"""Nesting limits (E099): deep expressions are rejected with a position, never a traceback.

Python refuses modules with more than 200 nested parentheses, so arrays, maps, calls, `if`,
unary operators and indexing nested past `MAX_NESTING` levels, and any expression more than
`MAX_DEPTH` nodes deep, are compile errors at the first construct too deep; anything within
the limits compiles to a module that loads and runs.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vplc import cli
from vplc.frontend.recursion import MAX_DEPTH, MAX_NESTING

# Each construct as (text before the inner expression, text after it).
WRAPPERS = {
    "array": ("[", "]"),
    "map": ("{k: ", "}"),
    "paren": ("(", ")"),
    "if": ("if x > 0 then ", " else 0"),
    "if-else": ("if x > 0 then 0 else ", ""),
    "call": ("abs(", ")"),
    "len": ("len(", ")"),
    "neg": ("-", ""),
    "not": ("not ", ""),
    "index": ("x[", "]"),
    "pow": ("2 ** ", ""),
    "plus": ("1 + ", ""),
}
# Where an expression may stand, `{e}` being the expression.
SITES = {
    "emit": "stream S = T\n    .emit(a: {e})\n",
    "where": "stream S = T\n    .where({e} == 1)\n    .emit(x)\n",
    "select": "stream S = T\n    .select(a: {e})\n    .emit(a)\n",
    "aggregate": "stream S = T\n    .window(1)\n    .aggregate(s: sum({e}))\n    .emit(s)\n",
    "const": "let c = {e}\nstream S = T\n    .emit(a: c)\n",
}
# Constructs a site itself puts around the expression.
_SITE_NESTING = {"aggregate": 1}
# Only parentheses and binary operators do not count towards MAX_NESTING.
_NESTING = {name: name not in ("paren", "pow", "plus") for name in WRAPPERS}


def nested(kinds: list[str], leaf: str = "x") -> str:
    text = leaf
    for kind in reversed(kinds):
        before, after = WRAPPERS[kind]
        text = before + text + after
    return text


def run_in_process(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(argv)
    return status, out.getvalue(), err.getvalue()


def assert_clean(status: int, err: str, path: Path) -> None:
    assert "Traceback" not in err and "internal compiler error" not in err, err
    assert "SyntaxError" not in err and "RecursionError" not in err, err
    errors = [line for line in err.splitlines() if ": error: " in line]
    assert (status == 1) == bool(errors), err
    for line in errors:
        assert re.match(rf"{re.escape(str(path))}:\d+:\d+: error: \w+ ", line), err


def check_compile_run(tmp_path: Path, source: str) -> tuple[int, str, str]:
    """`vplc check`, `compile` and `run` of `source`: the statuses agree, none tracebacks;
    the result of `run`."""
    path = tmp_path / "deep.vpl"
    path.write_text(source, encoding="utf-8")
    events = tmp_path / "one.evt"
    events.write_text("T { x: 1 }\n", encoding="utf-8")
    checked, _, err = run_in_process(["check", str(path)])
    assert_clean(checked, err, path)
    compiled, _, err = run_in_process(["compile", str(path), "-o", str(tmp_path / "deep.py")])
    assert_clean(compiled, err, path)
    ran, out, err = run_in_process(["run", str(path), str(events)])
    assert_clean(ran, err, path)
    assert checked == compiled and (checked == 1) == (ran == 1), (checked, compiled, ran)
    if compiled == 0:  # the written module loads: Python accepted its nesting
        compile((tmp_path / "deep.py").read_text(encoding="utf-8"), "deep.py", "exec")
    return ran, out, err


@pytest.mark.parametrize("site", SITES)
@pytest.mark.parametrize("kind", [k for k, counts in _NESTING.items() if counts])
def test_each_construct_at_the_limit_runs_and_past_it_is_e099(
    tmp_path: Path, kind: str, site: str
) -> None:
    limit = MAX_NESTING - _SITE_NESTING.get(site, 0)
    at_limit = SITES[site].format(e=nested([kind] * limit))
    status, out, err = check_compile_run(tmp_path, at_limit)
    assert status == 0, err
    if site == "emit":
        assert len(out.splitlines()) == 1
        json.loads(out)  # the value is written, however deep
    past = SITES[site].format(e=nested([kind] * (limit + 1)))
    status, _, err = check_compile_run(tmp_path, past)
    assert status == 1
    first = next(line for line in err.splitlines() if ": error: " in line)
    assert "error: E099 expression nested too deeply" in first, err
    # At the outermost construct past the limit: MAX_NESTING constructs enclose it.
    line = past.splitlines()[int(first.split(":")[1]) - 1]
    column = int(first.split(":")[2])
    assert line[column - 1 :].startswith(WRAPPERS[kind][0].strip() or WRAPPERS[kind][0])
    assert nested([kind] * 1) in line[column - 1 :]


def test_binary_chains_past_max_depth_are_e099_at_their_start(tmp_path: Path) -> None:
    ok = SITES["emit"].format(e=" + ".join(["x"] * MAX_DEPTH))
    status, out, err = check_compile_run(tmp_path, ok)
    assert status == 0 and json.loads(out)["fields"] == {"a": MAX_DEPTH}, err
    for op in ("+", "**"):
        status, _, err = check_compile_run(tmp_path, SITES["emit"].format(e=f" {op} ".join(["x"] * 30_000)))
        assert status == 1 and ": error: E099 " in err, err


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kinds=st.integers(1, 260).flatmap(
        lambda n: st.lists(st.sampled_from(sorted(WRAPPERS)), min_size=n, max_size=n)
    ),
    site=st.sampled_from(sorted(SITES)),
    leaf=st.sampled_from(["x", "1", '"s"', "2.5"]),
)
def test_random_deep_nestings_never_traceback(
    tmp_path: Path, kinds: list[str], site: str, leaf: str
) -> None:
    source = SITES[site].format(e=nested(kinds, leaf))
    status, _, err = check_compile_run(tmp_path, source)
    too_deep = sum(_NESTING[k] for k in kinds) + _SITE_NESTING.get(site, 0) > MAX_NESTING
    if too_deep:  # rejected, as too deep unless a syntax error comes first
        assert status == 1 and (": error: E099 " in err or ": error: PARSE " in err), err
    else:
        assert "E099" not in err, err

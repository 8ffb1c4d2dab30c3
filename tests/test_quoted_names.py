"""Quoted identifiers (SEMANTICS §2, D46): `user-id` names a field that is no plain name.

End to end: the CLI compiles a program reading, filtering, partitioning by and emitting such
names; the written module type-checks and gives the right output. The mangling that turns
VPL names into Python names is checked to be injective and to give valid identifiers.
"""

from __future__ import annotations

import json
import keyword
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pipeline_helpers import run

from vplc.diagnostics import CompileError
from vplc.frontend.parser import parse
from vplc.frontend.syntax import Binary, Name, StreamDecl
from vplc.frontend.unparse import unparse, vpl_name
from vplc.plan.names import mangle

ROOT = Path(__file__).resolve().parent.parent

PROGRAM = r"""event Req:
    `user-id`: int
    `http.status`: int
    `température`: float
    `a b`: str
    class: str
    `__import__`: str
    `k"\`: int
stream `req-log` = Req
    .where(`http.status` >= 400 and `a b` != "skip")
    .partition_by(`user-id`)
    .window(2)
    .aggregate(`n-errors`: count(), `class`: last(`class`), `sum(x)`: sum(`http.status`))
    .emit(`user-id`, `n-errors`, `class`, `sum(x)`)
stream a_b = Req.emit(`a-b`: `température`, `__import__`: `__import__`, `q"\k`: `k"\`)
stream `a-b` = Req.where(`température` > 20.0).emit(`température`, `a b`)
"""


def _event(ts: int, uid: int, status: int, temp: float, ab: str, cls: str) -> str:
    fields = {"user-id": uid, "http.status": status, "température": temp, "a b": ab,
              "class": cls, "__import__": cls.upper(), 'k"\\': ts}  # fmt: skip
    return json.dumps({"event_type": "Req", "timestamp": ts, "fields": fields})


EVENTS = [
    _event(1, 7, 500, 21.5, "x", "c1"),
    _event(2, 8, 404, 19.0, "y", "c2"),
    _event(3, 7, 503, 25.0, "z", "c3"),
    _event(4, 8, 200, 30.0, "skip", "c4"),
]


def _out(stream: str, ts: int, fields: dict[str, Any]) -> dict[str, Any]:
    return {"stream": stream, "timestamp": ts, "fields": fields}


def _copy(ts: int, temp: float, cls: str) -> dict[str, Any]:
    return _out("a_b", ts, {"a-b": temp, "__import__": cls.upper(), 'q"\\k': ts})


EXPECTED = [
    _copy(1, 21.5, "c1"),
    _out("a-b", 1, {"température": 21.5, "a b": "x"}),
    _copy(2, 19.0, "c2"),
    # user 7's two errors fill its window; user 8's second event is filtered out.
    _out("req-log", 3, {"user-id": 7, "n-errors": 2, "class": "c3", "sum(x)": 1003.0}),
    _copy(3, 25.0, "c3"),
    _out("a-b", 3, {"température": 25.0, "a b": "z"}),
    _copy(4, 30.0, "c4"),
    _out("a-b", 4, {"température": 30.0, "a b": "skip"}),
]


def test_quoted_names_end_to_end_through_a_written_module(tmp_path: Path) -> None:
    (tmp_path / "prog.vpl").write_text(PROGRAM, encoding="utf-8")
    (tmp_path / "in.jsonl").write_text("\n".join(EVENTS) + "\n", encoding="utf-8")
    compiled = subprocess.run(
        [sys.executable, "-m", "vplc.cli", "compile", "prog.vpl", "-o", "prog.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert compiled.returncode == 0, compiled.stderr
    module = (tmp_path / "prog.py").read_text(encoding="utf-8")
    # No VPL name is a Python name unmangled; the two streams `a_b` and `a-b` stay apart.
    assert "def stream_a_b(" in module and "def stream_0a_2d_b(" in module
    ran = subprocess.run(
        [sys.executable, "prog.py", "in.jsonl"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert [json.loads(line) for line in ran.stdout.splitlines()] == EXPECTED
    (tmp_path / "vpl_runtime").symlink_to(ROOT / "runtime_support" / "vpl_runtime")
    mypy = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "prog.py"],
        cwd=tmp_path, capture_output=True, text=True,
        env=dict(os.environ, MYPYPATH=str(tmp_path)),
    )  # fmt: skip
    assert mypy.returncode == 0, mypy.stdout + mypy.stderr


def test_unquoted_dash_is_still_subtraction_and_quoted_is_one_name() -> None:
    (minus, quoted) = (
        _where(parse(f"stream s = A.where({text})")) for text in ("user-id", "`user-id`")
    )
    assert isinstance(minus, Binary)
    assert quoted == Name("user-id", quoted.span)
    assert (quoted.span.column, quoted.span.end_column) == (20, 29)  # with the backticks


def _where(program: Any) -> Any:
    stream = program.statements[0]
    assert isinstance(stream, StreamDecl)
    return stream.ops[0].args[0].value


def test_quoted_and_plain_spellings_are_the_same_name() -> None:
    source = "event A:\n    `price`: int\nstream s = `A`.where(price > 1).emit(`p`: `price`)"
    outputs = run(source, [("A", 0, {"price": 2}), ("A", 1, {"price": 0})])
    assert outputs == [("s", 0, {"p": 2})]


def test_canonical_text_quotes_names_so_a_field_never_spells_a_call() -> None:
    # `unparse` is the identity of aggregate calls and the text of plan dumps: the field
    # `sum(x)` must not read as the call sum(x), nor `a-b` as a subtraction.
    (field, call) = (_where(parse(f"stream s = A.where({t})")) for t in ("`sum(x)`", "sum(x)"))
    assert (unparse(field), unparse(call)) == ("`sum(x)`", "sum(x)")
    assert unparse(_where(parse("stream s = A.where(`a-b`.`c d` + `if`)"))) == (
        "`a-b`.`c d` + `if`"
    )


def _diagnostic(source: str) -> tuple[str, int, int, str]:
    with pytest.raises(CompileError) as info:
        parse(source)
    d = info.value.diagnostics[0]
    return d.code, d.span.column, d.span.end_column, d.message


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        ("`` > 1", 20, "empty quoted name '``'"),
        ("`a\n> 1", 20, "unterminated quoted name: '`' needs a closing '`' on the same line"),
        ("`a\r> 1", 20, "unterminated quoted name: '`' needs a closing '`' on the same line"),
        ("x `a-b`", 22, "unexpected '`a-b`' (expected ',' or ')')"),
    ],
)
def test_malformed_quoted_names_are_positioned_parse_errors(
    text: str, column: int, message: str
) -> None:
    code, start, _, got = _diagnostic(f"stream s = A.where({text})")
    assert (code, start, got) == ("PARSE", column, message)


def test_unknown_quoted_field_is_reported_at_the_quoted_text(tmp_path: Path) -> None:
    (tmp_path / "p.vpl").write_text("event A:\n    x: int\nstream s = A.where(`a-b` > 1)\n")
    result = subprocess.run(
        [sys.executable, "-m", "vplc.cli", "check", "p.vpl"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "p.vpl:3:20: error: E020 event 'A' has no field 'a-b'",
        "    stream s = A.where(`a-b` > 1)",
        "                       ^~~~~",
    ]


# Any text a quoted name may hold (D46): no backtick, no line break, not empty.
_NAMES = st.text(st.characters(blacklist_characters="`\n\r"), min_size=1, max_size=12)


@settings(max_examples=400, deadline=None)
@given(
    a=_NAMES,
    b=_NAMES,
    i=st.none() | st.integers(0, 99),
    j=st.none() | st.integers(0, 99),
)
def test_mangle_is_injective_and_gives_identifiers(
    a: str, b: str, i: int | None, j: int | None
) -> None:
    ident = mangle("stream", a, i)
    assert ident.isidentifier() and not keyword.iskeyword(ident) and ident.isascii()
    if (a, i) != (b, j):
        assert ident != mangle("stream", b, j)


@given(a=_NAMES)
def test_vpl_name_parses_back_to_the_same_name(a: str) -> None:
    stream = parse(f"stream s = A.where({vpl_name(a)})").statements[0]
    assert isinstance(stream, StreamDecl)
    value = stream.ops[0].args[0].value
    assert isinstance(value, Name) and value.name == a


def test_mangle_collisions_seen_in_practice_stay_apart() -> None:
    names = ["a_b", "a-b", "a b", "a_2d_b", "0a_2d_b", "_", "__", "class", "température"]
    idents = [mangle("stream", n) for n in names] + [mangle("stream", n, 1) for n in names]
    assert len(set(idents)) == len(idents)
    assert all(re.fullmatch(r"[A-Za-z0-9_]+", ident) for ident in idents)


@pytest.mark.parametrize("name", ['a"""b\\', 'c"""', "it's", "x\\", "é'\"", "0", "def"])
def test_any_quoted_stream_name_compiles_in_every_kind_of_stream(name: str) -> None:
    # Stream names reach docstrings, comments and string literals of the module.
    source = (
        f"stream `{name}` = T.window(2).aggregate(n: count()).emit(n)\n"
        f"stream `{name}2` = T.aggregate(n: count()).emit(n)\n"
        f"stream `{name}3` = `{name}2`.where(n > 0).emit(n)\n"
    )
    outputs = run(source, [("T", 0, {}), ("T", 1, {})])
    assert sorted(outputs, key=str) == sorted(
        [(f"{name}2", 0, {"n": 1}), (f"{name}2", 1, {"n": 1}), (f"{name}3", 0, {"n": 1}),
         (f"{name}3", 1, {"n": 1}), (name, 1, {"n": 2})],
        key=str,
    )  # fmt: skip

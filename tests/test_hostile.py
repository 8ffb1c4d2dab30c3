r"""Safety of generated code: nothing from VPL text may reach Python unescaped.

Programs here hide Python in string literals, comments and file names, and use names
that are Python keywords, builtins or the generated code's own locals (`f`, `ts`, `out`,
`key`, `w`, `value`, `t1`, ...). Each must compile to a module that loads, runs on events,
gives the output worked out by hand from SEMANTICS, and executes nothing: every payload
would create a file named PWNED in the working directory, which is a fresh temp dir.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import tokenize
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from vplc.pipeline import compile_source

Output = dict[str, Any]
Event = tuple[str, int, dict[str, Any]]

# Names that no generated module needs; seeing one as code (not inside a string or a
# comment) means VPL text leaked into Python.
_LEAK_MARKERS = {"os", "system", "PWNED", "__import__", "eval", "exec", "open", "popen"}


def generate(source: str, filename: str = "hostile.vpl") -> str:
    """The generated module, after checking that VPL text only appears as data."""
    code = compile_source(source, filename)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. an invalid escape sequence in a docstring
        compile(code, "hostile.py", "exec")
    names = {
        tok.string
        for tok in tokenize.generate_tokens(io.StringIO(code).readline)
        if tok.type == tokenize.NAME
    }
    assert not names & _LEAK_MARKERS, sorted(names & _LEAK_MARKERS)
    return code


def json_events(*events: tuple[str, int | None, dict[str, Any]]) -> str:
    lines = []
    for event_type, timestamp, fields in events:
        line: dict[str, Any] = {"event_type": event_type, "fields": fields}
        if timestamp is not None:
            line["timestamp"] = timestamp
        lines.append(json.dumps(line) + "\n")
    return "".join(lines)


def run_module(directory: Path, code: str, events: str) -> tuple[list[Output], str]:
    """Run the module as a program in `directory`: its output lines and stderr."""
    (directory / "hostile.py").write_text(code, encoding="utf-8")
    (directory / "events.jsonl").write_text(events, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "hostile.py", "events.jsonl"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "events in:" in result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()], result.stderr


def run_pipeline(code: str, events: list[Event]) -> list[Output]:
    """Run the module in-process through its `Pipeline` API (the caller chdirs)."""
    namespace: dict[str, Any] = {"__name__": "hostile"}
    exec(compile(code, "hostile.py", "exec"), namespace)
    outputs: list[Output] = []

    def sink(stream: str, timestamp: int, fields: dict[str, Any]) -> None:
        outputs.append({"stream": stream, "timestamp": timestamp, "fields": fields})

    pipeline = namespace["Pipeline"](sink)
    for event_type, timestamp, fields in events:
        pipeline.push(event_type, timestamp, fields)
    pipeline.close()
    as_json: list[Output] = json.loads(json.dumps(outputs))  # as the output lines read
    return as_json


def by_stream(outputs: list[Output]) -> dict[str, list[tuple[int, Output]]]:
    """Outputs per stream, in order: only the order within a stream is specified (§1.4)."""
    grouped: dict[str, list[tuple[int, Output]]] = defaultdict(list)
    for line in outputs:
        grouped[line["stream"]].append((line["timestamp"], line["fields"]))
    return dict(grouped)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def assert_nothing_ran(directory: Path) -> None:
    assert not (directory / "PWNED").exists()


# ---------------------------------------------------------------------------------------------
# String literals

STRINGS = r"""
const code = "\"); import os; os.system('touch PWNED') #"
const code2 = "'''); open('PWNED', 'w') #"
const code3 = "\"\"\"); open('PWNED', 'w') #"
const fmt = "{0} {code} %s %(x)s {{}} ${x} \\N{BULLET}"

stream Lit = T
    .where(s == "it's \"q\" '''x''' \"\"\"y\"\"\"")
    .emit(a: "back\\slash\nnew\ttab\rcr\'sq", b: fmt, c: code, d: code2, e: code3, g: s + "\\", h: "\"\"\"", i: "'''")

stream Code = T
    .where(s != "\"); import os; os.system('touch PWNED') #")
    .where(not (s in ["\\\"", "\"\"\"", "'''"]))
    .print("\"); open('PWNED', 'w') #", s)
    .emit(k: {"\"); import os #": 1, "'''": 2}["'''"], m: "{s}" + s)

stream Merged = merge(stream a1 = T .where(s == "'''); open('PWNED', 'w') #"), stream a2 = U .where(tag == "\"\"\""))
    .emit(tag: tag)

stream Groups = T
    .partition_by(s)
    .window(session: 1s)
    .aggregate(all: collect(s + "\"'\\"), n: count())
    .emit(all: all, p: _partition, s: s, n: n)
"""

S1 = "it's \"q\" '''x''' \"\"\"y\"\"\""
STRING_EVENTS: list[Event] = [
    ("T", 1, {"s": S1}),
    ("U", 2, {"tag": '"""'}),
    ("T", 3, {"s": "'''"}),
    ("U", 4, {"tag": "x"}),
]
# §2 (D17): \n \t \r \" \\ \' are decoded; every other character is itself.
STRING_EXPECTED = {
    "Lit": [
        (
            1,
            {
                "a": "back\\slash\nnew\ttab\rcr'sq",
                "b": "{0} {code} %s %(x)s {{}} ${x} \\N{BULLET}",
                "c": "\"); import os; os.system('touch PWNED') #",
                "d": "'''); open('PWNED', 'w') #",
                "e": '"""); open(\'PWNED\', \'w\') #',
                "g": S1 + "\\",
                "h": '"""',
                "i": "'''",
            },
        )
    ],
    "Code": [(1, {"k": 2, "m": "{s}" + S1})],
    "Merged": [(2, {"tag": '"""'})],
    # D8: session windows flush at the end of input, partitions in first-seen order.
    "Groups": [
        (1, {"all": [S1 + "\"'\\"], "p": S1, "s": S1, "n": 1}),
        (3, {"all": ["'''\"'\\"], "p": "'''", "s": "'''", "n": 1}),
    ],
}


def test_string_literals_in_a_module_run_as_a_program(tmp_path: Path) -> None:
    code = generate(STRINGS)
    outputs, stderr = run_module(tmp_path, code, json_events(*STRING_EVENTS))
    assert by_stream(outputs) == STRING_EXPECTED
    assert f"[Code] \"); open('PWNED', 'w') # {S1}\n" in stderr  # D18: .print on stderr
    assert_nothing_ran(tmp_path)


def test_string_literals_through_the_pipeline_api(workdir: Path) -> None:
    code = generate(STRINGS)
    assert by_stream(run_pipeline(code, STRING_EVENTS)) == STRING_EXPECTED
    assert_nothing_ran(workdir)


@pytest.mark.parametrize(
    "char",
    ["\x00", "\r", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\u2028", "\U0001f600"],
    ids=["nul", "cr", "vt", "ff", "esc", "del", "nel", "u2028", "emoji"],
)
def test_raw_control_characters_in_string_literals(workdir: Path, char: str) -> None:
    # Written raw between the quotes, not as an escape: they are just characters (§2).
    source = f'stream S = T\n    .where(s == "a{char}b")\n    .emit(v: "x{char}y", s: s)\n'
    code = generate(source)
    outputs = run_pipeline(code, [("T", 0, {"s": f"a{char}b"}), ("T", 1, {"s": "ab"})])
    assert outputs == [{"stream": "S", "timestamp": 0, "fields": {"v": f"x{char}y", "s": f"a{char}b"}}]


# ---------------------------------------------------------------------------------------------
# Names

NAMES = """
const None = 5
const __import__ = "os"
const True = 10

stream class = def
    .where(x > True)
    .emit(f: None, ts: __import__, key: x, w: print, value: f, t1: ts, __class__: w, _partition: key, self: value)

stream print = class
    .partition_by(key)
    .window(2)
    .aggregate(ts: count(), out: sum(t1), key: last(value), value: first(self), w: collect(__class__))
    .emit(def: ts, lambda: out, key: key, value: value, w: w, _partition: _partition)

stream route_of = of
    .emit(z: z, sys: sys)

stream f = merge(stream ts = print .where(lambda > 0.0), stream key = of .where(z == "z"))
    .emit(out: def, w: z)

stream MISSING = of
    .distinct(z)
    .emit(Pipeline: z, main: None, _build: __import__)
"""

NAME_EVENTS: list[Event] = [
    ("def", 1, {"x": 11, "print": "p1", "f": "F1", "ts": 3, "w": 1.5, "key": "k1", "value": "v1"}),
    ("def", 2, {"x": 9, "print": "p2", "f": "F2", "ts": 4, "w": 2.5, "key": "k2", "value": "v2"}),
    ("def", 3, {"x": 11, "print": "p3", "f": "F3", "ts": 5, "w": 3.5, "key": "k3", "value": "v3"}),
    ("of", 4, {"z": "z", "sys": "s"}),
    ("of", 5, {"z": "z"}),
]


def _class_line(n: int, ts: int, w: float) -> Output:
    # Declared names shadow fields (D3): None = 5, __import__ = "os", True = 10.
    return {
        "f": 5,
        "ts": "os",
        "key": 11,
        "w": f"p{n}",
        "value": f"F{n}",
        "t1": ts,
        "__class__": w,
        "_partition": f"k{n}",
        "self": f"v{n}",
    }


NAME_EXPECTED = {
    "class": [(1, _class_line(1, 3, 1.5)), (3, _class_line(3, 5, 3.5))],
    # §7, D10: the result holds _partition "11", the partition field `key` (replaced by the
    # item of the same name), then the items; sum is a float, first/last are raw values.
    "print": [
        (
            3,
            {
                "def": 2,
                "lambda": 8.0,
                "key": "F3",
                "value": "v1",
                "w": [1.5, 3.5],
                "_partition": "11",
            },
        )
    ],
    "f": [(3, {"out": 2}), (4, {"w": "z"}), (5, {"w": "z"})],
    "route_of": [(4, {"z": "z", "sys": "s"}), (5, {"z": "z"})],
    "MISSING": [(4, {"Pipeline": "z", "main": 5, "_build": "os"})],
}


def test_python_keywords_builtins_and_generated_locals_as_names(tmp_path: Path) -> None:
    code = generate(NAMES)
    outputs, _ = run_module(tmp_path, code, json_events(*NAME_EVENTS))
    assert by_stream(outputs) == NAME_EXPECTED


def test_python_names_through_the_pipeline_api(workdir: Path) -> None:
    code = generate(NAMES)
    assert by_stream(run_pipeline(code, NAME_EVENTS)) == NAME_EXPECTED


LOCALS = """
stream S = T
    .where(if f > 0 then ts > 0 else key == "k")
    .partition_by(w)
    .window(3s, sliding: 1s)
    .aggregate(out: sum(value), t1: avg(t2), t2: count(), n: max(key_value), state: last(closed), buf: first(batch))
    .having(out > 0.0)
    .emit(f: out, ts: t1, key: t2, w: w, value: n, state: state, buf: buf, groups: _partition)
"""


def test_names_of_window_and_aggregate_locals(workdir: Path) -> None:
    # Field names equal to the locals of window, aggregate and batch code.
    code = generate(LOCALS)
    base = {"f": 1, "ts": 1, "w": "g", "key_value": 7, "closed": "c", "batch": "b"}
    events = [
        ("T", 0, {**base, "value": 2, "t2": 4}),
        ("T", 500, {**base, "value": 3, "t2": 6, "closed": "d", "batch": "e"}),
        ("T", 1000, {**base, "value": 5, "t2": 8, "key_value": 9}),
    ]
    # §6.4: the first event emits a one-event window; the second is within the slide; the
    # third (t = last emit + 1s) emits the whole buffer. D8: no event since, no final window.
    assert run_pipeline(code, events) == [
        {
            "stream": "S",
            "timestamp": 0,
            "fields": {
                "f": 2.0, "ts": 4.0, "key": 1, "w": "g", "value": 7.0, "state": "c", "buf": "b",
                "groups": "g",
            },
        },
        {
            "stream": "S",
            "timestamp": 1000,
            "fields": {
                "f": 10.0, "ts": 6.0, "key": 3, "w": "g", "value": 9.0, "state": "c", "buf": "b",
                "groups": "g",
            },
        },
    ]
    assert_nothing_ran(workdir)


# ---------------------------------------------------------------------------------------------
# Comments

COMMENTS = '''
# a comment with */ and """ and \'\'\' and a trailing backslash \\
/* multi-line
import os; os.system('touch PWNED')
""" \'\'\' */
stream C = T /* inline
   open("PWNED", "w") */
    .where(x > 1 /* inside the op
import os
os.system('touch PWNED')
*/ and x < 10)   # trailing */ comment """
    .emit(y: x /* "; open('PWNED', 'w') # */, z: "/* not a comment */ # nor this")
'''


def test_comments_with_newlines_and_terminators(tmp_path: Path) -> None:
    code = generate(COMMENTS)
    events = json_events(("T", 0, {"x": 1}), ("T", 1, {"x": 5}), ("T", 2, {"x": 20}))
    outputs, _ = run_module(tmp_path, code, events)
    assert outputs == [
        {
            "stream": "C",
            "timestamp": 1,
            "fields": {"y": 5, "z": "/* not a comment */ # nor this"},
        }
    ]
    assert_nothing_ran(tmp_path)


# ---------------------------------------------------------------------------------------------
# Hostile input events

FIELDS = """
stream S = X
    .emit(c: __class__, g: get, i: items, d: __dict__)

stream D = X
    .distinct()
    .print()
    .emit(c: __class__)

stream P = X
    .partition_by(__class__)
    .window(3)
    .aggregate(n: count(), k: last(__class__))
    .emit(n: n, p: _partition, k: __class__)

stream Q = __class__
    .emit(v: v)
"""


def test_hostile_field_names_and_types_in_json_input(tmp_path: Path) -> None:
    code = generate(FIELDS)
    events = (
        '{"event_type": "X", "fields": {"__class__": 1, "a\\"b": "x"}}\n'
        '{"event_type": "X", "fields": {"__class__": 1, "a\\"b": "y", "get": "G", "items": [1]}}\n'
        '{"event_type": "X", "fields": {"__class__": 1, "a\\"b": "x"}}\n'
        '{"event_type": "__class__", "fields": {"v": "\\"); import os #"}}\n'
        '{"event_type": "a\\"b", "fields": {"v": 1}}\n'
        '{"event_type": "X", "timestamp": 5, "fields": {"__dict__": {"__class__": "x"}}}\n'
    )
    outputs, stderr = run_module(tmp_path, code, events)
    assert by_stream(outputs) == {
        "S": [
            (0, {"c": 1}),
            (0, {"c": 1, "g": "G", "i": [1]}),
            (0, {"c": 1}),
            (5, {"d": {"__class__": "x"}}),
        ],
        # .distinct() keys on the whole event: the third event repeats the first.
        "D": [(0, {"c": 1}), (0, {"c": 1}), (5, {})],
        "P": [(0, {"n": 3, "p": "1", "k": 1})],
        "Q": [(0, {"v": '"); import os #'})],
    }
    assert '"a\\"b": "x"' in stderr  # .print() shows the whole event as JSON
    assert "rejected: 0" in stderr
    assert_nothing_ran(tmp_path)


# ---------------------------------------------------------------------------------------------
# Map literals whose keys look like VPL


def test_map_keys_that_spell_other_maps_are_not_confused(workdir: Path) -> None:
    # {"a: 1, b": x} has one entry, {a: 1, b: x} two: two different aggregate arguments.
    source = (
        "stream S = T\n"
        "    .window(2)\n"
        '    .aggregate(one: last(len({"a: 1, b": x})), two: last(len({a: 1, b: x})))\n'
        "    .emit(one: one, two: two)\n"
    )
    code = generate(source)
    outputs = run_pipeline(code, [("T", 0, {"x": 1}), ("T", 1, {"x": 2})])
    assert outputs == [{"stream": "S", "timestamp": 1, "fields": {"one": 1, "two": 2}}]


# ---------------------------------------------------------------------------------------------
# File names (they appear in the module's header, docstring and comments)


@pytest.mark.parametrize(
    "filename",
    [
        'quote"d.vpl',
        "it's.vpl",
        'triple"""quoted.vpl',
        "back\\slash.vpl",
        "new\nline.vpl",
        "carriage\rreturn.vpl",
        "x\nif 1:\n    open('PWNED', 'w')\n#.vpl",
    ],
    ids=["quote", "apostrophe", "triple-quote", "backslash", "newline", "cr", "code"],
)
def test_hostile_file_names(workdir: Path, filename: str) -> None:
    code = generate("stream S = T\n    .emit(a: a)\n", filename)
    assert run_pipeline(code, [("T", 0, {"a": 1})]) == [
        {"stream": "S", "timestamp": 0, "fields": {"a": 1}}
    ]
    assert_nothing_ran(workdir)


def test_vplc_run_on_a_file_with_a_newline_in_its_name(tmp_path: Path) -> None:
    name = "x\nif 1:\n    open('PWNED', 'w')\n#.vpl"
    (tmp_path / name).write_text("stream S = T\n    .emit(a: a)\n", encoding="utf-8")
    (tmp_path / "in.evt").write_text("T { a: 1 }\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "vplc.cli", "run", name, "in.evt"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in result.stderr
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"stream": "S", "timestamp": 0, "fields": {"a": 1}}
    assert_nothing_ran(tmp_path)


# ---------------------------------------------------------------------------------------------
# Hostile input lines: the same results whether orjson is installed or not (§1.2)

JSON_PROGRAM = """\
stream All = T
    .emit(i: i, v: v)

stream Win = T
    .window(1s)
    .aggregate(n: count(), first_i: first(i))
    .emit(n: n, first_i: first_i)
"""


def _nest(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _line(i: int, timestamp: bytes | None, v: bytes, rest: bytes = b"") -> bytes:
    ts = b"" if timestamp is None else b'"timestamp": ' + timestamp + b", "
    return b'{"event_type": "T", ' + ts + b'"fields": {"i": %d, "v": ' % i + v + b"}" + rest + b"}"


# (line, accepted?): the event object is level 1 of nesting and "fields" level 2, so `v`
# nested 254 deep makes 256 levels, the most accepted.
HOSTILE_LINES: list[tuple[bytes, bool]] = [
    (_line(1, b"1000", b"1"), True),
    (_line(2, b"1000", b"9223372036854775807"), True),
    (_line(3, b"1000", b"-9223372036854775808"), True),
    (_line(4, b"1000", b"9223372036854775808"), True),  # orjson: int, stdlib: int, spec: float
    (_line(5, b"1000", b"18446744073709551615"), True),
    (_line(6, b"1000", b"18446744073709551616"), True),
    (_line(7, b"1000", b"-9223372036854775809"), True),
    (_line(8, b"1000", b'[1, [9223372036854775808], {"k": 123456789012345678901234567890}]'), True),
    (_line(9, b"1000", b"1" + b"0" * 400), True),  # beyond f64: inf, written as null
    (_line(10, b"1000", b"7" * 5000), True),  # beyond int()'s 4,300 digits
    (_line(11, b"2000.0", b"11"), True),
    (_line(12, b"2e3", b"12"), True),
    (_line(13, b'"3000"', b"13"), False),
    (_line(14, b"true", b"14"), False),
    (_line(15, b"3000.5", b"15"), False),
    (_line(16, b"9223372036854775808", b"16"), False),
    (_line(17, b"-9223372036854775809", b"17"), False),
    (_line(18, b"1e19", b"18"), False),
    (_line(19, b"NaN", b"19"), False),
    (_line(20, b"Infinity", b"20"), False),
    (_line(21, None, b"21"), True),  # the batch time
    (_line(22, b"null", b"22"), True),
    (_line(23, b"4000", b"NaN", b', "x": [Infinity, -Infinity]'), True),
    (_line(24, b"4000", _nest(254)), True),
    (_line(25, b"4000", _nest(255)), False),
    (_line(26, b"4000", _nest(1000)), False),  # orjson alone would accept it
    (_line(27, b"4000", _nest(1030)), False),
    (_line(28, b"4000", _nest(100_000)), False),
    (_line(29, b"4000", b'"caf\xe9"'), False),  # invalid UTF-8
    (_line(30, b"4000", b'"\\ud800"'), True),  # a lone surrogate: orjson refuses it
    (_line(31, b"4000", b'1, "v": 2'), True),  # duplicate keys: the last wins
    (b'{"event_type": "T", "timestamp": 4000, "fields": {"i": 32}, "fields": {"i": 320}}', True),
    (b'{"event_type": "T", "timestamp": 4000, "fields": [33]}', False),
    (b'{"event_type": "T", "timestamp": 4000, "fields": "34"}', False),
    (b'{"event_type": "T", "timestamp": 4000, "fields": null}', False),
    (b'{"event_type": "T", "timestamp": 4000, "data": 36}', False),
    (b'{"event_type": "T", "timestamp": 4000, "fields": {"i": 37}} trailing', False),
    (_line(38, b"4000", b'"12345678901234567890123"'), True),  # a long number in a string
    (_line(39, b"4000", b"0.1000000000000000055511151231257827"), True),
    (_line(40, b"4000", b'"' + b"x" * 600 + b'"'), True),  # long, not deep
    (_line(41, b"4000", b"[" + b"[[]], " * 300 + b"[]]"), True),  # many brackets, not deep
    (_line(42, b"4000", b"[" + b"[1]," * 300 + b" 9223372036854775808]"), True),
    (b'@5s {"event_type": "T", "timestamp": "x", "fields": {"i": 43, "v": 1e400}}', True),
    (b'@6s {"event_type": "T", "timestamp": 1, "fields": {"i": 44, "v": 2}};', True),
    (_line(45, b"7000", b"45") + b";", True),
    (b"T { i: 46, v: 9223372036854775808 }", True),  # .evt text: the same rule
    (b"@8s T { i: 47, v: 47 }", True),
    (b"T { i: 48, v: " + b"1" * 5000 + b" }", True),
]


def _run_hostile(directory: Path, stdlib: bool, how: str) -> tuple[int, bytes, bytes]:
    """Run the module on HOSTILE_LINES: from a file, from a file whose lines each sit in a
    read block of their own (64 KiB comment lines between them), or from stdin."""
    lines = [line for line, _ in HOSTILE_LINES]
    if how == "spaced":
        lines = [part for line in lines for part in (line, b"#" + b" " * 70_000)]
    data = b"\n".join(lines) + b"\n"
    (directory / "events.evt").write_bytes(data)
    args = ["-"] if how == "stdin" else ["events.evt"]
    # Without orjson: importing it fails, as where it is not installed.
    hide = "import sys; sys.modules['orjson'] = None; " if stdlib else "import sys; "
    runner = hide + "import runpy; sys.argv[:1] = []; runpy.run_path(sys.argv[0], run_name='__main__')"
    result = subprocess.run(
        [sys.executable, "-c", runner, "hostile.py", *args],
        cwd=directory,
        input=data if how == "stdin" else None,
        capture_output=True,
        timeout=120,
    )
    return result.returncode, result.stdout, result.stderr


def test_hostile_json_lines_give_the_same_results_with_orjson_and_the_stdlib(
    tmp_path: Path,
) -> None:
    """§1.2: "The JSON library used (stdlib or orjson) never changes a value or a decision":
    every input path (file, stdin, the orjson fast path of the read loop and the general
    parser, blocks with and without long numbers), byte for byte, summary included."""
    pytest.importorskip("orjson")
    (tmp_path / "hostile.py").write_text(generate(JSON_PROGRAM), encoding="utf-8")
    runs = {
        (stdlib, how): _run_hostile(tmp_path, stdlib, how)
        for stdlib in (False, True)
        for how in ("file", "spaced", "stdin")
    }
    status, out, err = runs[(True, "file")]
    for (stdlib, how), (other_status, other_out, other_err) in runs.items():
        if how == "stdin":
            other_err = other_err.replace(b"<stdin>:", b"events.evt:")
        if how == "spaced":  # every line but the first is one comment line further down
            other_err = re.sub(
                rb"^events.evt:(\d+):",
                lambda m: b"events.evt:%d:" % ((int(m.group(1)) + 1) // 2),
                other_err,
                flags=re.M,
            )
        assert (other_status, other_out, other_err) == (status, out, err), (stdlib, how)

    # And the results are those of §1.2.
    accepted = [i for i, (_, ok) in enumerate(HOSTILE_LINES, 1) if ok]
    rejected = [i for i, (_, ok) in enumerate(HOSTILE_LINES, 1) if not ok]
    assert status == 3
    messages = err.decode(errors="replace").splitlines()
    assert messages[-1] == (
        f"events in: {len(HOSTILE_LINES)}, processed: {len(accepted)}, rejected: {len(rejected)}"
    )
    assert [int(m.split(":")[1]) for m in messages[:-1]] == rejected
    outputs = [json.loads(line) for line in out.splitlines()]
    values = {o["fields"]["i"]: o["fields"].get("v") for o in outputs if o["stream"] == "All"}
    # line 32's second "fields" wins
    assert sorted(values) == sorted([i for i in accepted if i != 32] + [320])
    for i in (2, 3):
        assert type(values[i]) is int
    for i in (4, 5, 6, 7, 46):
        assert type(values[i]) is float, i
    assert values[8] == [1, [9.223372036854776e18], {"k": 1.2345678901234568e29}]
    assert values[9] is None and values[10] is None and values[48] is None
    assert values[42][-1] == 9.223372036854776e18
    windows = [o for o in outputs if o["stream"] == "Win"]
    # 2000.0 and 2e3 are 2000 ms: they close the first window (as 0 they used to join it);
    # lines 21 and 22 (batch time 0) are late and join the second one, stamped 0 (D7).
    assert windows[0] == {"stream": "Win", "timestamp": 1000, "fields": {"n": 10, "first_i": 1}}
    assert windows[1] == {"stream": "Win", "timestamp": 0, "fields": {"n": 4, "first_i": 11}}

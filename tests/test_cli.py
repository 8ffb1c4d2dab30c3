"""End-to-end tests of the `vplc` command (SEMANTICS §1 I/O contract, §9 diagnostics).

Every subcommand runs in a subprocess (`python -m vplc.cli ...`), as a user would run it,
except where a test needs to inject a fault or to run many programs quickly: those call
`vplc.cli.main([...])` in-process. Exit codes: 0 ok, 1 compile errors, 2 usage errors,
3 input lines rejected, 4 pipeline failed at run time, 70 internal compiler error.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import vpl_runtime.values
import vplc
from vplc import cli
from vplc.diagnostics import CompileError
from vplc.frontend.parser import parse

# A program whose event type is declared, so that `check` prints nothing for it.
PROGRAM = """\
event Order:
    id: int
    amount: float
    sym: str

stream Big = Order
    .where(amount > 100.0)
    .emit(id: id, amount: amount)

stream PerSym = Order
    .partition_by(sym)
    .window(3)
    .aggregate(n: count(), total: sum(amount))
    .emit(sym: sym, n: n, total: total)
"""

EVENTS = """\
@0 Order { id: 1, amount: 150.0, sym: "A" }
@10 Order { id: 2, amount: 50.0, sym: "A" }
@20 Order { id: 3, amount: 200.5, sym: "A" }
"""

# Worked out by hand from SEMANTICS §5-§7: ids 1 and 3 pass the filter; the third event
# of partition "A" fills its count window (timestamp of the last event, D7; sum is a float).
EXPECTED = [
    {"stream": "Big", "timestamp": 0, "fields": {"id": 1, "amount": 150.0}},
    {"stream": "Big", "timestamp": 20, "fields": {"id": 3, "amount": 200.5}},
    {"stream": "PerSym", "timestamp": 20, "fields": {"sym": "A", "n": 3, "total": 400.5}},
]

# The same events with two malformed lines (3 and 5) and ignored lines around them.
EVENTS_WITH_BAD_LINES = """\
@0 Order { id: 1, amount: 150.0, sym: "A" }
@10 Order { id: 2, amount: 50.0, sym: "A" }
this is not an event
# a comment line is ignored, not counted
@1h Order { id: 9, amount: 999.0, sym: "B" }

@20 Order { id: 3, amount: 200.5, sym: "A" }
"""
BAD_LINES = ["this is not an event", '@1h Order { id: 9, amount: 999.0, sym: "B" }']

SUMMARY = re.compile(r"^events in: (\d+), processed: (\d+), rejected: (\d+)$", re.MULTILINE)


def vplc_cmd(
    *args: str, cwd: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m vplc.cli ARGS` in `cwd`; stdin is empty unless given."""
    return subprocess.run(
        [sys.executable, "-m", "vplc.cli", *args],
        cwd=cwd,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=120,
    )


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def json_lines(text: str) -> list[Any]:
    return [json.loads(line) for line in text.splitlines()]


def summary(stderr: str) -> tuple[int, int, int]:
    """(events in, processed, rejected) of the one summary line, checking N = P + R."""
    found = SUMMARY.findall(stderr)
    assert len(found) == 1, stderr
    n, p, r = (int(x) for x in found[0])
    assert n == p + r, stderr
    return n, p, r


def assert_no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr
    assert "internal compiler error" not in stderr, stderr
    for lark_leak in ("lark.", "UnexpectedToken", "UnexpectedCharacters", "UnexpectedEOF"):
        assert lark_leak not in stderr, stderr


def run_in_process(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(argv)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(tmp_path, "prog.vpl", PROGRAM)
    write(tmp_path, "events.evt", EVENTS)
    write(tmp_path, "bad.evt", EVENTS_WITH_BAD_LINES)
    return tmp_path


# ---------------------------------------------------------------------------------------------
# Global options and usage errors


def test_version(tmp_path: Path) -> None:
    result = vplc_cmd("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"vplc {vplc.__version__}"


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["frobnicate", "prog.vpl"],
        ["check"],
        ["check", "--no-such-option", "prog.vpl"],
        ["compile", "prog.vpl", "extra.vpl"],
    ],
    ids=["no-command", "unknown-command", "missing-program", "unknown-option", "extra-arg"],
)
def test_usage_errors_exit_2(project: Path, args: list[str]) -> None:
    result = vplc_cmd(*args, cwd=project)
    assert result.returncode == 2, result.stderr
    assert "usage: vplc" in result.stderr
    assert result.stdout == ""
    assert_no_traceback(result.stderr)


@pytest.mark.parametrize("command", ["check", "compile", "plan", "run"])
def test_missing_program_file_is_a_usage_error(tmp_path: Path, command: str) -> None:
    result = vplc_cmd(command, "nowhere.vpl", cwd=tmp_path)
    assert result.returncode == 2
    assert "nowhere.vpl" in result.stderr
    assert result.stdout == ""
    assert_no_traceback(result.stderr)


def test_program_that_is_a_directory_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "dir.vpl").mkdir()
    result = vplc_cmd("check", "dir.vpl", cwd=tmp_path)
    assert result.returncode == 2
    assert "dir.vpl" in result.stderr
    assert_no_traceback(result.stderr)


def test_program_that_is_not_utf8_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "latin1.vpl").write_bytes(b'stream S = T .emit(a: "caf\xe9")\n')
    result = vplc_cmd("check", "latin1.vpl", cwd=tmp_path)
    assert result.returncode == 2
    assert "latin1.vpl" in result.stderr
    assert_no_traceback(result.stderr)


def _one_error_line(stderr: str, path: str, reason: str) -> None:
    """stderr is warnings (if any) then one `vplc: error:` line naming `path` and `reason`."""
    errors = [line for line in stderr.splitlines() if line.startswith("vplc: error:")]
    assert errors == [f"vplc: error: {errors[0].split(': ', 2)[2]}"], stderr
    assert f"'{path}'" in errors[0] and reason in errors[0], stderr
    assert_no_traceback(stderr)


@pytest.mark.parametrize("command", ["check", "compile", "plan", "graph", "run"])
def test_unreadable_program_is_one_line_naming_the_os_reason(tmp_path: Path, command: str) -> None:
    (tmp_path / "dir.vpl").mkdir()
    result = vplc_cmd(command, "dir.vpl", cwd=tmp_path)
    assert result.returncode == 2
    _one_error_line(result.stderr, "dir.vpl", "Is a directory")
    result = vplc_cmd(command, "gone.vpl", cwd=tmp_path)
    assert result.returncode == 2
    _one_error_line(result.stderr, "gone.vpl", "No such file or directory")


def test_non_utf8_program_names_the_byte(tmp_path: Path) -> None:
    (tmp_path / "latin1.vpl").write_bytes(b'stream S = T .emit(a: "caf\xe9")\n')
    result = vplc_cmd("compile", "latin1.vpl", cwd=tmp_path)
    assert result.returncode == 2
    _one_error_line(result.stderr, "latin1.vpl", "not UTF-8 text (byte 0xe9 at offset 26)")


@pytest.mark.parametrize(
    ("output", "reason"),
    [("missing/dir/x.py", "No such file or directory"), (".", "Is a directory")],
    ids=["missing-directory", "directory"],
)
def test_compile_to_unwritable_output_is_one_line_exit_2(
    project: Path, output: str, reason: str
) -> None:
    result = vplc_cmd("compile", "prog.vpl", "-o", output, cwd=project)
    assert result.returncode == 2
    assert result.stdout == ""
    _one_error_line(result.stderr, output, reason)


@pytest.mark.parametrize("args", [["run", "--help"], ["run", "-h"]])
def test_run_help_without_program_shows_run_usage(tmp_path: Path, args: list[str]) -> None:
    result = vplc_cmd(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: vplc run PROGRAM [OPTION ...] [INPUT ...]\n")
    assert_no_traceback(result.stderr)


def test_run_without_program_is_a_usage_error(tmp_path: Path) -> None:
    result = vplc_cmd("run", cwd=tmp_path)
    assert result.returncode == 2
    assert "usage: vplc run PROGRAM" in result.stderr


def test_run_program_help_shows_the_command_typed(project: Path) -> None:
    result = vplc_cmd("run", "prog.vpl", "--help", cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: vplc run prog.vpl [-h]"), result.stdout
    assert "--dead-letter" in result.stdout


# ---------------------------------------------------------------------------------------------
# check: diagnostics


def test_check_clean_program_prints_nothing(project: Path) -> None:
    result = vplc_cmd("check", "prog.vpl", cwd=project)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_unknown_field_of_declared_event_is_reported_exactly(tmp_path: Path) -> None:
    write(tmp_path, "typo.vpl", PROGRAM.replace(".where(amount > 100.0)", ".where(amout > 100.0)"))
    result = vplc_cmd("check", "typo.vpl", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "typo.vpl:7:12: error: E020 event 'Order' has no field 'amout' (did you mean 'amount'?)\n"
        "        .where(amout > 100.0)\n"
        "               ^~~~~\n"
    )


def test_parse_error_is_reported_exactly(tmp_path: Path) -> None:
    write(tmp_path, "broken.vpl", "stream S = T\n    .where(x > )\n    .emit(a: x)\n")
    result = vplc_cmd("check", "broken.vpl", cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert re.fullmatch(r"broken\.vpl:2:16: error: PARSE \S.*", lines[0]), lines[0]
    assert lines[1:] == ["        .where(x > )", "                   ^"]
    assert_no_traceback(result.stderr)


MANY_ERRORS = """\
event X:
    y: int
event Y:
    y: int

stream A = X
    .where(y > 1)
    .emit(v: yy)
stream A = Y
stream B = X .context(nope)
stream C = X .window(5s) .window(3s)
stream D = X .having(y > 1)
"""


def test_every_error_is_reported_in_position_order(tmp_path: Path) -> None:
    write(tmp_path, "many.vpl", MANY_ERRORS)
    result = vplc_cmd("check", "many.vpl", cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    # Each diagnostic is exactly three lines: header, source line, caret line.
    assert len(lines) == 15, result.stderr
    headers = [re.match(r"many\.vpl:(\d+):(\d+): error: (\w+) ", h) for h in lines[::3]]
    assert all(headers), result.stderr
    found = [(int(m[1]), int(m[2]), m[3]) for m in headers if m]
    assert found == [
        (8, 14, "E020"),
        (9, 8, "E002"),
        (10, 23, "E031"),
        (11, 27, "E012"),
        (12, 15, "E010"),
    ]
    assert "(did you mean 'y'?)" in lines[0]
    for header, source, caret in zip(lines[::3], lines[1::3], lines[2::3], strict=True):
        line, column = (int(x) for x in header.split(":")[1:3])
        assert source == "    " + MANY_ERRORS.splitlines()[line - 1]
        assert re.fullmatch(r" {4}( *)\^~*", caret), caret
        assert caret.index("^") == 4 + column - 1


def test_caret_points_at_the_offending_token(tmp_path: Path) -> None:
    write(tmp_path, "many.vpl", MANY_ERRORS)
    stderr = vplc_cmd("check", "many.vpl", cwd=tmp_path).stderr
    lines = stderr.splitlines()
    underlined = []
    for source, caret in zip(lines[1::3], lines[2::3], strict=True):
        start = caret.index("^")
        underlined.append(source[start : len(caret)])
    assert underlined == ["yy", "A", "nope", "window", "having"]


def test_warnings_do_not_fail_check(tmp_path: Path) -> None:
    write(tmp_path, "warn.vpl", "stream S = Tick\n    .where(price > 1)\n    .emit(p: price)\n")
    result = vplc_cmd("check", "warn.vpl", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stderr == (
        "warn.vpl:1:12: warning: W030 'Tick' is neither a declared event type nor a stream\n"
        "    stream S = Tick\n"
        "               ^~~~\n"
    )


def test_warnings_and_errors_are_interleaved_by_position(tmp_path: Path) -> None:
    source = "stream S = Tick .emit(p: price)\nstream S = Tock .emit(q: 1)\n"
    write(tmp_path, "mixed.vpl", source)
    result = vplc_cmd("check", "mixed.vpl", cwd=tmp_path)
    assert result.returncode == 1
    headers = [line for line in result.stderr.splitlines() if line.startswith("mixed.vpl:")]
    assert [h.split(" ")[0:3] for h in headers] == [
        ["mixed.vpl:1:12:", "warning:", "W030"],
        ["mixed.vpl:2:8:", "error:", "E002"],
        ["mixed.vpl:2:12:", "warning:", "W030"],
    ]


def test_caret_lines_up_under_tabs(tmp_path: Path) -> None:
    write(tmp_path, "tabs.vpl", "event E:\n\ta: int\nstream S = E\n\t.where(\tb > 1)\n")
    result = vplc_cmd("check", "tabs.vpl", cwd=tmp_path)
    assert result.returncode == 1
    header, source, caret = result.stderr.splitlines()[:3]
    assert header.startswith("tabs.vpl:4:10: error: E020 ")
    assert source[caret.index("^")] == "b"
    assert "\t" not in source


@pytest.mark.parametrize(
    "first_line",
    [
        'stream S = T .emit(a: "x\u2028y")',  # LINE SEPARATOR inside a string literal
        'stream S = T .emit(a: "x\x85y")',  # NEXT LINE inside a string literal
        "stream S = T\x0c.emit(a: 1)",  # form feed as whitespace
    ],
    ids=["u2028", "nel", "formfeed"],
)
def test_source_line_shown_is_the_reported_line(tmp_path: Path, first_line: str) -> None:
    # Line numbers count "\n" only; the quoted source line must be that same line even
    # when an earlier line holds characters that str.splitlines() treats as line breaks.
    path = write(tmp_path, "sep.vpl", first_line + "\nstream S = U\n")
    status, _, err = run_in_process(["check", str(path)])
    assert status == 1
    lines = err.splitlines()
    index = next(i for i, line in enumerate(lines) if "E002" in line)
    assert lines[index].startswith(f"{path}:2:8: error: E002 ")
    assert lines[index + 1] == "    stream S = U"
    assert lines[index + 2] == "           ^"


@pytest.mark.parametrize(
    "source",
    [
        'stream S = T .emit(a: "abc)\n',
        "stream S = T .emit(a: 1) /* never closed\n",
        "stream S = T .emit(a: 1)\x00\n",
        "stream\n",
        "stream S = T .where(1 < 2 < 3)\n",
        "stream S = T .emit(a: 1 ?? 2)\n",
        'stream S = T .emit(a: "bad \\q escape")\n',
        "stream S = T .where(x > 1) // not a comment\n",
        "\ufeffstream S = T .emit(a: 1)\n",
        "stream S = T .emit(a: " + "(" * 150 + "x" + ")" * 150 + ")\n",
    ],
    ids=[
        "unterminated-string",
        "unterminated-comment",
        "nul",
        "eof",
        "chained-compare",
        "coalesce",
        "bad-escape",
        "slash-comment",
        "bom",
        "deep-parens",
    ],
)
def test_bad_or_odd_programs_never_show_a_traceback(tmp_path: Path, source: str) -> None:
    path = write(tmp_path, "odd.vpl", source)
    status, out, err = run_in_process(["check", str(path)])
    assert status in (0, 1)
    assert out == ""
    assert_no_traceback(err)
    if status == 1:
        assert err.startswith(f"{path}:"), err
        assert re.match(r"\d+:\d+: error: \w+ ", err[len(str(path)) + 1 :]), err


@pytest.mark.parametrize(
    ("operator", "terms"), [("+", 250), ("+", 700), ("and", 700)], ids=["sum250", "sum700", "and700"]
)
def test_long_expressions_compile_to_a_working_module_or_fail_cleanly(
    tmp_path: Path, operator: str, terms: int
) -> None:
    # A machine-written program can hold a long chain of operators; the compiler must
    # neither overflow its own stack nor produce a module Python refuses to load
    # ("too many nested parentheses").
    leaf = "(x > 0)" if operator == "and" else "x"
    write(
        tmp_path,
        "long.vpl",
        f"stream S = T\n    .emit(a: {f' {operator} '.join([leaf] * terms)})\n",
    )
    write(tmp_path, "one.evt", "T { x: 1 }\n")
    result = vplc_cmd("run", "long.vpl", "one.evt", cwd=tmp_path)
    assert_no_traceback(result.stderr)
    if result.returncode == 1:
        assert re.match(r"long\.vpl:\d+:\d+: error: \w+ ", result.stderr), result.stderr
        return
    assert result.returncode == 0, result.stderr
    value = terms if operator == "+" else True
    assert json_lines(result.stdout) == [{"stream": "S", "timestamp": 0, "fields": {"a": value}}]


# ---------------------------------------------------------------------------------------------
# compile


def test_compile_to_stdout(project: Path) -> None:
    result = vplc_cmd("compile", "prog.vpl", cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    first = result.stdout.splitlines()[0]
    assert first == f"# Generated by vplc {vplc.__version__} from prog.vpl. DO NOT EDIT."
    compile(result.stdout, "prog.py", "exec")  # valid Python


def test_compile_output_file_runs_like_vplc_run(project: Path) -> None:
    result = vplc_cmd("compile", "prog.vpl", "-o", "prog.py", cwd=project)
    assert (result.returncode, result.stdout) == (0, "")
    module = subprocess.run(
        [sys.executable, "prog.py", "events.evt"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    run = vplc_cmd("run", "prog.vpl", "events.evt", cwd=project)
    assert module.returncode == run.returncode == 0
    assert json_lines(module.stdout) == EXPECTED
    assert module.stdout == run.stdout
    assert summary(module.stderr) == summary(run.stderr) == (3, 3, 0)


def test_compile_output_file_rejects_lines_like_vplc_run(project: Path) -> None:
    assert vplc_cmd("compile", "prog.vpl", "-o", "prog.py", cwd=project).returncode == 0
    module = subprocess.run(
        [sys.executable, "prog.py", "bad.evt"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    run = vplc_cmd("run", "prog.vpl", "bad.evt", cwd=project)
    assert module.returncode == run.returncode == 3
    assert module.stdout == run.stdout
    assert module.stderr == run.stderr


def test_compile_is_deterministic(project: Path) -> None:
    first = vplc_cmd("compile", "prog.vpl", cwd=project).stdout
    second = vplc_cmd("compile", "prog.vpl", cwd=project).stdout
    assert first == second


def test_compile_standalone_needs_only_python(project: Path) -> None:
    result = vplc_cmd("compile", "prog.vpl", "--standalone", "-o", "alone.py", cwd=project)
    assert result.returncode == 0, result.stderr
    # -S: no site-packages, so neither vplc nor vpl_runtime can be imported; -E: no
    # PYTHONPATH. The module must still run, from another directory.
    elsewhere = project / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "alone.py").write_text((project / "alone.py").read_text())
    (elsewhere / "events.evt").write_text(EVENTS)
    probe = subprocess.run(
        [sys.executable, "-S", "-E", "-c", "import vpl_runtime"], cwd=elsewhere, capture_output=True
    )
    assert probe.returncode != 0, "vpl_runtime must not be importable in this check"
    module = subprocess.run(
        [sys.executable, "-S", "-E", "alone.py", "events.evt"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert module.returncode == 0, module.stderr
    assert json_lines(module.stdout) == EXPECTED


def test_compile_bad_program_writes_no_module(tmp_path: Path) -> None:
    write(tmp_path, "many.vpl", MANY_ERRORS)
    result = vplc_cmd("compile", "many.vpl", "-o", "many.py", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert not (tmp_path / "many.py").exists()
    assert "E002" in result.stderr


def test_compile_with_warnings_succeeds_and_reports_them(tmp_path: Path) -> None:
    write(tmp_path, "warn.vpl", "stream S = Tick .emit(p: price)\n")
    result = vplc_cmd("compile", "warn.vpl", "-o", "warn.py", cwd=tmp_path)
    assert result.returncode == 0
    assert "warning: W030" in result.stderr
    assert (tmp_path / "warn.py").exists()


# ---------------------------------------------------------------------------------------------
# plan


def test_plan_mentions_streams_and_routes(project: Path) -> None:
    result = vplc_cmd("plan", "prog.vpl", cwd=project)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "Big" in text and "PerSym" in text
    assert "routes:" in text
    assert re.search(r"^\s*Order -> Big, PerSym$", text, re.MULTILINE), text
    assert text.index("Big") < text.index("PerSym")  # declaration order
    assert vplc_cmd("plan", "prog.vpl", cwd=project).stdout == text  # deterministic


def test_plan_of_bad_program_fails(tmp_path: Path) -> None:
    write(tmp_path, "many.vpl", MANY_ERRORS)
    result = vplc_cmd("plan", "many.vpl", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""


# ---------------------------------------------------------------------------------------------
# run


def test_run_clean_input(project: Path) -> None:
    result = vplc_cmd("run", "prog.vpl", "events.evt", cwd=project)
    assert result.returncode == 0, result.stderr
    assert json_lines(result.stdout) == EXPECTED
    assert summary(result.stderr) == (3, 3, 0)


def test_run_output_is_exact_json_lines(project: Path) -> None:
    result = vplc_cmd("run", "prog.vpl", "events.evt", cwd=project)
    assert result.stdout.splitlines()[0] == (
        '{"stream": "Big", "timestamp": 0, "fields": {"id": 1, "amount": 150.0}}'
    )


def test_run_malformed_lines_exit_3(project: Path) -> None:
    result = vplc_cmd("run", "prog.vpl", "bad.evt", cwd=project)
    assert result.returncode == 3
    assert json_lines(result.stdout) == EXPECTED  # the valid lines are processed normally
    rejected = [line for line in result.stderr.splitlines() if line.startswith("bad.evt:")]
    assert [line.split(":")[1] for line in rejected] == ["3", "5"]
    assert all(re.match(r"bad\.evt:\d+: \S", line) for line in rejected)
    assert summary(result.stderr) == (5, 3, 2)
    assert_no_traceback(result.stderr)


def test_run_with_several_inputs_counts_lines_per_input(project: Path) -> None:
    result = vplc_cmd("run", "prog.vpl", "bad.evt", "bad.evt", cwd=project)
    assert result.returncode == 3
    rejected = [line.split(": ")[0] for line in result.stderr.splitlines() if "bad.evt:" in line]
    assert rejected == ["bad.evt:3", "bad.evt:5", "bad.evt:3", "bad.evt:5"]
    assert summary(result.stderr) == (10, 6, 4)


def test_run_dead_letter(project: Path) -> None:
    result = vplc_cmd("run", "prog.vpl", "--dead-letter", "dead.txt", "bad.evt", cwd=project)
    assert result.returncode == 3
    assert (project / "dead.txt").read_text() == "".join(line + "\n" for line in BAD_LINES)


def test_run_dead_letter_is_created_empty(project: Path) -> None:
    (project / "dead.txt").write_text("stale\n")
    result = vplc_cmd("run", "prog.vpl", "--dead-letter", "dead.txt", "events.evt", cwd=project)
    assert result.returncode == 0
    assert (project / "dead.txt").read_text() == ""


def test_run_output_file(project: Path) -> None:
    result = vplc_cmd("run", "prog.vpl", "--output", "out.jsonl", "events.evt", cwd=project)
    assert result.returncode == 0
    assert result.stdout == ""
    assert json_lines((project / "out.jsonl").read_text()) == EXPECTED
    assert summary(result.stderr) == (3, 3, 0)


def test_run_stats(project: Path) -> None:
    result = vplc_cmd("run", "prog.vpl", "--stats", "events.evt", cwd=project)
    assert result.returncode == 0
    assert json_lines(result.stdout) == EXPECTED  # stats never go to stdout
    stats = result.stderr.split("events in:")[0]
    for stream in ("Big", "PerSym"):
        assert re.search(rf"^{stream}\s", stats, re.MULTILINE), stats
    assert summary(result.stderr) == (3, 3, 0)


CHAIN_PROGRAM = """\
event Order:
    id: int
    amount: float

stream A = Order
    .watermark(out_of_order: 0s)
    .allowed_lateness(0s)
    .where(amount > 100.0)
    .emit(id: id, amount: amount)
stream B = A
    .emit(id: id, big: amount > 120.0)
stream C = B
    .where(big)
    .emit(id: id)
"""

# @5 is late (dropped); `A { ... }` is an input event typed like stream A: B and C get it.
CHAIN_EVENTS = """\
@0 Order { id: 1, amount: 150.0 }
@10 Order { id: 2, amount: 50.0 }
@20 Order { id: 3, amount: 110.0 }
@5 Order { id: 4, amount: 200.0 }
@30 A { id: 9, amount: 130.0 }
"""


def test_run_stats_of_streams_run_in_place(tmp_path: Path) -> None:
    """`push` runs A, B and C in place (D37): --stats counts them at the ingress and at
    the emitters, late events excepted, and prints the output of a run without --stats."""
    write(tmp_path, "prog.vpl", CHAIN_PROGRAM)
    write(tmp_path, "events.evt", CHAIN_EVENTS)
    plain = vplc_cmd("run", "prog.vpl", "events.evt", cwd=tmp_path)
    counted = vplc_cmd("run", "prog.vpl", "--stats", "events.evt", cwd=tmp_path)
    assert plain.returncode == counted.returncode == 0, counted.stderr
    assert [line["fields"]["id"] for line in json_lines(plain.stdout)] == [1, 1, 1, 3, 3, 9, 9]
    assert counted.stdout == plain.stdout
    rows = {
        m.group(1): (int(m.group(2)), int(m.group(3)))
        for m in re.finditer(r"^([ABC])\s+(\d+)\s+(\d+)\s", counted.stderr, re.MULTILINE)
    }
    assert rows == {"A": (3, 2), "B": (3, 3), "C": (3, 2)}


@pytest.mark.parametrize("inputs", [["-"], []], ids=["dash", "no-input"])
def test_run_reads_stdin(project: Path, inputs: list[str]) -> None:
    result = vplc_cmd("run", "prog.vpl", *inputs, cwd=project, stdin=EVENTS_WITH_BAD_LINES)
    assert result.returncode == 3
    assert json_lines(result.stdout) == EXPECTED
    rejected = [line.split(": ")[0] for line in result.stderr.splitlines() if ">:" in line]
    assert rejected == ["<stdin>:3", "<stdin>:5"]
    assert summary(result.stderr) == (5, 3, 2)


def test_run_json_lines_input(project: Path) -> None:
    events = "".join(
        json.dumps({"event_type": "Order", "timestamp": t, "fields": fields}) + "\n"
        for t, fields in [
            (0, {"id": 1, "amount": 150.0, "sym": "A"}),
            (10, {"id": 2, "amount": 50.0, "sym": "A"}),
            (20, {"id": 3, "amount": 200.5, "sym": "A"}),
        ]
    )
    write(project, "events.jsonl", events)
    result = vplc_cmd("run", "prog.vpl", "events.jsonl", cwd=project)
    assert result.returncode == 0, result.stderr
    assert json_lines(result.stdout) == EXPECTED


def test_run_missing_input_file(project: Path) -> None:
    result = vplc_cmd("run", "prog.vpl", "absent.evt", cwd=project)
    assert result.returncode == 2
    assert "absent.evt" in result.stderr
    assert result.stdout == ""
    assert_no_traceback(result.stderr)


def test_run_unknown_module_option(project: Path) -> None:
    result = vplc_cmd("run", "prog.vpl", "--no-such-option", "events.evt", cwd=project)
    assert result.returncode == 2
    assert result.stdout == ""
    assert_no_traceback(result.stderr)


def test_run_bad_program_exit_1(tmp_path: Path) -> None:
    write(tmp_path, "many.vpl", MANY_ERRORS)
    write(tmp_path, "events.evt", 'X { y: 2 }\n')
    result = vplc_cmd("run", "many.vpl", "events.evt", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "events in:" not in result.stderr


def test_run_pipeline_failure_exit_4(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fault injection: the generated module imports `v_add` from the runtime when `run`
    # executes it, and string operands take that general path (numbers are added inline),
    # so a failing `v_add` makes the pipeline raise on the second line.
    write(tmp_path, "add.vpl", "stream S = T .emit(a: x + y)\n")
    write(tmp_path, "in.evt", '# header\nT { x: "a", y: "b" }\n')

    def boom(a: object, b: object) -> object:
        raise RuntimeError("injected failure")

    monkeypatch.setattr(vpl_runtime.values, "v_add", boom)
    status, out, err = run_in_process(["run", str(tmp_path / "add.vpl"), str(tmp_path / "in.evt")])
    assert status == 4
    assert out == ""
    assert f"{tmp_path / 'in.evt'}:2: error: pipeline failed" in err
    assert "injected failure" in err


def test_internal_error_exit_70(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(source: str, filename: str) -> object:
        raise ValueError("compiler bug")

    monkeypatch.setattr(cli, "analyse", broken)
    write(tmp_path, "p.vpl", PROGRAM)
    status, out, err = run_in_process(["check", str(tmp_path / "p.vpl")])
    assert status == 70
    assert out == ""
    assert "internal compiler error" in err
    assert "report" in err


# ---------------------------------------------------------------------------------------------
# Fuzz: mutated programs never crash the checker

FUZZ_BASE = """\
# orders pipeline
event Order:
    id: int
    amount: float
    sym: str
    tags: [str]?

const threshold = 100.0
let label = "big \\"order\\"\\n"

context fast (cores: [0])

stream Big = Order
    .where(amount > threshold and not (sym == "X"))   # comment
    .select(id, amt: amount * 2, s: sym)
    .emit(id: id, amount: amt, tag: label)

/* block
   comment */
stream PerSym = Order
    .partition_by(sym)
    .window(5s, sliding: 1s)
    .aggregate(n: count(), total: sum(amount), avg: avg(amount), p: percentile(amount, 50))
    .having(n > 1)
    .emit(sym: sym, n: n, total: total, ratio: total / n)

stream Both = merge(stream A = Order .where(amount < 10.0), stream B = Big)
    .context(fast)
    .distinct(id)
    .limit(10)
    .emit(id: id, x: if id > 2 then [1, 2][0] else {"k": 1}["k"])

stream Sess = Order
    .window(session: 30s)
    .aggregate(first: first(id), last: last(id), c: count_distinct(sym))
    .emit(a: first, b: last, c: c)
"""


def _mutate(source: str, rng: random.Random) -> str:
    chars = list(source)
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(chars))
        match rng.choice(("delete", "duplicate", "swap")):
            case "delete":
                del chars[i]
            case "duplicate":
                chars.insert(i, chars[i])
            case _:
                j = min(i + 1, len(chars) - 1)
                chars[i], chars[j] = chars[j], chars[i]
    return "".join(chars)


def test_fuzz_base_program_is_valid(tmp_path: Path) -> None:
    path = write(tmp_path, "base.vpl", FUZZ_BASE)
    status, _, err = run_in_process(["check", str(path)])
    assert status == 0, err


def test_fuzz_mutations_never_crash_check(tmp_path: Path) -> None:
    rng = random.Random(20261128)
    path = tmp_path / "mutant.vpl"
    statuses = set()
    for n in range(200):
        mutant = _mutate(FUZZ_BASE, rng)
        path.write_text(mutant, encoding="utf-8")
        status, _, err = run_in_process(["check", str(path)])
        context = f"mutation {n}:\n{mutant}\n--- stderr:\n{err}"
        assert status in (0, 1), context
        assert "Traceback" not in err, context
        assert "internal compiler error" not in err, context
        if status == 1:
            assert re.search(r"mutant\.vpl:\d+:\d+: error: \w+ ", err), context
        statuses.add(status)
    assert statuses == {0, 1}  # the mutations exercise both outcomes


def test_undeclared_event_type_is_one_warning_for_many_streams(tmp_path: Path) -> None:
    source = "".join(f"stream S{i} = Tick .emit(p: price)\n" for i in range(5))
    write(tmp_path, "many.vpl", source)
    result = vplc_cmd("check", "many.vpl", cwd=tmp_path)
    assert result.returncode == 0
    headers = [line for line in result.stderr.splitlines() if line.startswith("many.vpl:")]
    assert headers == [
        "many.vpl:1:13: warning: W030 'Tick' is neither a declared event type nor a stream"
    ]


def test_missing_paren_also_points_at_the_unclosed_one(tmp_path: Path) -> None:
    write(tmp_path, "open.vpl", "stream s = A\n    .where(x > (1 + 2\n    .emit(x)\n")
    result = vplc_cmd("check", "open.vpl", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "open.vpl:3:5: error: PARSE missing ')'",
        "        .emit(x)",
        "        ^",
        "open.vpl:2:16: note: '(' opened here",
        "        .where(x > (1 + 2",
        "                   ^",
    ]


@pytest.mark.parametrize(
    ("source", "closer", "opened"),
    [
        ("stream s = A\n    .emit(a: [1, 2, abs(3)\nstream t = A\n", "]", (2, 14)),
        ("stream s = A\n    .emit(a: {k: (1)\n", "}", (2, 14)),
        ("stream s = A\n    .emit(a: 1\n", ")", (2, 10)),
    ],
)
def test_missing_closer_note_is_at_the_innermost_unclosed_opener(
    source: str, closer: str, opened: tuple[int, int]
) -> None:
    with pytest.raises(CompileError) as info:
        parse(source)
    (d,) = info.value.diagnostics
    assert d.message == f"missing '{closer}'"
    ((message, span),) = d.notes
    opener = {")": "(", "]": "[", "}": "{"}[closer]
    assert (message, (span.line, span.column)) == (f"'{opener}' opened here", opened)


def test_missing_paren_note_skips_a_pair_just_closed() -> None:
    source = 'stream s = A\n    .where(a and (r == "eu")\n    .emit(x)\n'
    with pytest.raises(CompileError) as info:
        parse(source)
    ((_, span),) = info.value.diagnostics[0].notes
    assert (span.line, span.column) == (2, 11)

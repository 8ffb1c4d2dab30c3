"""vpl_runtime.driver: command line, incremental read loop, rejects, summary, exit statuses."""

import contextlib
import io
import json
import os
import queue
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from vpl_runtime.driver import (
    BuildFn,
    CloseFn,
    EmitterFactory,
    Fields,
    Instrument,
    PushFn,
    RunOptions,
    run_module,
)

# ---------------------------------------------------------------------------------------------
# A fake compiled program: stream Echo emits every event, with its type.


class Echo:
    """Build function of a pipeline `stream Echo = * .emit(type, fields...)`."""

    def __init__(
        self,
        fail_on: str | None = None,
        interrupt_on: str | None = None,
        on_close: Callable[[Callable[[str, int, Fields], None]], None] | None = None,
    ) -> None:
        self.fail_on = fail_on
        self.interrupt_on = interrupt_on
        self.on_close = on_close
        self.pushed: list[tuple[str, int, Fields]] = []
        self.closed = 0
        self.built = 0

    def __call__(
        self, make_emitter: EmitterFactory, instrument: Instrument | None, options: RunOptions
    ) -> tuple[PushFn, CloseFn]:
        self.built += 1
        emit = make_emitter("Echo")

        def entry(timestamp: int, fields: Fields) -> None:
            emit("Echo", timestamp, fields)

        stream = entry if instrument is None else instrument("Echo", entry)

        def push(event_type: str, timestamp: int, fields: Fields) -> None:
            self.pushed.append((event_type, timestamp, fields))
            if event_type == self.fail_on:
                raise ValueError(f"boom on {event_type}")
            if event_type == self.interrupt_on:
                raise KeyboardInterrupt
            stream(timestamp, {"type": event_type, **fields})

        def close() -> None:
            self.closed += 1
            if self.on_close is not None:
                self.on_close(emit)

        return push, close


def run(
    tmp_path: Path, build: BuildFn, *args: str, dead_letter: bool = False
) -> tuple[int, list[dict[str, Any]], Path]:
    """Run in-process with --output; return the status, the parsed output lines, the output."""
    out = tmp_path / "out.jsonl"
    argv = [*args, "--output", str(out)]
    if dead_letter:
        argv += ["--dead-letter", str(tmp_path / "dead.txt")]
    status = run_module(build, argv, program="echo.vpl")
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    return status, lines, out


def write(tmp_path: Path, name: str, content: str | bytes) -> str:
    path = tmp_path / name
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return str(path)


def summary(err: str) -> str:
    return err.rstrip("\n").splitlines()[-1]


# ---------------------------------------------------------------------------------------------
# Normal runs


def test_conformance_068_style_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write(
        tmp_path,
        "in.evt",
        textwrap.dedent("""\
            # comment
            // also a comment
            BATCH 50
            P(1, "x")
            @100ms P(2, "y")
            P(3, "z")
            @2s {"event_type": "P", "data": {"field_0": 4, "field_1": "w"}}
            BATCH 3000
            P(5, "v")
            @1m P(6, "u")
            @7 P(7, "t")
            """),
    )
    build = Echo()
    status, lines, _ = run(tmp_path, build, src)
    assert status == 0
    assert [(line["timestamp"], line["fields"]["field_0"]) for line in lines] == [
        (50, 1), (100, 2), (50, 3), (2000, 4), (3000, 5), (60000, 6), (7, 7)
    ]  # fmt: skip
    assert lines[0] == {
        "stream": "Echo",
        "timestamp": 50,
        "fields": {"type": "P", "field_0": 1, "field_1": "x"},
    }
    assert build.built == 1 and build.closed == 1
    assert capsys.readouterr().err == "events in: 7, processed: 7, rejected: 0\n"


def test_exact_output_bytes(tmp_path: Path) -> None:
    src = write(tmp_path, "in.jsonl", '{"event_type": "T", "timestamp": 5, "fields": {"a": 1.0}}\n')
    _, _, out = run(tmp_path, Echo(), src)
    assert out.read_bytes() == (
        b'{"stream": "Echo", "timestamp": 5, "fields": {"type": "T", "a": 1.0}}\n'
    )


def test_lone_surrogate_is_written_as_its_json_escape(tmp_path: Path) -> None:
    src = write(tmp_path, "in.jsonl", '{"event_type": "T", "fields": {"s": "a\\ud800b"}}\n')
    status, lines, out = run(tmp_path, Echo(), src)
    assert status == 0
    assert b'"s": "a\\ud800b"' in out.read_bytes()
    assert lines[0]["fields"]["s"] == "a\ud800b"


def test_stdout_is_the_default_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write(tmp_path, "in.evt", "E { a: 1 }\n")
    assert run_module(Echo(), [src], program="echo.vpl") == 0
    captured = capsys.readouterr()
    assert captured.out == '{"stream": "Echo", "timestamp": 0, "fields": {"type": "E", "a": 1}}\n'
    assert captured.err == "events in: 1, processed: 1, rejected: 0\n"


def test_no_input_and_dash_read_stdin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in ([], ["-"]):
        stdin = io.TextIOWrapper(io.BytesIO(b"BATCH 9\nS(1)\nbad\n"), encoding="utf-8")
        monkeypatch.setattr(sys, "stdin", stdin)
        status, lines, _ = run(tmp_path, Echo(), *argv)
        assert status == 3
        assert [line["fields"] for line in lines] == [{"type": "S", "field_0": 1}]
        assert lines[0]["timestamp"] == 9
        err = capsys.readouterr().err
        assert err.startswith("<stdin>:3: not an event")
        assert summary(err) == "events in: 2, processed: 1, rejected: 1"


def test_several_inputs_in_order_with_stdin_between(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    first = write(tmp_path, "a.evt", "BATCH 100\nA(1)\n")
    second = write(tmp_path, "b.evt", "B(2)\noops\n")
    stdin = io.TextIOWrapper(io.BytesIO(b"\n\nS(3)\nBATCH 5\nS(4)\n"), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    build = Echo()
    status, lines, _ = run(tmp_path, build, first, "-", second)
    # The batch time restarts at 0 for every input; line numbers too.
    assert [(e[0], e[1]) for e in build.pushed] == [("A", 100), ("S", 0), ("S", 5), ("B", 0)]
    assert [line["fields"]["type"] for line in lines] == ["A", "S", "S", "B"]
    err = capsys.readouterr().err
    assert f"{second}:2: not an event" in err
    assert summary(err) == "events in: 5, processed: 4, rejected: 1"
    assert status == 3
    assert build.closed == 1


def test_close_flushes_after_all_inputs(tmp_path: Path) -> None:
    def flush_window(emit: Callable[[str, int, Fields], None]) -> None:
        emit("Echo", 999, {"window": "end"})

    first = write(tmp_path, "a.evt", "A(1)\n")
    second = write(tmp_path, "b.evt", "B(2)\n")
    status, lines, _ = run(tmp_path, Echo(on_close=flush_window), first, second)
    assert status == 0
    assert [line["timestamp"] for line in lines] == [0, 0, 999]
    assert lines[-1]["fields"] == {"window": "end"}


def test_crlf_bom_and_missing_final_newline(tmp_path: Path) -> None:
    src = write(tmp_path, "in.evt", b'\xef\xbb\xbfA(1)\r\n\r\nB { s: "x" }')
    build = Echo()
    status, _, _ = run(tmp_path, build, src)
    assert status == 0
    assert build.pushed == [("A", 0, {"field_0": 1}), ("B", 0, {"s": "x"})]


def test_empty_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write(tmp_path, "in.evt", "")
    status, lines, _ = run(tmp_path, Echo(), src)
    assert (status, lines) == (0, [])
    assert capsys.readouterr().err == "events in: 0, processed: 0, rejected: 0\n"


def test_big_input_across_chunks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Multi-byte characters and lines straddle the 64 KiB read chunks.
    count = 30_000
    body = "".join(f'E {{ i: {i}, s: "é☕{"x" * (i % 97)}" }}\n' for i in range(count))
    src = write(tmp_path, "in.evt", body + "broken\n" + "E { i: -1 }")
    build = Echo()
    status, lines, _ = run(tmp_path, build, src)
    assert status == 3
    assert [line["fields"]["i"] for line in lines] == [*range(count), -1]
    assert lines[5]["fields"]["s"] == "é☕xxxxx"
    err = capsys.readouterr().err
    assert f"{src}:{count + 1}: not an event" in err
    assert summary(err) == f"events in: {count + 2}, processed: {count + 1}, rejected: 1"


def test_memory_does_not_grow_with_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = '{"event_type": "T", "timestamp": 1, "fields": {"a": 1, "s": "some text"}}\n'
    src = write(tmp_path, "in.jsonl", line * 100_000)  # 7.5 MB

    def build(
        make_emitter: EmitterFactory, instrument: Instrument | None, options: RunOptions
    ) -> tuple[PushFn, CloseFn]:
        return (lambda event_type, timestamp, fields: None), (lambda: None)

    tracemalloc.start()
    try:
        assert run_module(build, [src, "--output", os.devnull], program="p.vpl") == 0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000, peak
    assert summary(capsys.readouterr().err) == "events in: 100000, processed: 100000, rejected: 0"


# ---------------------------------------------------------------------------------------------
# Rejected lines


def test_rejected_lines_messages_dead_letter_and_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content = (
        b"# header\n"  # 1 ignored
        b"A(1)\n"  # 2
        b"@1h A(2)\n"  # 3 bad prefix
        b"  \t garbage line\r\n"  # 4 not an event, kept verbatim with its \r
        b"BATCH x\n"  # 5 bad BATCH
        b'B { s: "caf\xc3\xa9" }\n'  # 6 valid UTF-8
        b'B { s: "caf\xe9" }\n'  # 7 invalid UTF-8
        b"BATCH 10\n"  # 8
        b'{"event_type": "J", "fields": 3}\n'  # 9 fields not an object
        b"@5s\n"  # 10 no event
        b"C(3)"  # 11, no final newline
    )
    src = write(tmp_path, "in.evt", content)
    build = Echo()
    status, lines, _ = run(tmp_path, build, src, dead_letter=True)
    assert status == 3
    assert [(e[0], e[1]) for e in build.pushed] == [("A", 0), ("B", 0), ("C", 10)]
    assert [line["fields"]["type"] for line in lines] == ["A", "B", "C"]
    assert lines[1]["fields"]["s"] == "café"
    err_lines = capsys.readouterr().err.splitlines()
    assert [line.split(": ", 1)[0] for line in err_lines[:-1]] == [
        f"{src}:3", f"{src}:4", f"{src}:5", f"{src}:7", f"{src}:9", f"{src}:10"
    ]  # fmt: skip
    assert err_lines[0] == (
        f"{src}:3: invalid timing prefix '@1h' "
        "(expected '@<digits>' followed by 'ms', 's', 'm' or nothing)"
    )
    assert err_lines[3] == f"{src}:7: invalid UTF-8 (byte 12 of the line)"
    assert err_lines[-1] == "events in: 9, processed: 3, rejected: 6"
    assert (tmp_path / "dead.txt").read_bytes() == (
        b"@1h A(2)\n"
        b"  \t garbage line\r\n"
        b"BATCH x\n"
        b'B { s: "caf\xe9" }\n'
        b'{"event_type": "J", "fields": 3}\n'
        b"@5s\n"
    )


def test_dead_letter_created_empty(tmp_path: Path) -> None:
    dead = tmp_path / "dead.txt"
    dead.write_text("old content\n")
    src = write(tmp_path, "in.evt", "A(1)\n")
    status, _, _ = run(tmp_path, Echo(), src, dead_letter=True)
    assert status == 0
    assert dead.read_bytes() == b""


def test_invalid_utf8_only_rejects_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = write(tmp_path, "in.evt", b"A(1)\n\xff\xfe(2)\nA(3)\n")
    build = Echo()
    status, _, _ = run(tmp_path, build, src)
    assert status == 3
    assert [e[2] for e in build.pushed] == [{"field_0": 1}, {"field_0": 3}]
    assert f"{src}:2: invalid UTF-8 (byte 1 of the line)" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# Failures


def test_pipeline_failure_reports_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = write(tmp_path, "in.evt", "A(1)\nbad\nBoom(2)\nA(3)\n")
    status, lines, _ = run(tmp_path, Echo(fail_on="Boom"), src)
    assert status == 4
    assert [line["fields"]["type"] for line in lines] == ["A"]  # flushed before failing
    err = capsys.readouterr().err
    assert f"{src}:3: error: pipeline failed: ValueError: boom on Boom\n" in err
    assert "Traceback (most recent call last)" in err
    # What was read before the failure is accounted for: the failing event counts as processed.
    assert summary(err) == "events in: 3, processed: 2, rejected: 1"


def test_failure_in_close(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def failing_close(emit: Callable[[str, int, Fields], None]) -> None:
        raise RuntimeError("flush failed")

    src = write(tmp_path, "in.evt", "A(1)\n")
    status, lines, _ = run(tmp_path, Echo(on_close=failing_close), src)
    assert status == 4
    assert len(lines) == 1
    err = capsys.readouterr().err
    assert f"{src}: error: pipeline failed at end of input: RuntimeError: flush failed" in err
    assert summary(err) == "events in: 1, processed: 1, rejected: 0"


def test_failure_in_build(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def build(
        make_emitter: EmitterFactory, instrument: Instrument | None, options: RunOptions
    ) -> tuple[PushFn, CloseFn]:
        raise TypeError("bad plan")

    src = write(tmp_path, "in.evt", "A(1)\n")
    status, _, _ = run(tmp_path, build, src)
    assert status == 4
    err = capsys.readouterr().err
    assert "echo.vpl: error: pipeline failed during setup: TypeError: bad plan" in err
    assert summary(err) == "events in: 0, processed: 0, rejected: 0"  # nothing was read


def test_keyboard_interrupt(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write(tmp_path, "in.evt", "A(1)\nx\nStop(2)\nA(3)\n")
    build = Echo(interrupt_on="Stop")
    status, lines, _ = run(tmp_path, build, src)
    assert status == 130
    assert len(lines) == 1
    assert build.closed == 0
    assert summary(capsys.readouterr().err) == "events in: 3, processed: 2, rejected: 1"


def test_input_that_cannot_be_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write(tmp_path, "in.evt", "A(1)\n")
    later = tmp_path / "later.evt"
    later.write_text("B(1)\n")

    def must_not_close(emit: Callable[[str, int, Fields], None]) -> None:
        raise AssertionError("close must not run after a read failure")

    echo = Echo(on_close=must_not_close)

    def build_and_remove(
        make_emitter: EmitterFactory, instrument: Instrument | None, options: RunOptions
    ) -> tuple[PushFn, CloseFn]:
        push, close = echo(make_emitter, instrument, options)

        def push_then_remove(event_type: str, timestamp: int, fields: Fields) -> None:
            push(event_type, timestamp, fields)
            later.unlink()  # it existed when the command line was checked

        return push_then_remove, close

    status, lines, _ = run(tmp_path, build_and_remove, src, str(later))
    assert status == 1
    assert len(lines) == 1
    err = capsys.readouterr().err
    assert f"{later}: error: cannot read input: No such file or directory\n" in err
    assert summary(err) == "events in: 1, processed: 1, rejected: 0"


# ---------------------------------------------------------------------------------------------
# Output paths (§1.5): never an input, never each other; checked before anything is written

INPUT = "A(1)\nA(2)\n"


def usage_error(build: Echo, argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run, expect a usage error before the pipeline is built; the error line."""
    assert run_module(build, argv, program="echo.vpl") == 2
    assert build.built == 0
    return capsys.readouterr().err.splitlines()[-1]


@pytest.mark.parametrize("option", ["--output", "--dead-letter"])
@pytest.mark.parametrize(
    ("input_name", "output_name"),
    [
        ("in.evt", "in.evt"),
        ("in.evt", "./in.evt"),
        ("in.evt", "sub/../in.evt"),
        ("./in.evt", "{tmp}/in.evt"),  # relative and absolute
        ("in.evt", "link.evt"),  # a symlink to the input
        ("link.evt", "in.evt"),  # the input through a symlink
        ("in.evt", "hard.evt"),  # a hard link: the same file
    ],
)
def test_an_output_that_is_an_input_is_a_usage_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    option: str,
    input_name: str,
    output_name: str,
) -> None:
    """It used to empty the input and exit 0 with `events in: 0`."""
    monkeypatch.chdir(tmp_path)
    src = tmp_path / "in.evt"
    src.write_text(INPUT)
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.evt").symlink_to("in.evt")
    os.link(src, tmp_path / "hard.evt")
    other = write(tmp_path, "other.evt", "B(1)\n")
    output_name = output_name.format(tmp=tmp_path)
    error = usage_error(Echo(), [other, input_name, option, output_name], capsys)
    assert error.endswith(
        f"error: {option} '{output_name}' is the input '{input_name}' (it would be emptied)"
    )
    assert src.read_text() == INPUT


@pytest.mark.parametrize(
    ("output", "dead_letter"),
    [("x.txt", "x.txt"), ("x.txt", "./x.txt"), ("x.txt", "sub/../x.txt"), ("xlink", "x.txt")],
)
@pytest.mark.parametrize("exists", [True, False])
def test_output_and_dead_letter_the_same_file_is_a_usage_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    output: str,
    dead_letter: str,
    exists: bool,
) -> None:
    """Decision (docs/language.md §11): both would write one file from two buffers, the
    dead-letter lines overwriting output lines; refused like an input named as an output."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "xlink").symlink_to("x.txt")  # dangling until x.txt exists
    if exists:
        (tmp_path / "x.txt").write_text("keep\n")
    src = write(tmp_path, "in.evt", INPUT)
    error = usage_error(Echo(), [src, "--output", output, "--dead-letter", dead_letter], capsys)
    assert error.endswith(f"error: --output and --dead-letter are the same file '{output}'")
    if exists:
        assert (tmp_path / "x.txt").read_text() == "keep\n"
    else:
        assert not (tmp_path / "x.txt").exists()


def test_devices_may_be_named_twice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write(tmp_path, "in.evt", INPUT + "bad\n")
    argv = [src, "--output", os.devnull, "--dead-letter", os.devnull]
    assert run_module(Echo(), argv, program="echo.vpl") == 3
    assert summary(capsys.readouterr().err) == "events in: 3, processed: 2, rejected: 1"


@pytest.mark.parametrize("option", ["--output", "--dead-letter"])
@pytest.mark.parametrize("where", ["no/such/dir/file", "."])
def test_an_output_that_cannot_be_opened_is_a_usage_error_before_any_input(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    option: str,
    where: str,
) -> None:
    """The message names the option, the path and the OS's reason; the other output file,
    opened first, has not been emptied."""
    monkeypatch.chdir(tmp_path)
    keep = tmp_path / "keep.txt"
    keep.write_text("keep\n")
    other = "--dead-letter" if option == "--output" else "--output"
    src = write(tmp_path, "in.evt", INPUT)
    error = usage_error(Echo(), [src, other, str(keep), option, where], capsys)
    reason = "No such file or directory" if "/" in where else "Is a directory"
    assert error.endswith(f"error: cannot write {option} '{where}': {reason}")
    assert keep.read_text() == "keep\n"


def test_help_says_the_outputs_are_emptied_first(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_module(Echo(), ["--help"], program="echo.vpl") == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--dead-letter PATH write rejected lines to PATH (emptied first;" in help_text
    assert "--output PATH write output lines to PATH (emptied first;" in help_text
    assert "append" not in help_text


# ---------------------------------------------------------------------------------------------
# Output that cannot be written: the environment's failure, not the pipeline's (exit 5)

needs_dev_full = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")


@needs_dev_full
@pytest.mark.parametrize("lines", [3, 30_000])  # fails at the final flush / inside an emit
def test_full_disk_on_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], lines: int
) -> None:
    src = write(tmp_path, "in.evt", "A(1)\n" * lines + "bad\n")
    build = Echo()
    status = run_module(build, [src, "--output", "/dev/full"], program="echo.vpl")
    err = capsys.readouterr().err
    assert status == 5
    assert "error: cannot write to /dev/full: No space left on device\n" in err
    assert "Traceback" not in err and "bug" not in err and "pipeline failed" not in err
    assert summary(err).startswith("events in: ")  # as far as the run went


@needs_dev_full
def test_full_disk_on_dead_letter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write(tmp_path, "in.evt", "A(1)\nbad\nA(2)\n")
    out = tmp_path / "out.jsonl"
    argv = [src, "--output", str(out), "--dead-letter", "/dev/full"]
    assert run_module(Echo(), argv, program="echo.vpl") == 5
    err = capsys.readouterr().err
    assert err.splitlines()[-2:] == [
        "error: cannot write to /dev/full: No space left on device",
        "events in: 3, processed: 2, rejected: 1",
    ]
    assert len(out.read_text().splitlines()) == 2  # the output itself was written


# ---------------------------------------------------------------------------------------------
# Command line


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_module(Echo(), ["--no-such-option"], program="echo.vpl") == 2
    assert run_module(Echo(), [str(tmp_path / "missing.evt")], program="echo.vpl") == 2
    assert "cannot read input" in capsys.readouterr().err
    assert run_module(Echo(), [str(tmp_path)], program="echo.vpl") == 2
    assert "is a directory" in capsys.readouterr().err
    assert run_module(Echo(), ["--output", str(tmp_path / "no" / "dir")], program="e.vpl") == 2


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_module(Echo(), ["--help"], program="echo.vpl") == 0
    help_text = capsys.readouterr().out
    assert "echo.vpl" in help_text and "--dead-letter" in help_text and "--stats" in help_text


def test_stats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write(tmp_path, "in.evt", "A(1)\nA(2)\nbad\nA(3)\n")
    status, lines, _ = run(tmp_path, Echo(), src, "--stats")
    assert status == 3 and len(lines) == 3
    err = capsys.readouterr().err.splitlines()
    table_start = next(i for i, line in enumerate(err) if line.startswith("stats: wall time"))
    header, echo, total = err[table_start + 1 : table_start + 4]
    assert header.split() == ["stream", "events", "in", "lines", "out", "events/s"]
    assert echo.split()[:3] == ["Echo", "3", "3"]
    assert total.split()[:3] == ["(input)", "3", "-"]
    assert len(header) == len(echo) == len(total)  # aligned columns
    assert err[-1] == "events in: 4, processed: 3, rejected: 1"


def test_without_stats_no_instrument(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[Instrument | None] = []

    def build(
        make_emitter: EmitterFactory, instrument: Instrument | None, options: RunOptions
    ) -> tuple[PushFn, CloseFn]:
        seen.append(instrument)
        return (lambda event_type, timestamp, fields: None), (lambda: None)

    src = write(tmp_path, "in.evt", "A(1)\n")
    run(tmp_path, build, src)
    run(tmp_path, build, src, "--stats")
    assert seen[0] is None and callable(seen[1])
    assert "stats:" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# As a real process: incremental output, pipes


MODULE = """\
import sys
from vpl_runtime.driver import run_module

def _build(make_emitter, instrument, options):
    emit = make_emitter("Echo")
    def push(event_type, timestamp, fields):
        emit("Echo", timestamp, {"type": event_type, **fields})
    return push, lambda: None

sys.exit(run_module(_build, program="echo.vpl"))
"""


@pytest.fixture
def module(tmp_path: Path) -> Path:
    path = tmp_path / "echo.py"
    path.write_text(MODULE)
    return path


def reader_thread(stream: Any) -> "queue.Queue[bytes]":
    lines: queue.Queue[bytes] = queue.Queue()

    def pump() -> None:
        for line in iter(stream.readline, b""):
            lines.put(line)
        lines.put(b"")

    threading.Thread(target=pump, daemon=True).start()
    return lines


@pytest.fixture
def process(module: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [sys.executable, str(module)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_live_stdin_gets_output_before_eof(process: subprocess.Popen[bytes]) -> None:
    assert process.stdin is not None and process.stdout is not None
    out = reader_thread(process.stdout)
    for i in range(3):
        process.stdin.write(f"@{i}s Tick(".encode())  # a partial line: no output yet
        process.stdin.flush()
        time.sleep(0.1)
        assert out.empty()
        process.stdin.write(f"{i})\n".encode())
        process.stdin.flush()
        line = out.get(timeout=20)  # arrives while stdin is still open
        assert json.loads(line) == {
            "stream": "Echo",
            "timestamp": i * 1000,
            "fields": {"type": "Tick", "field_0": i},
        }
    process.stdin.close()
    assert out.get(timeout=20) == b""
    assert process.wait(timeout=20) == 0
    assert process.stderr is not None
    assert process.stderr.read() == b"events in: 3, processed: 3, rejected: 0\n"


def test_closed_stdout_exits_quietly(module: Path, tmp_path: Path) -> None:
    src = write(tmp_path, "in.evt", "E { a: 1 }\n" * 200_000)
    proc = subprocess.Popen(
        [sys.executable, str(module), src], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith(b'{"stream": "Echo"')
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0
    assert err == b""


def test_stdin_dash_as_a_process(module: Path, tmp_path: Path) -> None:
    src = write(tmp_path, "in.evt", "F(1)\n")
    result = subprocess.run(
        [sys.executable, str(module), "-", src],
        input=b"S(1)\nnot an event\n",
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 3
    assert [json.loads(line)["fields"]["type"] for line in result.stdout.splitlines()] == ["S", "F"]
    assert result.stderr.decode().splitlines() == [
        "<stdin>:2: not an event (expected 'Type { name: value, ... }', 'Type(value, ...)' "
        "or a JSON object): 'not an event'",
        "events in: 3, processed: 2, rejected: 1",
    ]


def test_json_lines_fast_path_and_general_path_agree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The orjson fast path of the read loop gives what the general parser gives, and
    leaves unusual lines (non-int timestamp, `data`, `;`, bad JSON) to it."""
    import vpl_runtime.driver as driver

    lines = [
        '{"event_type": "T", "timestamp": 5, "fields": {"a": 1, "b": 2.5}}',
        '{"event_type": "T", "timestamp": 1.5, "fields": {"a": 2}}',
        '{"event_type": "T", "data": {"a": 3}}',
        '{"event_type": "T", "timestamp": 7, "fields": {"a": 4}};',
        '{"event_type": "T", "timestamp": true, "fields": {}}',
        '{"event_type": "", "timestamp": 1, "fields": {}}',
        '{"event_type": "T", "timestamp": 1, "fields": [1]}',
        "{not json",
    ]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n")
    results = []
    for fast in (_json_loads_or_none(), None):
        monkeypatch.setattr(driver, "_FAST_LOADS", fast)
        out = tmp_path / "out.jsonl"
        status = driver.run_module(Echo(), [str(source), "--output", str(out)], program="p")
        results.append((status, out.read_text()))
    assert results[0] == results[1]
    assert results[0][0] == 3  # the last three lines are rejected either way


def _json_loads_or_none() -> Any:
    try:
        import orjson
    except ImportError:
        import json

        return json.loads  # same contract: a str in, a value out
    return orjson.loads


def test_an_output_that_is_standard_input_is_a_usage_error(module: Path, tmp_path: Path) -> None:
    src = tmp_path / "in.evt"
    src.write_text(INPUT)
    with src.open("rb") as stdin:
        result = subprocess.run(
            [sys.executable, str(module), "--output", str(src)],
            stdin=stdin,
            capture_output=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 2
    assert result.stderr.decode().endswith(
        f"error: --output '{src}' is the input '<stdin>' (it would be emptied)\n"
    )
    assert src.read_text() == INPUT


# ---------------------------------------------------------------------------------------------
# Generated modules with contexts, as real processes: full disk, closed pipe, Ctrl-C

# Two contexts and a pool: threads or processes besides the reader, on either backend.
CONTEXTS = """\
context a
context b
stream F = T .context(a) .where(x > 0) .emit(x: x)
stream G = F .context(b) .emit(x: x)
stream P = T .context(b) .partition_by(k) .concurrent(workers: 2, ordered: true)
    .window(3) .aggregate(n: count()) .emit(n: n)
"""
BACKENDS = ["none", "thread", "process"]


@pytest.fixture(scope="module")
def programs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The compiled CONTEXTS program, and one without contexts ("none")."""
    from vplc.pipeline import compile_source

    directory = tmp_path_factory.mktemp("programs")
    sources = {"contexts": CONTEXTS, "none": "stream E = T .emit(x: x)\n"}
    paths = {}
    for name, source in sources.items():
        paths[name] = directory / f"{name}.py"
        paths[name].write_text(compile_source(source, f"{name}.vpl"))
    return paths


def command(programs: dict[str, Path], backend: str, *args: str) -> list[str]:
    if backend == "none":
        return [sys.executable, str(programs["none"]), *args]
    return [sys.executable, str(programs["contexts"]), "--backend", backend, *args]


def events(n: int) -> bytes:
    return b"".join(b"T { x: %d, k: %d }\n" % (i + 1, i % 7) for i in range(n))


@needs_dev_full
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("to", ["--output", "stdout"])
def test_full_disk_as_a_process(
    programs: dict[str, Path], tmp_path: Path, backend: str, to: str
) -> None:
    """It used to be `pipeline failed ... (a bug)` with a traceback and no summary."""
    src = tmp_path / "in.evt"
    src.write_bytes(events(20_000))
    args = [str(src), "--output", "/dev/full"] if to == "--output" else [str(src)]
    with open("/dev/full", "wb") as full:
        result = subprocess.run(
            command(programs, backend, *args),
            stdout=full,
            stderr=subprocess.PIPE,
            timeout=120,
            check=False,
        )
    err = result.stderr.decode()
    name = "/dev/full" if to == "--output" else "standard output"
    assert result.returncode == 5, err
    assert f"error: cannot write to {name}: No space left on device\n" in err
    assert "Traceback" not in err and "Exception ignored" not in err and "bug" not in err
    assert summary(err).startswith("events in: ")


@pytest.mark.parametrize("backend", BACKENDS)
def test_closed_stdout_with_contexts_exits_quietly(
    programs: dict[str, Path], tmp_path: Path, backend: str
) -> None:
    """`python prog.py in.evt | head -1`: no traceback, status 0."""
    src = tmp_path / "in.evt"
    src.write_bytes(events(200_000))
    proc = subprocess.Popen(
        command(programs, backend, str(src)), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith(b'{"stream": ')
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 0, err
    assert err == b""


def feed(stdin: IO[bytes]) -> None:
    """Write events to a process's stdin for a while, without closing it."""
    with contextlib.suppress(OSError):
        for _ in range(100):
            stdin.write(events(2000))
            stdin.flush()


@pytest.mark.skipif(sys.platform == "win32", reason="process groups and SIGINT are POSIX")
@pytest.mark.parametrize("backend", BACKENDS)
def test_ctrl_c_twice_stops_cleanly(programs: dict[str, Path], backend: str) -> None:
    """Two Ctrl-C presses close together (the terminal sends SIGINT to the whole process
    group, children included), on a program reading from a pipe that stays open: exit 130,
    the summary, never a traceback. They used to show thread-shutdown, lock or
    multiprocessing-poll tracebacks."""
    rnd = random.Random(f"sigint-{backend}")
    for trial in range(3):
        proc = subprocess.Popen(
            command(programs, backend),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group, as a shell job has
        )
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        stdin, stdout = proc.stdin, proc.stdout

        threading.Thread(target=feed, args=(stdin,), daemon=True).start()
        try:
            # Signal a running pipeline, not an interpreter still starting up (a loaded
            # machine can take longer than any fixed sleep): wait for its first output.
            assert stdout.read1(1), (trial, proc.stderr.read().decode())
            threading.Thread(target=stdout.read, daemon=True).start()
            time.sleep(rnd.random() * 0.5)
            os.killpg(proc.pid, signal.SIGINT)
            time.sleep(rnd.random() * 0.05)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGINT)
            status = proc.wait(timeout=60)
            err = proc.stderr.read().decode()
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            with contextlib.suppress(OSError):
                stdin.close()
        assert "Traceback" not in err and "Exception ignored" not in err, (trial, err)
        assert status == 130, (trial, err)
        assert summary(err).startswith("events in: "), (trial, err)

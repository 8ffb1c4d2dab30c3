"""Command line driver of a generated module (SEMANTICS §1): options, read loop, summary.

A generated module ends with `sys.exit(run_module(_build, program="orders.vpl"))`. `_build`
receives the emitter factory, an instrument hook for `--stats` and the `RunOptions` (contexts:
backend, channel sizes, idle hooks), and returns the pipeline's `push` and `close` functions
(with its state's `snapshot`, a `Built`);
everything about files, lines, errors and exit statuses is here.

Exit statuses: 0 all lines valid, 3 some lines rejected (D20), 2 usage error (also an
--output or --dead-letter that cannot be opened, is an input, or is the other one), 1 an input
could not be read, 4 the pipeline raised, 5 an output could not be written (disk full, I/O
error), 130 interrupted (Ctrl-C; more presses are ignored while it stops). Every run that got
past the command line ends with the summary, whatever stopped it. A closed stdout (for
example `| head`) ends the run quietly with status 0: the reader has what it wanted, and a
traceback or a failure status there would only be noise.
"""

import argparse
import contextlib
import io
import os
import signal
import stat
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, NamedTuple, TypeAlias

from vpl_runtime.evt import (
    _DEEP_TEXT,
    EvtInputError,
    _find_orjson,
    _has_long_number,
    _maybe_too_deep,
    parse_event_line,
)
from vpl_runtime.output import json_line_emitter

Fields: TypeAlias = dict[str, Any]
# emit(stream, timestamp, fields): one output event; the stream name comes first so that an
# embedding application's sink(stream, timestamp, fields) is an emit function as it is.
EmitFn: TypeAlias = Callable[[str, int, Fields], None]
EmitterFactory: TypeAlias = Callable[[str], EmitFn]
StreamFn: TypeAlias = Callable[[int, Fields], None]
Instrument: TypeAlias = Callable[[str, StreamFn], StreamFn]
PushFn: TypeAlias = Callable[[str, int, Fields], None]
CloseFn: TypeAlias = Callable[[], None]


def _nothing() -> None:
    """The default of `RunOptions.flush_output`: nothing to flush."""


@dataclass(frozen=True, slots=True)
class TextOutput:
    """The driver's JSON Lines output, for a backend that formats lines in another process.

    `make_emitter(stream)` is `line_emitter(write, stream)` (`json_line_emitter`, which passes
    each whole line to `write` in one call), counted for `--stats`. A child process formats
    its lines with `line_emitter` and its own `write`, and ships the text; the parent hands
    that text to `write` (under `output_lock`) and the child's line counts to
    `count_lines(stream, n)` (None without --stats).
    """

    line_emitter: Callable[[Callable[[str], Any], str], EmitFn]
    write: Callable[[str], Any]
    count_lines: Callable[[str, int], None] | None = None


@dataclass(slots=True)
class RunHooks:
    """What a build registers for the code that runs it (the driver, `Pipeline`).

    `idle` run after each input chunk, before the driver flushes the output and waits for
    more input (the contexts' ingress sends its partial batches there); `finish` run before
    the summary however the run ended (after `close`, or without it after Ctrl-C or a
    failure: contexts still running stop there and hand in their counters); `reports`
    return text printed after the `--stats` table; `flush` return once every event pushed so
    far is processed and its output delivered (`Pipeline.flush`).
    """

    idle: list[Callable[[], None]] = field(default_factory=list)
    finish: list[Callable[[], None]] = field(default_factory=list)
    reports: list[Callable[[], str]] = field(default_factory=list)
    flush: list[Callable[[], None]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How to run a multi-context pipeline (SEMANTICS §8); single-context modules ignore it.

    The options are fixed; `hooks` is the one mutable part, where the build registers what
    the runner calls later (`RunHooks`).
    Emitters may be called from other threads only while holding `output_lock`, which also guards
    `flush_output` (writes buffered output lines to their file). `count_events(stream, n)`
    adds to a stream's `--stats` input count (for counts made in another process).
    `text_output` is set when the emitters write JSON Lines text (the command line, not an
    embedding application's sink): another process may then format the lines itself.
    `live_delay` (seconds, for an embedding application without a read loop) makes the
    contexts' ingress send what it holds when no `push` came for that long, so that results
    reach the sink without `close` or `flush`, and registers `hooks.flush`; the command line
    calls `hooks.idle` instead.
    """

    backend: str = "thread"  # "thread" | "process"
    queue_capacity: int = 1000  # events per channel
    batch_size: int = 64  # events per micro-batch
    stats: bool = False
    hooks: RunHooks = field(default_factory=RunHooks)
    output_lock: threading.Lock = field(default_factory=threading.Lock)
    flush_output: Callable[[], None] = _nothing
    count_events: Callable[[str, int], None] | None = None
    text_output: TextOutput | None = None
    live_delay: float | None = None


SnapshotFn: TypeAlias = Callable[[], dict[str, object]]
RestoreFn: TypeAlias = Callable[[dict[str, object]], None]


class Built(NamedTuple):
    """What a generated `_build(make_emitter, instrument, options, saved=None)` gives: the
    pipeline's entry points, and `snapshot()`, the state of every stream as plain values
    (`vpl_runtime.snapshot` makes bytes of it). `_build` restores `saved`, such a dict,
    before anything runs: contexts start with their state."""

    push: PushFn
    close: CloseFn
    snapshot: SnapshotFn


# A generated `_build` gives a `Built`; the driver needs only its `push` and `close`, which a
# hand-written build may give alone.
BuildFn: TypeAlias = Callable[
    [EmitterFactory, Instrument | None, RunOptions], Built | tuple[PushFn, CloseFn]
]

_READ_SIZE = 1 << 16
_I64 = 1 << 63
# orjson.loads when installed: the JSON Lines fast path of the read loop.
_FAST_LOADS = _find_orjson()
_WRITE_BUFFER = 1 << 16
_BOM = b"\xef\xbb\xbf"
_STDIN_NAME = "<stdin>"
# Exit statuses besides 0 and 3 (D20) and 2 (argparse's usage errors).
_UNREADABLE = 1
_FAILED = 4
_UNWRITABLE = 5
_INTERRUPTED = 130


def run_module(
    build: BuildFn, argv: Sequence[str] | None = None, *, program: str, prog: str | None = None
) -> int:
    """Run a compiled program over its inputs as the command line says; return the exit status.

    `argv` excludes the program name (default `sys.argv[1:]`); `program` names the VPL source
    in `--help`; `prog` is the command shown in usage lines (default: the script's name).
    """
    with _sigint_once():
        try:
            options = _parse_args(argv, program, prog)
            files = _Files.open(options)
        except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
            return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        except KeyboardInterrupt:
            return _INTERRUPTED
        try:
            return _run(build, options, files)
        except KeyboardInterrupt:  # in the very last moments of the run
            return _INTERRUPTED
        finally:
            files.close()


@contextlib.contextmanager
def _sigint_once() -> Iterator[None]:
    """The first Ctrl-C stops the run cleanly (KeyboardInterrupt: output flushed, summary,
    exit 130); from then on SIGINT is ignored, so that pressing again (or the terminal sending
    it to the whole process group) cannot break that stop with a traceback from wherever it
    lands (a lock, a thread's shutdown, a poll). Only the main thread's default handler is
    replaced; it is put back unless a Ctrl-C came."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return

    def first_interrupt(signum: int, frame: object) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, first_interrupt)
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGINT) is first_interrupt:
            signal.signal(signal.SIGINT, signal.default_int_handler)


# ---------------------------------------------------------------------------------------------
# Options and files


@dataclass(frozen=True, slots=True)
class _Options:
    inputs: tuple[str, ...]
    dead_letter: str | None
    output: str | None
    stats: bool
    program: str
    parser: argparse.ArgumentParser
    backend: str = "thread"
    queue_capacity: int = 1000
    batch_size: int = 64


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _parse_args(argv: Sequence[str] | None, program: str, prog: str | None = None) -> _Options:
    """All option parsing."""
    parser = argparse.ArgumentParser(
        prog=prog or os.path.basename(sys.argv[0]) or None,
        description=f"Run the VPL program {program} over events in .evt or JSON Lines format.",
    )
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="input file, '-' for stdin")
    parser.add_argument(
        "--dead-letter",
        metavar="PATH",
        help="write rejected lines to PATH (emptied first; not an input, not the --output)",
    )
    parser.add_argument(
        "--output", metavar="PATH", help="write output lines to PATH (emptied first; not an input)"
    )
    parser.add_argument("--stats", action="store_true", help="print per-stream counts at exit")
    parser.add_argument(
        "--backend",
        choices=("thread", "process"),
        default="thread",
        help="run each context on a thread (default) or in a process",
    )
    parser.add_argument(
        "--queue-capacity",
        type=_positive,
        default=1000,
        metavar="N",
        help="events in flight between two contexts (default 1000)",
    )
    parser.add_argument(
        "--batch-size",
        type=_positive,
        default=64,
        metavar="N",
        help="events per batch between contexts (default 64)",
    )
    args = parser.parse_args(argv)
    inputs = tuple(args.inputs) or ("-",)
    files = [found for path in inputs if (found := _check_input(parser, path)) is not None]
    _check_outputs(parser, files, args.output, args.dead_letter)
    return _Options(
        inputs,
        args.dead_letter,
        args.output,
        args.stats,
        program,
        parser,
        args.backend,
        args.queue_capacity,
        args.batch_size,
    )


def _check_input(parser: argparse.ArgumentParser, path: str) -> tuple[str, os.stat_result] | None:
    """The input's name and status if it is a regular file (stdin too), else None."""
    # Fail before the pipeline starts rather than after it processed half of the inputs; a
    # file that disappears later is still handled by the read loop.
    if path == "-":
        try:
            found = os.fstat(sys.stdin.fileno())
        except (AttributeError, OSError, ValueError):  # closed, or replaced by a non-file
            return None
        return (_STDIN_NAME, found) if stat.S_ISREG(found.st_mode) else None
    try:
        found = os.stat(path)
    except OSError as exc:
        parser.error(f"cannot read input '{path}': {exc.strerror}")
    if stat.S_ISDIR(found.st_mode):
        parser.error(f"cannot read input '{path}': is a directory")
    return (path, found) if stat.S_ISREG(found.st_mode) else None


def _check_outputs(
    parser: argparse.ArgumentParser,
    inputs: list[tuple[str, os.stat_result]],
    output: str | None,
    dead_letter: str | None,
) -> None:
    """Refuse an --output or --dead-letter that is an input, or both the same file (§1.5):
    opening it for writing would empty it, silently. Only regular files count (the same
    file under any name: symlinks, hard links, other spellings); /dev/null twice is fine."""
    named = [(o, p) for o, p in (("--output", output), ("--dead-letter", dead_letter)) if p]
    for option, path in named:
        found = _regular_file(path)
        for name, input_status in inputs:
            if found is not None and os.path.samestat(found, input_status):
                parser.error(f"{option} '{path}' is the input '{name}' (it would be emptied)")
    if output is not None and dead_letter is not None:
        out, dead = _regular_file(output), _regular_file(dead_letter)
        if out is not None and dead is not None:
            same = os.path.samestat(out, dead)
        else:  # a file not created yet: the same path once symlinks are resolved?
            same = not os.path.exists(output)
            same = same and os.path.realpath(output) == os.path.realpath(dead_letter)
        if same:
            parser.error(f"--output and --dead-letter are the same file '{output}'")


def _regular_file(path: str) -> os.stat_result | None:
    try:
        found = os.stat(path)
    except (OSError, ValueError):  # missing, or a name the OS refuses: open() will tell
        return None
    return found if stat.S_ISREG(found.st_mode) else None


class _RawFile(io.FileIO):
    """The file under an output's buffers. A failed write (disk full, I/O error, closed pipe)
    is kept with the file's name: wherever it then surfaces (in a stream's emit, in another
    context, at a flush), the driver reports it as the environment's, not the pipeline's. The
    buffers call `write` once per 64 KiB, so this costs nothing per line."""

    def __init__(self, fd: int, label: str, closefd: bool = True) -> None:
        super().__init__(fd, "wb", closefd=closefd)
        self.label = label
        self.error: OSError | None = None

    def write(self, data: Any, /) -> int:
        try:
            return super().write(data)
        except OSError as exc:
            if self.error is None:
                self.error = exc
            raise


class _Files:
    """The output stream and the dead-letter file, opened once for the run."""

    def __init__(
        self, out: IO[str], own_out: bool, dead: IO[bytes] | None, raws: list[_RawFile]
    ) -> None:
        self.out = out
        self.own_out = own_out
        self.dead = dead
        self.raws = raws
        # Context threads write output lines under this lock; flushing takes it too.
        self.lock = threading.Lock()

    @classmethod
    def open(cls, options: _Options) -> "_Files":
        """Open --output (else stdout) and --dead-letter, emptied; a path that cannot be
        opened is a usage error, and then neither file has been emptied."""
        fds: list[int] = []
        try:
            for option, path in (
                ("--output", options.output),
                ("--dead-letter", options.dead_letter),
            ):
                if path is not None:
                    fds.append(_open_for_writing(option, path))
        except OSError as exc:
            for fd in fds:
                os.close(fd)
            options.parser.error(str(exc))
        for fd in fds:
            _empty(fd)
        raws = [_RawFile(fd, path) for fd, path in zip(fds, _paths(options), strict=True)]
        dead = None if options.dead_letter is None else io.BufferedWriter(raws[-1])
        if options.output is not None:
            return cls(_text(raws[0]), True, dead, raws)
        try:
            fd = sys.stdout.fileno()
        except (AttributeError, OSError, ValueError):  # replaced by a non-file (tests)
            return cls(sys.stdout, False, dead, raws)
        sys.stdout.flush()
        stdout = _RawFile(fd, "standard output", closefd=False)
        return cls(_text(stdout), True, dead, [stdout, *raws])

    def write_error(self) -> tuple[str, OSError] | None:
        """The first failed write to an output, with the output's name, if any."""
        for raw in self.raws:
            if raw.error is not None:
                return raw.label, raw.error
        return None

    def flush(self, patient: bool = True) -> None:
        # Not patient after a failure or Ctrl-C: a context thread may be stuck in a write.
        locked = self.lock.acquire(timeout=-1 if patient else 5)
        try:
            self.out.flush()
        finally:
            if locked:
                self.lock.release()
        if self.dead is not None:
            self.dead.flush()

    def close(self) -> None:
        for stream, own in ((self.out, self.own_out), (self.dead, True)):
            if stream is not None and own:
                with contextlib.suppress(OSError):
                    stream.close()


def _paths(options: _Options) -> list[str]:
    return [path for path in (options.output, options.dead_letter) if path is not None]


def _open_for_writing(option: str, path: str) -> int:
    # Not truncated yet: if the other file cannot be opened, neither has lost its content.
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as exc:
        raise OSError(f"cannot write {option} '{path}': {exc.strerror}") from None


def _empty(fd: int) -> None:
    # A regular file is emptied (as §1.5 says: "created empty, or truncated"); a device or a
    # pipe cannot be, and needs not.
    if stat.S_ISREG(os.fstat(fd).st_mode):
        os.ftruncate(fd, 0)


def _text(raw: _RawFile) -> IO[str]:
    # As open(path, "w", buffering=64 KiB) would build it, over the error-keeping raw file.
    # backslashreplace turns a lone surrogate (valid in JSON input strings) into "\udXXX",
    # which is exactly its JSON escape, instead of failing the write.
    return io.TextIOWrapper(
        io.BufferedWriter(raw, _WRITE_BUFFER),
        encoding="utf-8",
        errors="backslashreplace",
        newline="\n",
    )


def _silence_stdout() -> None:
    # After EPIPE, buffered data would fail again at exit and print "Exception ignored";
    # pointing fd 1 at /dev/null lets those late flushes succeed silently.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):
        pass


# ---------------------------------------------------------------------------------------------
# The run


class _InputError(Exception):
    """An input that cannot be opened or read (not a pipeline failure)."""


def _run(build: BuildFn, options: _Options, files: _Files) -> int:
    started = time.perf_counter()
    stats = _Stats() if options.stats else None
    out_write = files.out.write

    def make_emitter(stream: str) -> EmitFn:
        emit = json_line_emitter(out_write, stream)
        return emit if stats is None else stats.count_out(stream, emit)

    run_options = RunOptions(
        backend=options.backend,
        queue_capacity=options.queue_capacity,
        batch_size=options.batch_size,
        stats=stats is not None,
        output_lock=files.lock,
        flush_output=files.out.flush,
        count_events=None if stats is None else stats.add_events,
        text_output=TextOutput(
            json_line_emitter, out_write, None if stats is None else stats.add_lines
        ),
    )
    reader = _Reader(files, run_options.hooks.idle)
    stage = "setup"
    try:
        built = build(make_emitter, None if stats is None else stats.instrument, run_options)
        push, close = built[0], built[1]
        reader.push = push
        stage = "input"
        for path in options.inputs:
            reader.read_input(path)
        stage = "close"
        close()
        files.flush()
    except KeyboardInterrupt:
        _flush_quietly(files)
        status = _INTERRUPTED
    except _InputError as exc:
        _flush_quietly(files)
        sys.stderr.write(f"{exc}\n")
        status = _UNREADABLE
    except Exception as exc:
        _flush_quietly(files)
        failed = _failed(exc, files, _where(reader, stage, options, exc), stage)
        if failed is None:  # a closed pipe: the reader has what it wanted
            return 0
        status = failed
    else:
        status = 0 if reader.rejected == 0 else 3
    # Whatever stopped the run, what was read and processed until then is accounted for.
    _summary(reader, stats, started, run_options)
    return status


def _failed(exc: Exception, files: _Files, where: str, stage: str) -> int | None:
    """Report a run stopped by `exc`; its exit status, or None for a closed output pipe.

    A failed write to an output is the environment's doing (a full disk, an I/O error), not
    the pipeline's, wherever it surfaced: in an emit, in another context, at a flush.
    """
    error = files.write_error()
    if error is None and isinstance(exc, BrokenPipeError):  # e.g. raised again from a context
        error = ("standard output", exc)
    if error is None:
        _report_failure(exc, where, stage)
        return _FAILED
    label, os_error = error
    if isinstance(os_error, BrokenPipeError):
        _silence_stdout()
        return None
    sys.stderr.write(f"error: cannot write to {label}: {os_error.strerror or os_error}\n")
    return _UNWRITABLE


_STAGE_TEXT = {"setup": " during setup", "input": "", "close": " at end of input"}


def _report_failure(exc: Exception, where: str, stage: str) -> None:
    # A failure in another context (vpl_runtime.contexts.ContextFailure) carries its own
    # message and the traceback of the thread or process where it happened; the traceback
    # of this thread would only show the ingress.
    remote = getattr(exc, "traceback_text", None)
    what = str(exc) if isinstance(remote, str) else f"{type(exc).__name__}: {exc}"
    sys.stderr.write(f"{where}: error: pipeline failed{_STAGE_TEXT[stage]}: {what}\n")
    if isinstance(remote, str):
        sys.stderr.write(remote if remote.endswith("\n") or not remote else remote + "\n")
    else:
        traceback.print_exc()


def _where(reader: "_Reader", stage: str, options: _Options, exc: Exception) -> str:
    # A failure in another context happened at some earlier line: no line number then.
    if stage == "input" and not hasattr(exc, "traceback_text"):
        return f"{reader.name}:{reader.lineno}"
    if stage in ("input", "close"):
        return reader.name
    return options.program


def _flush_quietly(files: _Files) -> None:
    try:
        files.flush(patient=False)
    except (OSError, ValueError):
        _silence_stdout()


def _summary(
    reader: "_Reader", stats: "_Stats | None", started: float, options: RunOptions
) -> None:
    for hook in options.hooks.finish:
        hook()
    p, r = reader.processed, reader.rejected
    if stats is not None:
        sys.stderr.write(stats.report(time.perf_counter() - started, p))
        for report in options.hooks.reports:
            sys.stderr.write(report())
    sys.stderr.write(f"events in: {p + r}, processed: {p}, rejected: {r}\n")


def _no_push(event_type: str, timestamp: int, fields: Fields) -> None:
    raise RuntimeError("push called before build returned")


class _Reader:
    """Reads inputs in chunks, classifies lines, pushes events, keeps the counts (§1.5)."""

    def __init__(self, files: _Files, idle_hooks: list[Callable[[], None]]) -> None:
        self.files = files
        self.idle_hooks = idle_hooks
        self.push: PushFn = _no_push
        self.processed = 0
        self.rejected = 0
        self.name = _STDIN_NAME
        self.lineno = 0
        self.batch = 0

    def read_input(self, path: str) -> None:
        """Process one input to its end; the batch time and line numbers restart at 0."""
        self.name = _STDIN_NAME if path == "-" else path
        self.lineno = 0
        self.batch = 0
        if path == "-":
            self._read_all(_stdin_reader())
            return
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        except OSError as exc:
            raise _InputError(f"{path}: error: cannot read input: {exc.strerror}") from None
        try:
            self._read_all(lambda size: os.read(fd, size))
        finally:
            os.close(fd)

    def _read_all(self, read: Callable[[int], bytes]) -> None:
        pending: list[bytes] = []  # the partial last line, in pieces (a huge line stays linear)
        first = True
        flush = self.files.flush
        idle = self._idle
        while True:
            try:
                data = read(_READ_SIZE)
            except OSError as exc:
                raise _InputError(f"{self.name}: error: cannot read input: {exc}") from None
            if not data:
                break
            end = data.rfind(b"\n")
            if end < 0:
                pending.append(data)
                continue
            if pending:
                pending.append(data)
                data = b"".join(pending)
                pending.clear()
                end = data.rfind(b"\n")
            block = data[:end]
            if first:  # a UTF-8 byte order mark is not part of the first line
                first = False
                if block.startswith(_BOM):
                    block = block[3:]
            self._block(block)
            if end + 1 < len(data):
                pending.append(data[end + 1 :])
            idle()
            flush()  # before the next read, which may block on a live stream
        if pending:
            block = b"".join(pending)
            if first and block.startswith(_BOM):
                block = block[3:]
            self._block(block)
            idle()
            flush()

    def _idle(self) -> None:
        for hook in self.idle_hooks:
            hook()

    def _block(self, block: bytes) -> None:
        # One scan of the block for ints that may be outside i64 spares one test per line.
        scan = _has_long_number(block)
        try:
            text = block.decode()
        except UnicodeDecodeError:
            self._block_by_line(block, scan)
            return
        self._lines(text.split("\n"), scan)

    def _block_by_line(self, block: bytes, scan: bool) -> None:
        for raw in block.split(b"\n"):
            try:
                line = raw.decode()
            except UnicodeDecodeError as exc:
                self.lineno += 1
                self._reject(raw, self.lineno, f"invalid UTF-8 (byte {exc.start + 1} of the line)")
                continue
            self._lines((line,), scan)

    def _lines(self, lines: Sequence[str], scan: bool) -> None:
        """Process `lines`; `scan`: they may hold 19 digits in a row (see parse_event_line)."""
        # The hot loop: everything it uses is a local.
        parse = parse_event_line
        push = self.push
        batch = self.batch
        lineno = self.lineno
        processed = 0
        # orjson would keep an int beyond i64 an int: such lines take the general path.
        fast = None if scan else _FAST_LOADS
        deep_text, maybe_deep = _DEEP_TEXT, _maybe_too_deep
        try:
            for line in lines:
                lineno += 1
                if fast is not None and line[:1] == "{":
                    # With orjson, the common JSON line goes straight to push; anything
                    # unusual (a non-int timestamp, "data", deep nesting, a bad line...) takes
                    # the general path below, which decides and reports.
                    try:
                        obj = fast(line)
                        event_type, ts, fields = obj["event_type"], obj["timestamp"], obj["fields"]
                        usual = (
                            type(event_type) is str
                            and event_type != ""
                            and type(ts) is int
                            and -_I64 <= ts < _I64
                            and type(fields) is dict
                            and (len(line) < deep_text or not maybe_deep(line))
                        )
                    except Exception:
                        usual = False
                    if usual:
                        processed += 1
                        push(event_type, ts, fields)
                        continue
                try:
                    parsed = parse(line, batch, scan)
                except EvtInputError as exc:
                    self._reject(line.encode(), lineno, str(exc))
                    continue
                if isinstance(parsed, tuple):
                    processed += 1
                    push(*parsed)
                elif parsed is not None:
                    batch = parsed.time
        finally:  # also on a pipeline failure, whose message needs the line number
            self.lineno = lineno
            self.batch = batch
            self.processed += processed

    def _reject(self, raw: bytes, lineno: int, message: str) -> None:
        self.rejected += 1
        sys.stderr.write(f"{self.name}:{lineno}: {message}\n")
        dead = self.files.dead
        if dead is not None:
            dead.write(raw + b"\n")


def _stdin_reader() -> Callable[[int], bytes]:
    """A chunk reader of stdin that returns what is available, without waiting for a full chunk."""
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by a non-file (tests)
        buffer = getattr(sys.stdin, "buffer", None)
        if buffer is not None:
            read1: Callable[[int], bytes] = buffer.read1
            return read1
        text_read = sys.stdin.read
        return lambda size: text_read(size).encode()
    return lambda size: os.read(fd, size)


# ---------------------------------------------------------------------------------------------
# --stats


def ignore_event(timestamp: int, fields: Fields) -> None:
    """What an instrument wraps to count the events of a stream run in place by `push`."""


def push_counting(
    push: PushFn,
    counts: Mapping[str, StreamFn],
    would_be_late: Callable[[str, int], bool] | None = None,
) -> PushFn:
    """`push`, first counting the event with `counts[event_type]` (the instrument of the
    stream `push` runs in place for that type; --stats only), unless late data drops it."""

    def push_counted(event_type: str, timestamp: int, fields: Fields) -> None:
        count = counts.get(event_type)
        if count is not None and (
            would_be_late is None or not would_be_late(event_type, timestamp)
        ):
            count(timestamp, fields)
        push(event_type, timestamp, fields)

    return push_counted


def count_lines_as_events(emit: EmitFn, count: StreamFn) -> EmitFn:
    """`emit`, also counting each line with `count`: a stream run in place after its
    upstream receives exactly the upstream's lines (its `.emit` is its last op)."""

    def counted(stream: str, timestamp: int, fields: Fields) -> None:
        emit(stream, timestamp, fields)
        count(timestamp, fields)

    return counted


class _Stats:
    """Per-stream counters, filled by wrapping stream entry functions and emitters."""

    def __init__(self) -> None:
        self.streams: dict[str, list[int]] = {}  # name -> [events in, lines out]

    def instrument(self, stream: str, fn: StreamFn) -> StreamFn:
        """Wrap a stream's entry function to count the events it receives."""
        cell = self.streams.setdefault(stream, [0, 0])

        def counted(timestamp: int, fields: Fields) -> None:
            cell[0] += 1
            fn(timestamp, fields)

        return counted

    def add_events(self, stream: str, count: int) -> None:
        """Add `count` to a stream's input events (counted in another process)."""
        self.streams.setdefault(stream, [0, 0])[0] += count

    def add_lines(self, stream: str, count: int) -> None:
        """Add `count` to a stream's output lines (formatted in another process)."""
        self.streams.setdefault(stream, [0, 0])[1] += count

    def count_out(self, stream: str, emit: EmitFn) -> EmitFn:
        """Wrap a stream's emitter to count its output lines."""
        cell = self.streams.setdefault(stream, [0, 0])

        def counted(stream: str, timestamp: int, fields: Fields) -> None:
            cell[1] += 1
            emit(stream, timestamp, fields)

        return counted

    def report(self, seconds: float, processed: int) -> str:
        """The table printed at exit: events in, lines out and events/s per stream."""
        rate = 1.0 / seconds if seconds > 0 else 0.0
        rows = [("stream", "events in", "lines out", "events/s")]
        for name, (events_in, lines_out) in self.streams.items():
            rows.append((name, str(events_in), str(lines_out), f"{events_in * rate:.0f}"))
        rows.append(("(input)", str(processed), "-", f"{processed * rate:.0f}"))
        width = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = [f"stats: wall time {seconds:.3f} s"]
        for row in rows:
            cells = [row[0].ljust(width[0])] + [row[i].rjust(width[i]) for i in range(1, 4)]
            lines.append("  ".join(cells))
        return "\n".join(lines) + "\n"

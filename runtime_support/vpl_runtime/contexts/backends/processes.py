"""Contexts in processes (`--backend process`, `ProcessBackend`): one forked child per context.

Fork, so the generated closures need no pickling (Linux only). Every (producer -> context)
channel is a pipe of its own, written by one process and read by one (no locks, no feeder
threads), and bounded by a semaphore of `queue_capacity // batch_size` batches, released
when the batch's items are processed. Batches travel as columns (`encode_batch`); the
ingress pickles a batch once for all the contexts that take the same events.

Each child sends its output to the parent over its own pipe; a parent thread writes it, so
lines stay whole and each stream's lines stay in order. When the output is JSON Lines text
(`RunOptions.text_output`, the command line), a child formats its lines itself, in parallel
with the others, and ships them as one string when it has `_TEXT_BATCH` characters or
is about to wait for input (so live output is not held back); for an embedding
application's sink it ships (stream, timestamp, fields) per processing pass and every
`batch_size` lines, and the parent calls the sink. At the end each child sends its counters.
"""

import contextlib
import multiprocessing
import os
import select
import signal
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.context import ForkProcess
from multiprocessing.synchronize import Event, Semaphore
from time import perf_counter
from typing import Any

from vpl_runtime.contexts.backends.pipes import (
    POLL,
    POLL_MS,
    FrameReader,
    FrameWriter,
    decode_batch,
    dumps,
    encode_batch,
    pipe,
)
from vpl_runtime.contexts.barriers import Barriers
from vpl_runtime.contexts.cascade import CASCADE_END
from vpl_runtime.contexts.graph import Graph
from vpl_runtime.contexts.ingress import Ingress
from vpl_runtime.contexts.lines import BufferedOutput
from vpl_runtime.contexts.merge import Batch, Item
from vpl_runtime.contexts.pinning import name_os_thread, pin, thread_name
from vpl_runtime.contexts.runtime import ContextRuntime, Transport
from vpl_runtime.contexts.stats import Counters
from vpl_runtime.contexts.supervisor import ContextFailure, Stopped, Supervisor, describe
from vpl_runtime.driver import (
    EmitFn,
    EmitterFactory,
    Fields,
    Instrument,
    RunOptions,
    StreamFn,
    TextOutput,
)

_TEXT_BATCH = 1 << 16  # characters of formatted output a child ships at once


@dataclass(frozen=True, slots=True)
class _Shared:
    """What parent and children share (inherited through fork, never pickled)."""

    graph: Graph
    channels: list[list[tuple[int, int]]]  # [context][producer index there]: (read, write) fds
    credits: list[list[Semaphore]]  # [context][producer index there]
    messages: list[tuple[int, int]]  # [context]: (read, write) fds of its pipe to the parent
    stop: Event
    batch_size: int
    counting: bool  # count events per stream for --stats
    parent: int  # the parent's pid
    text: TextOutput | None  # children format their output lines as text
    caller: int | None  # the context that runs in the parent, on the caller's thread
    # Children tell the parent their progress when they go idle (for `Pipeline.flush`); only
    # with `RunOptions.live_delay`: the command line never waits for it.
    tell_progress: bool
    states: Mapping[str, bytes]  # context -> the state it restores before serving (D36)

    def child_fds(self, me: int) -> set[int]:
        """The pipe ends child `me` uses: its channels' read ends, its targets' write ends,
        its message pipe's write end."""
        fds = {read for read, _ in self.channels[me]}
        fds.update(self.channels[t][p][1] for t, p in self.graph.targets[me])
        fds.add(self.messages[me][1])
        return fds

    def parent_fds(self) -> set[int]:
        """The pipe ends the parent uses: the ingress channels' write ends, the messages' read
        ends, and the caller context's channels' write ends."""
        fds = {c[0][1] for c in self.channels} | {read for read, _ in self.messages}
        if self.caller is not None:
            fds.update(self.channels[t][p][1] for t, p in self.graph.targets[self.caller])
        return fds

    def close_all_but(self, keep: set[int]) -> None:
        """Close every pipe end but `keep`, so that a process that ends closes its pipes for
        good (its readers see the end of file, its writers a broken pipe)."""
        ends = [fd for c in self.channels for pair in c for fd in pair]
        ends += [fd for pair in self.messages for fd in pair]
        for fd in ends:
            if fd not in keep:
                os.close(fd)


def _acquire(credit: Semaphore, check: Callable[[], None]) -> float:
    """Take one unit of channel room; return the seconds spent blocked."""
    if credit.acquire(False):
        return 0.0
    started = perf_counter()
    while not credit.acquire(timeout=POLL):
        check()
    return perf_counter() - started


class _ChildTransport:
    """A child's channels; its output goes to the parent in messages."""

    def __init__(self, shared: _Shared, me: int, counters: Counters) -> None:
        self._shared = shared
        self._me = me
        self._readers: dict[int, tuple[FrameReader, int]] = {}  # fd -> (reader, producer)
        self._poll = select.poll()
        for producer, (read, _) in enumerate(shared.channels[me]):
            self._readers[read] = (FrameReader(read), producer)
            self._poll.register(read, select.POLLIN)
        self._outs = [
            (FrameWriter(shared.channels[t][p][1]), shared.credits[t][p])
            for t, p in shared.graph.targets[me]
        ]
        self._messages = FrameWriter(shared.messages[me][1])
        self._counters = counters
        self._lines: list[tuple[str, int, Fields]] = []  # for a sink
        self._text: list[str] = []  # formatted lines, for text output
        self._text_size = [0]  # their characters
        self.line_counts: dict[str, list[int]] = {}  # text output: lines per stream
        self._progress = 0  # see `progressed`
        self._told = 0  # the progress the parent knows

    def check(self) -> None:
        """Raise `Stopped` if the pipeline stops or the parent is gone."""
        if self._shared.stop.is_set() or os.getppid() != self._shared.parent:
            raise Stopped

    def take(self, wait: bool) -> list[Batch]:
        self.check()
        poll = self._poll
        ready = poll.poll(0)
        batches: list[Batch] = []
        while True:
            for fd, _ in ready:
                reader, producer = self._readers[fd]
                for value in reader.read():
                    items, upto = decode_batch(value)
                    batches.append((producer, items, upto))
                if not reader.open:  # its producer is done (or dead: the parent will tell)
                    poll.unregister(fd)
            if batches or not wait:
                return batches
            ready = poll.poll(POLL_MS)
            if not ready:
                self.check()

    def release(self, producer: int, batches: int, events: int) -> None:
        credit = self._shared.credits[self._me][producer]
        for _ in range(batches):
            credit.release()

    def send(self, slot: int, items: list[Item], upto: int) -> None:
        writer, credit = self._outs[slot]
        self._counters.blocked += _acquire(credit, self.check)
        self._counters.blocked += writer.write(encode_batch(items, upto), self.check)

    def emitter(self, stream: str) -> EmitFn:
        text = self._shared.text
        if text is not None:
            return text.line_emitter(self._text_writer(stream), stream)
        counters = self._counters
        size = self._shared.batch_size

        def emit(_stream: str, timestamp: int, fields: Fields) -> None:
            self._lines.append((stream, timestamp, fields))
            counters.lines += 1
            if len(self._lines) >= size:  # lines go out in batches too, not only per pass
                self.passed()

        return emit

    def _text_writer(self, stream: str) -> Callable[[str], None]:
        """The `write` of `stream`'s line emitter: keeps the line, counts it."""
        pieces = self._text
        size = self._text_size
        cell = self.line_counts.setdefault(stream, [0])

        def write(line: str) -> None:
            pieces.append(line)  # one whole line per call (json_line_emitter's contract)
            cell[0] += 1
            size[0] += len(line)
            if size[0] >= _TEXT_BATCH:
                self.ship_text()

        return write

    def ship_text(self, check: Callable[[], None] | None = None) -> None:
        """Send the formatted lines kept so far to the parent, as one string."""
        pieces = self._text
        if pieces:
            self._counters.lines += len(pieces)
            text = "".join(pieces)
            pieces.clear()  # the same list: the writers hold it
            self._text_size[0] = 0
            self.tell(("text", self._me, text), check)

    def snapshot_taken(self, barrier: int, state: bytes) -> None:
        # The lines before the barrier first: the parent writes them before it records the
        # state, so they reach the sink before snapshot() returns.
        self.ship_text()
        self.passed()
        self.tell(("state", self._me, barrier, state))

    def passed(self) -> None:
        # Text waits for `idle` or a full batch: fewer, larger messages for the parent.
        if self._lines:
            lines = self._lines
            self._lines = []
            self.tell(("lines", self._me, lines))

    def idle(self) -> None:
        self.ship_text()
        self.passed()
        if self._shared.tell_progress and self._progress != self._told:  # `Pipeline.flush`
            self._told = self._progress
            self.tell(("progress", self._me, self._progress))

    def progressed(self, upto: int) -> None:
        self._progress = upto  # told when idle: a message per pass would cost

    def tell(self, message: tuple[Any, ...], check: Callable[[], None] | None = None) -> None:
        """Send a message to the parent; `check` (default: a stop) gives up waiting."""
        data = dumps(message)
        self._counters.blocked += self._messages.write(data, check or self.check)


def _counting_instrument(counts: dict[str, list[int]]) -> Instrument:
    def instrument(stream: str, fn: StreamFn) -> StreamFn:
        cell = counts.setdefault(stream, [0])

        def counted(timestamp: int, fields: Fields) -> None:
            cell[0] += 1
            fn(timestamp, fields)

        return counted

    return instrument


def _child_main(shared: _Shared, me: int, cores: tuple[int, ...]) -> None:
    with contextlib.suppress(ValueError):  # ValueError: not the main thread
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    shared.close_all_but(shared.child_fds(me))
    graph = shared.graph
    spec = graph.specs[me]
    counters = Counters()
    transport = _ChildTransport(shared, me, counters)
    counts: dict[str, list[int]] = {}
    runtime = ContextRuntime(
        spec.name,
        len(graph.producers(me)),
        [graph.specs[t].name for t, _ in graph.targets[me]],
        transport,
        _counting_instrument(counts) if shared.counting else None,
        shared.batch_size,
        counters,
        graph.scales(me),
    )
    runtime.saved = shared.states.get(spec.name)
    try:
        name_os_thread(spec.name)  # the child's main thread: the process's name
        pin(spec.name, cores, whole_process=True)
        spec.run(runtime)
        if not runtime.served:
            raise RuntimeError("its run function returned without calling serve")
        events = {stream: cell[0] for stream, cell in counts.items()}
        lines = {stream: cell[0] for stream, cell in transport.line_counts.items()}
        transport.tell(("done", me, counters.as_tuple(), events, lines))
    except Stopped:
        _child_stopped(shared, me, transport, counters, counts)
    except BaseException as exc:  # anything: the pipeline must not hang
        failure = describe(spec.name, exc, runtime.failed_at)
        message = (failure.stream, failure.error, failure.traceback_text, failure.position)
        with contextlib.suppress(Stopped):
            # The lines written before the failure, as a single-threaded run would have.
            transport.ship_text()
            transport.tell(("failed", me, *message))


def _child_stopped(
    shared: _Shared,
    me: int,
    transport: "_ChildTransport",
    counters: Counters,
    counts: dict[str, list[int]],
) -> None:
    """The pipeline stopped before its end (Ctrl-C, a failure elsewhere): best effort, the
    child ships the lines it formatted and tells the parent what it did, for `--stats`. It
    gives up when the parent is gone or does not read within a few seconds."""
    deadline = perf_counter() + 3

    def give_up() -> None:
        if perf_counter() > deadline or os.getppid() != shared.parent:
            raise Stopped

    with contextlib.suppress(Stopped, OSError):
        transport.ship_text(give_up)
        events = {stream: cell[0] for stream, cell in counts.items()}
        lines = {stream: cell[0] for stream, cell in transport.line_counts.items()}
        transport.tell(("done", me, counters.as_tuple(), events, lines), give_up)


class _Parent:
    """The parent's side: writes the children's lines, collects their ends, watches them."""

    def __init__(
        self,
        shared: _Shared,
        processes: Sequence[ForkProcess | None],
        make_emitter: EmitterFactory,
        options: RunOptions,
        supervisor: Supervisor,
        counters: list[Counters],
        progress: list[int],
        barriers: Barriers,
    ) -> None:
        self.supervisor = supervisor  # every failure decision
        self.barriers = barriers  # the states the children took at barriers
        self.finished = threading.Event()
        self.counters = counters  # a child's are replaced by those it sends at its end
        self.progress = progress  # per child: what it told (`_ChildTransport.progressed`)
        self._shared = shared
        self._processes = processes
        self._done = [process is None for process in processes]  # None: runs in the parent
        self._make_emitter = make_emitter
        self._options = options
        self._emitters: dict[str, EmitFn] = {}
        self._dirty = False
        self._current = 0  # the child whose message is being handled
        self._readers = [FrameReader(read) for read, _ in shared.messages]
        self._closed = False

    def pump(self) -> None:
        """The parent thread's loop, until every child is done or one failed."""
        name_os_thread("(output)")
        poll = select.poll()
        by_fd = {reader.fd: i for i, reader in enumerate(self._readers) if not self._done[i]}
        for fd in by_fd:
            poll.register(fd, select.POLLIN)
        try:
            while not all(self._done) and self.supervisor.failure is None:
                ready = poll.poll(POLL_MS)
                if not ready:
                    self._flush()
                    self._check_children()
                    continue
                for fd, _ in ready:
                    i = by_fd[fd]
                    self._read(i)
                    if not self._readers[i].open:
                        poll.unregister(fd)
                        self._ended(i)
                if not poll.poll(0):  # nothing more to write for now: let the reader see it
                    self._flush()
            self._flush()
        except BaseException as exc:  # writing failed (a closed output...)
            self.supervisor.failed(describe(self._name(self._current), exc))
        finally:
            self.finished.set()

    def _name(self, i: int) -> str:
        return self._shared.graph.specs[i].name

    def _read(self, i: int) -> None:
        for message in self._readers[i].read():
            if self.supervisor.failure is None:
                self._handle(message)

    def _handle(self, message: tuple[Any, ...]) -> None:
        kind, i = message[0], message[1]
        self._current = i
        if kind == "text":
            self._write_text(message[2])
        elif kind == "lines":
            self._write(message[2])
        elif kind == "done":
            self.counters[i] = Counters(*message[2])
            self.progress[i] = CASCADE_END
            self._count(message[3], self._options.count_events)
            text = self._options.text_output
            self._count(message[4], None if text is None else text.count_lines)
            self._done[i] = True
        elif kind == "progress":
            self.progress[i] = message[2]
        elif kind == "state":
            self.barriers.taken(self._name(i), message[2], message[3])
        elif kind == "failed":
            self.supervisor.failed(ContextFailure(self._name(i), *message[2:6]))

    @staticmethod
    def _count(counts: dict[str, int], add: Callable[[str, int], None] | None) -> None:
        if add is not None:
            for stream, count in counts.items():
                add(stream, count)

    def _write_text(self, text: str) -> None:
        assert self._options.text_output is not None  # children only send text then
        with self._options.output_lock:
            self._options.text_output.write(text)
        self._dirty = True

    def _write(self, lines: list[tuple[str, int, Fields]]) -> None:
        emitters = self._emitters
        with self._options.output_lock:
            for stream, timestamp, fields in lines:
                emit = emitters.get(stream)
                if emit is None:
                    emit = emitters[stream] = self._make_emitter(stream)
                emit(stream, timestamp, fields)
        self._dirty = True

    def _flush(self) -> None:
        if self._dirty:
            self._dirty = False
            with self._options.output_lock:
                self._options.flush_output()

    def _ended(self, i: int) -> None:
        """Child `i` closed its pipe (it exited): a failure unless it said it was done."""
        if not self._done[i] and self.supervisor.failure is None:
            process = self._processes[i]
            assert process is not None  # a context in the parent sends no messages
            process.join(timeout=2)
            error = f"its process ended unexpectedly (exit status {process.exitcode})"
            self.supervisor.failed(ContextFailure(self._name(i), None, error, ""))

    def _check_children(self) -> None:
        # The end of a child's pipe says it exited; this also covers a child whose pipe stays
        # open elsewhere (a process it started itself).
        for i, process in enumerate(self._processes):
            if process is not None and not self._done[i] and process.exitcode is not None:
                self._read(i)  # its last messages first
                self._ended(i)
                return

    def check(self) -> None:
        """Raise the failure, if any, after stopping every child."""
        self.supervisor.check()

    def check_writing(self) -> None:
        """`check` while the ingress waits on a pipe: also give up once the pump has ended."""
        self.check()
        if self.finished.is_set():
            raise ContextFailure("(input)", None, "the contexts ended before the input", "")

    def stop_all(self) -> None:
        """Stop and reap every child; close the parent's pipes once the pump has ended."""
        self._shared.stop.set()
        children = [process for process in self._processes if process is not None]
        for process in children:
            if process.is_alive():
                process.terminate()
        for process in children:
            process.join(timeout=2)
        if not self._closed and self.finished.wait(2 * POLL):
            self._closed = True  # the pump no longer reads, the ingress no longer writes
            for fd in self._shared.parent_fds():
                os.close(fd)

    def stop_and_gather(self) -> None:
        """Stop the children that still run and wait a little for what they did (their
        last lines and counters), then reap them; nothing to do after a normal end."""
        if not self.finished.is_set():
            self._shared.stop.set()
            self.finished.wait(4)
        self.stop_all()

    def reap(self) -> None:
        """Wait for the children, which are done and exiting."""
        for process in self._processes:
            if process is not None:
                process.join(timeout=5)
        self.stop_all()


class ProcessBackend:
    """Contexts in forked child processes, one per context (Linux)."""

    name = "process"

    def __init__(
        self,
        graph: Graph,
        make_emitter: EmitterFactory,
        instrument: Instrument | None,
        options: RunOptions,
        cores: Sequence[tuple[int, ...]],
        barriers: Barriers,
        states: Mapping[str, bytes],
    ) -> None:
        """`states`: context -> the state it restores before serving (D36)."""
        if not sys.platform.startswith("linux"):
            raise RuntimeError("the process backend needs Linux (it forks); use --backend thread")
        self._fork = multiprocessing.get_context("fork")
        self._barriers = barriers
        self._states = states
        self.batch_size = min(options.batch_size, options.queue_capacity)
        self._graph = graph
        self._make_emitter = make_emitter
        self._instrument = instrument
        self._options = options
        self._cores = cores
        self.counters = [Counters() for _ in graph.specs]
        self.progress = [0] * len(graph.specs)
        self.supervisor = Supervisor(self._stop_event, self._stop_children)
        self._shared: _Shared | None = None
        self._parent: _Parent | None = None
        self._pump: threading.Thread | None = None
        self._writers: list[FrameWriter] = []
        # The ingress hands the same list to every context that takes the same events:
        # pickle it once. (The list is kept here, so its id cannot be reused by a later one.)
        self._encoded: list[Any] = [None, 0, b""]  # items, upto, bytes

    def _stop_event(self) -> None:
        if self._shared is not None:
            self._shared.stop.set()

    def _stop_children(self) -> None:
        if self._parent is not None:
            self._parent.stop_all()

    def start(self) -> None:
        graph, fork = self._graph, self._fork
        specs = graph.specs
        room = max(1, self._options.queue_capacity // self.batch_size)
        caller = graph.caller_index()
        shared = self._shared = _Shared(
            graph,
            [[pipe() for _ in graph.producers(i)] for i in range(len(specs))],
            [[fork.Semaphore(room) for _ in graph.producers(i)] for i in range(len(specs))],
            [pipe() for _ in specs],
            fork.Event(),
            self.batch_size,
            self._instrument is not None,
            os.getpid(),
            self._options.text_output,
            caller,
            self._options.live_delay is not None,
            self._states,
        )
        sys.stdout.flush()  # or the children would write the parent's buffered text again
        sys.stderr.flush()
        processes = [
            (
                None
                if i == caller
                else fork.Process(
                    target=_child_main,
                    args=(shared, i, self._cores[i]),
                    name=thread_name(spec.name),
                )
            )
            for i, spec in enumerate(specs)
        ]
        for process in processes:
            if process is not None:
                process.daemon = True  # terminated when the parent exits
                process.start()
        shared.close_all_but(shared.parent_fds())
        parent = self._parent = _Parent(
            shared,
            processes,
            self._make_emitter,
            self._options,
            self.supervisor,
            self.counters,
            self.progress,
            self._barriers,
        )
        self._writers = [FrameWriter(channels[0][1]) for channels in shared.channels]
        self._pump = threading.Thread(target=parent.pump, name=thread_name("(output)"), daemon=True)
        self._pump.start()

    def send(self, target: int, items: list[Item], upto: int) -> float:
        assert self._shared is not None and self._parent is not None
        parent = self._parent
        parent.check()
        encoded = self._encoded
        if encoded[0] is not items or encoded[1] != upto:
            encoded[:] = items, upto, encode_batch(items, upto)
        blocked = _acquire(self._shared.credits[target][0], parent.check)
        return blocked + self._writers[target].write(encoded[2], parent.check_writing)

    def caller_transport(self, index: int, ingress: Ingress) -> Transport:
        assert self._shared is not None and self._parent is not None
        return _CallerProcessTransport(
            self._shared, index, self._parent, ingress, self._make_emitter, self._options
        )

    def wait(self) -> None:
        assert self._parent is not None
        while not self._parent.finished.wait(POLL):
            pass

    def join(self) -> None:
        assert self._parent is not None and self._pump is not None
        self._pump.join()
        self._parent.reap()

    def stop(self) -> None:
        # After Ctrl-C (no close) the children still run: they stop, ship their lines and
        # send their counters (`_child_stopped`), which the pump hands on.
        if self._parent is not None and self._pump is not None:
            self._parent.stop_and_gather()
            self._pump.join(timeout=2)


class _CallerProcessTransport(BufferedOutput):
    """The channels and output of the context that runs in the parent."""

    def __init__(
        self,
        shared: _Shared,
        me: int,
        parent: _Parent,
        ingress: Ingress,
        make_emitter: EmitterFactory,
        options: RunOptions,
    ) -> None:
        super().__init__(parent.counters[me], make_emitter, options)
        self._shared = shared
        self._parent = parent
        self._ingress = ingress
        self._outs = [
            (FrameWriter(shared.channels[t][p][1]), shared.credits[t][p])
            for t, p in shared.graph.targets[me]
        ]
        self._name = shared.graph.specs[me].name

    def snapshot_taken(self, barrier: int, state: bytes) -> None:
        self.passed()  # the lines before the barrier reach the sink before snapshot() returns
        self._parent.barriers.taken(self._name, barrier, state)

    def take(self, wait: bool) -> list[Batch]:
        raise AssertionError("a context on the caller's thread does not take batches")

    def release(self, producer: int, batches: int, events: int) -> None:
        raise AssertionError("a context on the caller's thread does not take batches")

    def send(self, slot: int, items: list[Item], upto: int) -> None:
        # The target may wait for input events the ingress still holds: send those first.
        self._ingress.send_log()
        writer, credit = self._outs[slot]
        self._counters.blocked += _acquire(credit, self._parent.check)
        self._counters.blocked += writer.write(
            encode_batch(items, upto), self._parent.check_writing
        )

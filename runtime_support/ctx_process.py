"""Contexts in processes (`--backend process`): one forked child per context.

Fork, so the generated closures need no pickling (Linux only). Each context has one inbox
queue of pickled batches; every (producer -> context) channel is bounded by a semaphore of
`queue_capacity // batch_size` batches, released when the batch's items are processed.
Children send their output lines, per processed batch, to the parent over one queue; a
parent thread writes them with the real emitters, so lines stay whole and each stream's
lines stay in order. At the end each child sends its counters.
"""

import contextlib
import multiprocessing
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.context import ForkProcess
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event, Semaphore
from time import perf_counter
from typing import Any

from vpl_runtime.ctx_core import (
    CASCADE_END,
    ContextFailure,
    ContextRuntime,
    _ctx_Batch,
    _ctx_Counters,
    _ctx_describe,
    _ctx_Graph,
    _ctx_Ingress,
    _ctx_Item,
    _ctx_raise,
    _ctx_Stopped,
)
from vpl_runtime.ctx_support import _ctx_pin, _ctx_stats_report
from vpl_runtime.driver import (
    CloseFn,
    EmitFn,
    EmitterFactory,
    Fields,
    Instrument,
    PushFn,
    RunOptions,
    StreamFn,
)

_ctx_POLL = 0.2  # seconds between checks for a stop or a dead process while blocked


@dataclass(frozen=True, slots=True)
class _ctx_Shared:
    """What parent and children share (inherited through fork, never pickled)."""

    graph: _ctx_Graph
    inboxes: list["Queue[_ctx_Batch]"]
    credits: list[list[Semaphore]]  # [context][producer index there]
    messages: "Queue[tuple[Any, ...]]"  # children -> parent
    stop: Event
    batch_size: int
    counting: bool  # count events per stream for --stats
    parent: int  # the parent's pid


def _ctx_acquire(credit: Semaphore, check: Callable[[], None]) -> float:
    """Take one unit of channel room; return the seconds spent blocked."""
    if credit.acquire(False):
        return 0.0
    started = perf_counter()
    while not credit.acquire(timeout=_ctx_POLL):
        check()
    return perf_counter() - started


class _ctx_ChildTransport:
    """A child's channels; its output lines go to the parent in messages."""

    def __init__(self, shared: _ctx_Shared, me: int, counters: _ctx_Counters) -> None:
        self._shared = shared
        self._me = me
        self._inbox = shared.inboxes[me]
        self._outs = [
            (shared.inboxes[t], shared.credits[t][p], p) for t, p in shared.graph.targets[me]
        ]
        self._counters = counters
        self._lines: list[tuple[str, int, Fields]] = []

    def check(self) -> None:
        """Raise `_ctx_Stopped` if the pipeline stops or the parent is gone."""
        if self._shared.stop.is_set() or os.getppid() != self._shared.parent:
            raise _ctx_Stopped

    def take(self, wait: bool) -> list[_ctx_Batch]:
        self.check()
        inbox = self._inbox
        batches = []
        while wait:
            try:
                batches.append(inbox.get(timeout=_ctx_POLL))
                break
            except queue.Empty:
                self.check()
        while True:
            try:
                batches.append(inbox.get_nowait())
            except queue.Empty:
                return batches

    def release(self, producer: int, batches: int, events: int) -> None:
        credit = self._shared.credits[self._me][producer]
        for _ in range(batches):
            credit.release()

    def send(self, slot: int, items: list[_ctx_Item], upto: int) -> None:
        inbox, credit, producer = self._outs[slot]
        self._counters.blocked += _ctx_acquire(credit, self.check)
        inbox.put((producer, items, upto))

    def emitter(self, stream: str) -> EmitFn:
        counters = self._counters
        size = self._shared.batch_size

        def emit(_stream: str, timestamp: int, fields: Fields) -> None:
            self._lines.append((stream, timestamp, fields))
            counters.lines += 1
            if len(self._lines) >= size:  # lines go out in batches too, not only per pass
                self.passed()

        return emit

    def passed(self) -> None:
        if self._lines:
            lines = self._lines
            self._lines = []
            self.tell(("lines", self._me, lines))

    def idle(self) -> None:
        self.passed()

    def tell(self, message: tuple[Any, ...]) -> None:
        """Send a message to the parent."""
        while True:
            try:
                self._shared.messages.put(message, timeout=_ctx_POLL)
                return
            except queue.Full:
                self.check()


def _ctx_counting_instrument(counts: dict[str, list[int]]) -> Instrument:
    def instrument(stream: str, fn: StreamFn) -> StreamFn:
        cell = counts.setdefault(stream, [0])

        def counted(timestamp: int, fields: Fields) -> None:
            cell[0] += 1
            fn(timestamp, fields)

        return counted

    return instrument


def _ctx_child_main(shared: _ctx_Shared, me: int, cores: tuple[int, ...]) -> None:
    with contextlib.suppress(ValueError):  # ValueError: not the main thread
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    graph = shared.graph
    spec = graph.specs[me]
    counters = _ctx_Counters()
    transport = _ctx_ChildTransport(shared, me, counters)
    counts: dict[str, list[int]] = {}
    runtime = ContextRuntime(
        spec.name,
        len(graph.producers(me)),
        [graph.specs[t].name for t, _ in graph.targets[me]],
        transport,
        _ctx_counting_instrument(counts) if shared.counting else None,
        shared.batch_size,
        counters,
    )
    try:
        _ctx_pin(spec.name, cores, whole_process=True)
        spec.run(runtime)
        if not runtime.served:
            raise RuntimeError("its run function returned without calling serve")
        events = {stream: cell[0] for stream, cell in counts.items()}
        transport.tell(("done", me, counters.as_tuple(), events))
    except _ctx_Stopped:
        return
    except BaseException as exc:  # anything: the pipeline must not hang
        failure = _ctx_describe(spec.name, exc, runtime.failed_at)
        message = (failure.stream, failure.error, failure.traceback_text, failure.position)
        with contextlib.suppress(_ctx_Stopped):
            transport.tell(("failed", me, *message))


class _ctx_Parent:
    """The parent's side: writes the children's lines, collects their ends, watches them."""

    def __init__(
        self,
        shared: _ctx_Shared,
        processes: Sequence[ForkProcess],
        make_emitter: EmitterFactory,
        options: RunOptions,
    ) -> None:
        self.failure: ContextFailure | None = None
        self.finished = threading.Event()
        self.counters = [_ctx_Counters() for _ in processes]
        self._shared = shared
        self._processes = processes
        self._done = [False] * len(processes)
        self._make_emitter = make_emitter
        self._options = options
        self._emitters: dict[str, EmitFn] = {}
        self._dirty = False
        self._current = 0  # the child whose message is being handled

    def pump(self) -> None:
        """The parent thread's loop, until every child is done or one failed."""
        messages = self._shared.messages
        try:
            while not all(self._done) and self.failure is None:
                try:
                    message = messages.get(timeout=_ctx_POLL)
                except queue.Empty:
                    self._flush()
                    self._check_children()
                    continue
                self._handle(message)
                if messages.empty():
                    self._flush()
            self._flush()
        except BaseException as exc:  # writing failed (a closed output...)
            self.context_failed(_ctx_describe(self._name(self._current), exc))
        finally:
            self.finished.set()

    def _name(self, i: int) -> str:
        return self._shared.graph.specs[i].name

    def _handle(self, message: tuple[Any, ...]) -> None:
        kind, i = message[0], message[1]
        self._current = i
        if kind == "lines":
            self._write(message[2])
        elif kind == "done":
            self.counters[i] = _ctx_Counters(*message[2])
            if self._options.count_events is not None:
                for stream, count in message[3].items():
                    self._options.count_events(stream, count)
            self._done[i] = True
        elif kind == "failed":
            self.context_failed(ContextFailure(self._name(i), *message[2:6]))

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

    def _check_children(self) -> None:
        for i, process in enumerate(self._processes):
            if not self._done[i] and process.exitcode is not None:
                # Its last messages may have arrived after the timeout: read them first.
                while self.failure is None and not self._done[i]:
                    try:
                        self._handle(self._shared.messages.get(timeout=_ctx_POLL))
                    except queue.Empty:
                        break
                if self.failure is None and not self._done[i]:
                    error = f"its process ended unexpectedly (exit status {process.exitcode})"
                    self.context_failed(ContextFailure(self._name(i), None, error, ""))
                return

    def context_failed(self, failure: ContextFailure) -> None:
        """A context failed: the one place that decides what happens then (as in threads).

        Today the whole pipeline stops: the first failure is kept, the children see the stop
        event, `push`/`close` raise it and terminate them. Restart policies would plug in here.
        """
        if self.failure is None:
            self.failure = failure
        self._shared.stop.set()

    def check(self) -> None:
        """Raise the failure, if any, after stopping every child."""
        if self.failure is not None:
            self.stop_all()
            _ctx_raise(self.failure)

    def stop_all(self) -> None:
        """Stop and reap every child."""
        self._shared.stop.set()
        for process in self._processes:
            if process.is_alive():
                process.terminate()
        for process in self._processes:
            process.join(timeout=2)

    def reap(self) -> None:
        """Wait for the children, which are done and exiting."""
        for process in self._processes:
            process.join(timeout=5)
        self.stop_all()


def _ctx_start_processes(
    graph: _ctx_Graph,
    make_emitter: EmitterFactory,
    instrument: Instrument | None,
    options: RunOptions,
    cores: Sequence[tuple[int, ...]],
) -> tuple[PushFn, CloseFn]:
    """Fork one child per context; return the ingress `push` and `close`."""
    if not sys.platform.startswith("linux"):
        raise RuntimeError("the process backend needs Linux (it forks); use --backend thread")
    fork = multiprocessing.get_context("fork")
    batch_size = min(options.batch_size, options.queue_capacity)
    room = max(1, options.queue_capacity // batch_size)
    specs = graph.specs
    shared = _ctx_Shared(
        graph,
        [fork.Queue() for _ in specs],
        [[fork.Semaphore(room) for _ in graph.producers(i)] for i in range(len(specs))],
        fork.Queue(maxsize=4 * len(specs)),
        fork.Event(),
        batch_size,
        instrument is not None,
        os.getpid(),
    )
    sys.stdout.flush()  # or the children would write the parent's buffered text again
    sys.stderr.flush()
    processes = [
        fork.Process(
            target=_ctx_child_main, args=(shared, i, cores[i]), name=f"vpl-context-{spec.name}"
        )
        for i, spec in enumerate(specs)
    ]
    for process in processes:
        process.daemon = True  # terminated when the parent exits
        process.start()
    for inbox in shared.inboxes:
        inbox.cancel_join_thread()  # a dead child must not hang the parent's exit
    parent = _ctx_Parent(shared, processes, make_emitter, options)
    pump = threading.Thread(target=parent.pump, name="vpl-context-output", daemon=True)
    pump.start()
    return _ctx_parent_ends(shared, parent, pump, options)


def _ctx_parent_ends(
    shared: _ctx_Shared, parent: _ctx_Parent, pump: threading.Thread, options: RunOptions
) -> tuple[PushFn, CloseFn]:
    ingress_counters = _ctx_Counters()

    def send(target: int, items: list[_ctx_Item], upto: int) -> None:
        parent.check()
        ingress_counters.blocked += _ctx_acquire(shared.credits[target][0], parent.check)
        shared.inboxes[target].put((0, items, upto))

    ingress = _ctx_Ingress(shared.graph, send, shared.batch_size, ingress_counters)
    options.idle_hooks.append(ingress.idle)
    closed = False

    def close() -> None:
        nonlocal closed
        if closed:
            parent.check()
            return
        closed = True
        ingress.flush(CASCADE_END)
        while not parent.finished.wait(_ctx_POLL):
            pass
        parent.check()
        pump.join()
        parent.reap()
        ingress_counters.events_in = ingress.next_id
        if options.stats:
            rows = [
                (spec.name, c) for spec, c in zip(shared.graph.specs, parent.counters, strict=True)
            ]
            options.reports.append(lambda: _ctx_stats_report("process", ingress_counters, rows))

    return ingress.push, close

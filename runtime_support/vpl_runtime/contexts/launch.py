"""Contexts: one pipeline's orchestration over a `Backend` (the same for every backend).

`launch` builds the ingress, sets up the context that runs on the caller's thread (the one
the compiler marked `on_caller`), starts the backend and returns `push` and `close`; it
registers the driver's finish hook and the `--stats` report. A backend only runs contexts
and moves batches: threads and processes implement `Backend`, and a Ray backend would too,
without touching the merge (`merge`, `runtime`) or this orchestration.
"""

import threading
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from vpl_runtime.contexts.barriers import Barriers, Started, snapshot_function
from vpl_runtime.contexts.cascade import CASCADE_END
from vpl_runtime.contexts.graph import Graph
from vpl_runtime.contexts.ingress import Ingress
from vpl_runtime.contexts.merge import Item
from vpl_runtime.contexts.pinning import thread_name
from vpl_runtime.contexts.runtime import ContextRuntime, Transport
from vpl_runtime.contexts.stats import Counters, stats_report
from vpl_runtime.contexts.supervisor import Stopped, Supervisor
from vpl_runtime.driver import Fields, Instrument, RunOptions

_FLUSH_POLL = 0.001  # seconds between looks at the contexts' progress in `flush`


class Backend(Protocol):
    """What runs the contexts of one pipeline, except the one on the caller's thread.

    Every failure goes to `supervisor`, which takes every decision about it. `send`,
    `caller_transport` and `start` are called from the caller's thread, in this order of
    first use: `start` once, then `send` per ingress batch.
    """

    name: str  # "thread", "process": as `--stats` says it
    batch_size: int  # events per micro-batch, as the backend bounds it
    supervisor: Supervisor
    counters: list[Counters]  # per context, in spec order (the caller's included)
    # Per context: an input-level id below which it processed everything and passed its
    # lines on (kept up to date at least whenever the context goes idle, if
    # `RunOptions.live_delay` is set; the caller's unused).
    progress: list[int]

    def start(self) -> None:
        """Start every context but the caller's (`Graph.caller_index`)."""

    def send(self, target: int, items: list[Item], upto: int) -> float:
        """Send context `target` a batch of the ingress (producer 0); block while its channel
        is full and return the seconds blocked. Raises once the pipeline stops."""

    def caller_transport(self, index: int, ingress: Ingress) -> Transport:
        """The transport of context `index`, run on the caller's thread and fed by `ingress`
        (which must send what it holds before that context waits for room in a channel)."""

    def wait(self) -> None:
        """After the end of input: block until every started context is done or one failed."""

    def join(self) -> None:
        """After a normal end: release what the contexts held (threads, processes, pipes)."""

    def stop(self) -> None:
        """The run ended without `close` (Ctrl-C, a failure): stop every context, and gather
        what they did for `--stats`."""


def launch(
    backend: Backend,
    graph: Graph,
    instrument: Instrument | None,
    options: RunOptions,
    restored: tuple[int, Mapping[str, bytes]],
    barriers: Barriers,
) -> Started:
    """Run `graph`'s contexts on `backend`, the input numbered on from `restored`'s position
    and the caller's context started with its state there (the others get theirs from the
    backend); return the ingress `push`, `close` and the contexts' `snapshot` (D36)."""
    supervisor = backend.supervisor
    ingress_counters = Counters()

    def send(target: int, items: list[Item], upto: int) -> None:
        try:
            ingress_counters.blocked += backend.send(target, items, upto)
        except Stopped:
            supervisor.check()
            raise

    backend.start()
    ingress = Ingress(graph, send, backend.batch_size, ingress_counters)
    position, states = restored
    ingress.start_at(position)
    caller = _run_caller(backend, graph, ingress, instrument, states)
    others = [i for i in range(len(graph.specs)) if i != graph.caller_index()]
    options.hooks.idle.append(ingress.idle)
    # With `live_delay`, a timer thread calls `ingress.idle` too: the ingress is then used
    # from two threads, under `lock` (the command line's push takes no lock).
    lock = threading.Lock()
    closed = False

    def close() -> None:
        nonlocal closed
        with lock:
            if closed:
                supervisor.check()
                return
            closed = True
        if caller is not None:
            try:
                caller.finish()
            except BaseException as exc:
                ingress.caller_failed(exc)
                raise
        ingress.flush(CASCADE_END)
        backend.wait()
        supervisor.check()
        backend.join()

    def flush() -> None:
        with lock:
            if closed:
                supervisor.check()
                return
            ingress.idle()  # sends what it holds; the caller context passes its lines on
            upto = ingress.upto
        progress = backend.progress
        while any(progress[i] < upto for i in others):
            supervisor.check()
            time.sleep(_FLUSH_POLL)
        supervisor.check()

    def report() -> str:
        ingress_counters.events_in = ingress.events
        rows = [(spec.name, c) for spec, c in zip(graph.specs, backend.counters, strict=True)]
        return stats_report(backend.name, ingress_counters, rows)

    options.hooks.finish.append(backend.stop)
    if options.stats:
        options.hooks.reports.append(report)
    snapshot = snapshot_function(ingress, barriers, supervisor.check)
    if options.live_delay is None:  # the command line: its read loop calls `hooks.idle`
        return Started(ingress.push, close, snapshot)
    options.hooks.flush.append(flush)  # the backends report progress only then
    _start_timer(ingress, lock, options.live_delay, lambda: closed)
    ingress_push = ingress.push

    def locked_push(event_type: str, timestamp: int, fields: Fields) -> None:
        with lock:
            ingress_push(event_type, timestamp, fields)

    def locked_snapshot() -> dict[str, object]:
        with lock:
            return snapshot()

    return Started(locked_push, close, locked_snapshot)


def _start_timer(
    ingress: Ingress, lock: threading.Lock, delay: float, closed: Callable[[], bool]
) -> None:
    """Every `delay` seconds, send what the ingress holds (an embedding application may stop
    pushing for a while: its results must reach the sink all the same)."""

    def tick() -> None:
        try:
            while not closed():
                time.sleep(delay)
                with lock:
                    if not closed():
                        ingress.idle()
        except BaseException:
            return

    threading.Thread(target=tick, name=thread_name("(timer)"), daemon=True).start()


def _run_caller(
    backend: Backend,
    graph: Graph,
    ingress: Ingress,
    instrument: Instrument | None,
    states: Mapping[str, bytes],
) -> ContextRuntime | None:
    """Set up the context that runs on the caller's thread, if any: its streams get the
    input events straight from `push`, with no channel and no thread switch."""
    index = graph.caller_index()
    if index is None:
        return None
    spec = graph.specs[index]
    runtime = ContextRuntime(
        spec.name,
        len(graph.producers(index)),
        graph.target_names(index),
        backend.caller_transport(index, ingress),
        instrument,
        backend.batch_size,
        backend.counters[index],
        graph.scales(index),
    )
    runtime.saved = states.get(spec.name)

    def failed(exc: BaseException) -> None:
        backend.supervisor.caller_failed(spec.name, exc, runtime.failed_at)

    ingress.caller_failed = failed
    runtime.run_on_caller(spec.run)
    ingress.attach_caller(index, runtime)
    return runtime

"""Contexts: one pipeline's orchestration over a `Backend` (the same for every backend).

`launch` builds the ingress, sets up the context that runs on the caller's thread (the one
the compiler marked `on_caller`), starts the backend and returns `push` and `close`; it
registers the driver's finish hook and the `--stats` report. A backend only runs contexts
and moves batches: threads and processes implement `Backend`, and a Ray backend would too,
without touching the merge (`merge`, `runtime`) or this orchestration.
"""

from typing import Protocol

from vpl_runtime.contexts.cascade import CASCADE_END
from vpl_runtime.contexts.graph import Graph
from vpl_runtime.contexts.ingress import Ingress
from vpl_runtime.contexts.merge import Item
from vpl_runtime.contexts.runtime import ContextRuntime, Transport
from vpl_runtime.contexts.stats import Counters, stats_report
from vpl_runtime.contexts.supervisor import Stopped, Supervisor
from vpl_runtime.driver import CloseFn, Instrument, PushFn, RunOptions


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
    backend: Backend, graph: Graph, instrument: Instrument | None, options: RunOptions
) -> tuple[PushFn, CloseFn]:
    """Run `graph`'s contexts on `backend`; return the ingress `push` and `close`."""
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
    caller = _run_caller(backend, graph, ingress, instrument)
    options.idle_hooks.append(ingress.idle)
    closed = False

    def close() -> None:
        nonlocal closed
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

    def report() -> str:
        ingress_counters.events_in = ingress.events
        rows = [(spec.name, c) for spec, c in zip(graph.specs, backend.counters, strict=True)]
        return stats_report(backend.name, ingress_counters, rows)

    options.finish_hooks.append(backend.stop)
    if options.stats:
        options.reports.append(report)
    return ingress.push, close


def _run_caller(
    backend: Backend, graph: Graph, ingress: Ingress, instrument: Instrument | None
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

    def failed(exc: BaseException) -> None:
        backend.supervisor.caller_failed(spec.name, exc, runtime.failed_at)

    ingress.caller_failed = failed
    runtime.run_on_caller(spec.run)
    ingress.attach_caller(index, runtime)
    return runtime

"""Contexts on threads: bounded channels with per-producer room, start and close."""

import threading
from collections.abc import Callable, Mapping, Sequence
from time import perf_counter

from vpl_runtime.contexts.barriers import (
    Barriers,
    Started,
    reached_contexts,
    saved_contexts,
    snapshot_function,
)
from vpl_runtime.contexts.cascade import CASCADE_END
from vpl_runtime.contexts.graph import Graph
from vpl_runtime.contexts.ingress import Ingress
from vpl_runtime.contexts.lines import BufferedOutput
from vpl_runtime.contexts.merge import Batch, Item
from vpl_runtime.contexts.pinning import name_os_thread, pin, thread_name
from vpl_runtime.contexts.runtime import ContextRuntime
from vpl_runtime.contexts.stats import Counters, stats_report
from vpl_runtime.contexts.supervisor import Stopped, Supervisor
from vpl_runtime.driver import (
    EmitterFactory,
    Instrument,
    RunOptions,
)

# Waits are woken by notify; the timeout only bounds the damage of a lost wake-up.
_INBOX_WAIT = 1.0


class _Inbox:
    """The channels into one context: one queue shared by its producers.

    Each producer has its own room of `capacity` events in flight (sent, not yet processed;
    a batch without items counts 1): a full producer blocks, the others go on, so a slow
    producer can always deliver the items that let the context make progress.
    """

    def __init__(self, producers: int, capacity: int) -> None:
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._room = threading.Condition(self._lock)
        self._batches: list[Batch] = []
        self._in_flight = [0] * producers
        self._capacity = capacity
        self._stopped = False

    def put(self, producer: int, items: list[Item], upto: int) -> float:
        """Queue a batch; return the seconds spent blocked on a full channel."""
        size = len(items) or 1
        blocked = 0.0
        with self._lock:
            in_flight = self._in_flight
            while (
                in_flight[producer]
                and in_flight[producer] + size > self._capacity
                and not self._stopped
            ):
                started = perf_counter()
                self._room.wait(_INBOX_WAIT)
                blocked += perf_counter() - started
            if self._stopped:
                raise Stopped
            in_flight[producer] += size
            self._batches.append((producer, items, upto))
            self._ready.notify()
        return blocked

    def take(self, wait: bool) -> list[Batch]:
        """Every queued batch; with `wait`, block until there is one."""
        with self._lock:
            while wait and not self._batches and not self._stopped:
                self._ready.wait(_INBOX_WAIT)
            if self._stopped:
                raise Stopped
            batches = self._batches
            self._batches = []
        return batches

    def release(self, producer: int, events: int) -> None:
        """`events` of `producer` were processed: room for more."""
        with self._lock:
            self._in_flight[producer] -= events
            self._room.notify_all()

    def stop(self) -> None:
        """Wake everyone up: blocked `put` and `take` raise `Stopped`."""
        with self._lock:
            self._stopped = True
            self._ready.notify_all()
            self._room.notify_all()


class _ThreadTransport(BufferedOutput):
    """A context thread's channels and output: emitters write whole lines under the lock."""

    def __init__(
        self,
        inbox: _Inbox,
        outboxes: Sequence[tuple[_Inbox, int]],
        counters: Counters,
        make_emitter: EmitterFactory,
        options: RunOptions,
        barriers: tuple[Barriers, str],
    ) -> None:
        super().__init__(counters, make_emitter, options)
        self._inbox = inbox
        self._outboxes = outboxes
        self._barriers, self._name = barriers

    def snapshot_taken(self, barrier: int, state: bytes) -> None:
        self.passed()  # the lines before the barrier reach the sink before snapshot() returns
        self._barriers.taken(self._name, barrier, state)

    def take(self, wait: bool) -> list[Batch]:
        return self._inbox.take(wait)

    def release(self, producer: int, batches: int, events: int) -> None:
        self._inbox.release(producer, events)

    def send(self, slot: int, items: list[Item], upto: int) -> None:
        box, producer = self._outboxes[slot]
        self._counters.blocked += box.put(producer, items, upto)


def _thread_main(
    spec_run: Callable[[ContextRuntime], None],
    cores: tuple[int, ...],
    runtime: ContextRuntime,
    supervisor: Supervisor,
) -> None:
    try:
        name_os_thread(runtime.name)
        pin(runtime.name, cores, whole_process=False)
        spec_run(runtime)
        if not runtime.served:
            raise RuntimeError("its run function returned without calling serve")
    except Stopped:
        return
    except BaseException as exc:  # anything: the pipeline must not hang
        supervisor.context_failed(runtime.name, exc, runtime.failed_at)
        return
    supervisor.context_done()


def start_threads(
    graph: Graph,
    make_emitter: EmitterFactory,
    instrument: Instrument | None,
    options: RunOptions,
    cores: Sequence[tuple[int, ...]],
    saved: Mapping[str, object] | None = None,
) -> Started:
    """Start one daemon thread per context, each with its `saved` state if given; return
    the ingress `push`, `close` and `snapshot`."""
    position, states = saved_contexts(saved)
    barriers = Barriers(reached_contexts(graph))
    specs = graph.specs
    capacity = options.queue_capacity
    batch_size = min(options.batch_size, capacity)
    inboxes = [_Inbox(len(graph.producers(i)), capacity) for i in range(len(specs))]

    def stop() -> None:
        for inbox in inboxes:
            inbox.stop()

    supervisor = Supervisor(stop)
    counters = [Counters() for _ in specs]
    threads = []
    caller = graph.caller_index()
    runtimes = []
    for i, spec in enumerate(specs):
        targets = graph.targets[i]
        transport = (_CallerThreadTransport if i == caller else _ThreadTransport)(
            inboxes[i],
            [(inboxes[t], p) for t, p in targets],
            counters[i],
            make_emitter,
            options,
            (barriers, spec.name),
        )
        runtime = ContextRuntime(
            spec.name,
            len(graph.producers(i)),
            [specs[t].name for t, _ in targets],
            transport,
            instrument,
            batch_size,
            counters[i],
            graph.scales(i),
        )
        runtime.saved = states.get(spec.name)
        runtimes.append(runtime)
        if i == caller:
            continue
        thread = threading.Thread(
            target=_thread_main,
            args=(spec.run, cores[i], runtime, supervisor),
            name=thread_name(spec.name),
            daemon=True,  # Ctrl-C ends the process even if a context is stuck
        )
        threads.append(thread)
    ingress_counters = Counters()

    def send(target: int, items: list[Item], upto: int) -> None:
        try:
            ingress_counters.blocked += inboxes[target].put(0, items, upto)
        except Stopped:
            supervisor.check()
            raise

    ingress = Ingress(graph, send, batch_size, ingress_counters)
    ingress.start_at(position)
    on_caller = None if caller is None else runtimes[caller]
    if caller is not None and on_caller is not None:
        _attach_caller(graph, caller, on_caller, ingress, supervisor)
    for thread in threads:
        thread.start()
    options.idle_hooks.append(ingress.idle)
    closed = False

    def close() -> None:
        nonlocal closed
        if closed:
            supervisor.check()
            return
        closed = True
        if on_caller is not None:
            try:
                on_caller.finish()
            except BaseException as exc:
                ingress.caller_failed(exc)
                raise
        ingress.flush(CASCADE_END)
        supervisor.wait(len(threads))
        supervisor.check()
        for thread in threads:
            thread.join()

    def finish() -> None:
        # After Ctrl-C (no close) the threads still run: stop them, so that their counters
        # hold still for the report and no line is written after the summary.
        stop()
        for thread in threads:
            thread.join(timeout=2)

    def report() -> str:
        ingress_counters.events_in = ingress.events
        rows = [(spec.name, c) for spec, c in zip(specs, counters, strict=True)]
        return stats_report("thread", ingress_counters, rows)

    options.finish_hooks.append(finish)
    if options.stats:
        options.reports.append(report)
    return Started(ingress.push, close, snapshot_function(ingress, barriers, supervisor.check))


class _CallerThreadTransport(_ThreadTransport):
    """The channels of the context run on the caller's thread: before it may wait for room
    in a channel, the ingress sends what it holds (the target may be waiting for it)."""

    ingress: Ingress | None = None

    def send(self, slot: int, items: list[Item], upto: int) -> None:
        if self.ingress is not None:
            self.ingress.send_log()
        super().send(slot, items, upto)


def _attach_caller(
    graph: Graph,
    index: int,
    runtime: ContextRuntime,
    ingress: Ingress,
    supervisor: Supervisor,
) -> None:
    """Set up context `index` to run on the caller's thread, fed by `ingress`."""
    transport = runtime.transport
    assert isinstance(transport, _CallerThreadTransport)
    transport.ingress = ingress

    def failed(exc: BaseException) -> None:
        supervisor.caller_failed(runtime.name, exc, runtime.failed_at)

    ingress.caller_failed = failed
    runtime.run_on_caller(graph.specs[index].run)
    ingress.attach_caller(index, runtime)

"""Contexts on threads (`ThreadBackend`): bounded channels with per-producer room."""

import threading
from collections.abc import Callable, Mapping, Sequence
from time import perf_counter

from vpl_runtime.contexts.barriers import Barriers
from vpl_runtime.contexts.graph import Graph
from vpl_runtime.contexts.ingress import Ingress
from vpl_runtime.contexts.lines import BufferedOutput
from vpl_runtime.contexts.merge import Batch, Item
from vpl_runtime.contexts.pinning import name_os_thread, pin, thread_name
from vpl_runtime.contexts.runtime import ContextRuntime, Transport
from vpl_runtime.contexts.stats import Counters
from vpl_runtime.contexts.supervisor import Stopped, Supervisor
from vpl_runtime.driver import EmitterFactory, Instrument, RunOptions

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
        self._progress: list[int] = []  # the backend's board, and this context's place in it
        self._index = 0

    def report_to(self, progress: list[int], index: int) -> None:
        """Record this context's progress in `progress[index]` (read by `Pipeline.flush`)."""
        self._progress, self._index = progress, index

    def snapshot_taken(self, barrier: int, state: bytes) -> None:
        self.passed()  # the lines before the barrier reach the sink before snapshot() returns
        self._barriers.taken(self._name, barrier, state)

    def progressed(self, upto: int) -> None:
        if self._progress:
            self._progress[self._index] = upto  # one store: the reader polls

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


class ThreadBackend:
    """Contexts on daemon threads of this process, one per context."""

    name = "thread"

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
        capacity = options.queue_capacity
        self._barriers = barriers
        self._states = states
        self.batch_size = min(options.batch_size, capacity)
        self._graph = graph
        self._make_emitter = make_emitter
        self._instrument = instrument
        self._options = options
        self._cores = cores
        self._inboxes = [_Inbox(len(graph.producers(i)), capacity) for i in range(len(cores))]
        self.supervisor = Supervisor(self._stop_all)
        self.counters = [Counters() for _ in graph.specs]
        self.progress = [0] * len(graph.specs)
        self._threads: list[threading.Thread] = []

    def _stop_all(self) -> None:
        for inbox in self._inboxes:
            inbox.stop()

    def _outboxes(self, i: int) -> list[tuple[_Inbox, int]]:
        return [(self._inboxes[t], p) for t, p in self._graph.targets[i]]

    def start(self) -> None:
        graph = self._graph
        caller = graph.caller_index()
        for i, spec in enumerate(graph.specs):
            if i == caller:
                continue
            transport = _ThreadTransport(
                self._inboxes[i],
                self._outboxes(i),
                self.counters[i],
                self._make_emitter,
                self._options,
                (self._barriers, spec.name),
            )
            transport.report_to(self.progress, i)
            runtime = ContextRuntime(
                spec.name,
                len(graph.producers(i)),
                graph.target_names(i),
                transport,
                self._instrument,
                self.batch_size,
                self.counters[i],
                graph.scales(i),
            )
            runtime.saved = self._states.get(spec.name)
            thread = threading.Thread(
                target=_thread_main,
                args=(spec.run, self._cores[i], runtime, self.supervisor),
                name=thread_name(spec.name),
                daemon=True,  # Ctrl-C ends the process even if a context is stuck
            )
            self._threads.append(thread)
        for thread in self._threads:
            thread.start()

    def send(self, target: int, items: list[Item], upto: int) -> float:
        return self._inboxes[target].put(0, items, upto)

    def caller_transport(self, index: int, ingress: Ingress) -> Transport:
        return _CallerThreadTransport(
            self._inboxes[index],
            self._outboxes(index),
            self.counters[index],
            self._make_emitter,
            self._options,
            (self._barriers, self._graph.specs[index].name),
            ingress,
        )

    def wait(self) -> None:
        self.supervisor.wait(len(self._threads))

    def join(self) -> None:
        for thread in self._threads:
            thread.join()

    def stop(self) -> None:
        # After Ctrl-C (no close) the threads still run: stop them, so that their counters
        # hold still for the report and no line is written after the summary.
        self._stop_all()
        for thread in self._threads:
            thread.join(timeout=2)


class _CallerThreadTransport(_ThreadTransport):
    """The channels of the context run on the caller's thread: before it may wait for room
    in a channel, the ingress sends what it holds (the target may be waiting for it)."""

    def __init__(
        self,
        inbox: _Inbox,
        outboxes: Sequence[tuple[_Inbox, int]],
        counters: Counters,
        make_emitter: EmitterFactory,
        options: RunOptions,
        barriers: tuple[Barriers, str],
        ingress: Ingress,
    ) -> None:
        super().__init__(inbox, outboxes, counters, make_emitter, options, barriers)
        self._ingress = ingress

    def send(self, slot: int, items: list[Item], upto: int) -> None:
        self._ingress.send_log()
        super().send(slot, items, upto)

"""Contexts on threads: bounded channels with per-producer room, the supervisor, start and close."""

import threading
from collections.abc import Callable, Sequence
from time import perf_counter

from vpl_runtime.ctx_core import (
    CASCADE_END,
    ContextFailure,
    ContextRuntime,
    _ctx_Batch,
    _ctx_BufferedOutput,
    _ctx_caller_index,
    _ctx_Counters,
    _ctx_describe,
    _ctx_Graph,
    _ctx_Ingress,
    _ctx_Item,
    _ctx_raise,
    _ctx_Stopped,
)
from vpl_runtime.ctx_support import (
    _ctx_name_os_thread,
    _ctx_pin,
    _ctx_stats_report,
    _ctx_thread_name,
)
from vpl_runtime.driver import (
    CloseFn,
    EmitterFactory,
    Instrument,
    PushFn,
    RunOptions,
)

# Waits are woken by notify; the timeout only bounds the damage of a lost wake-up.
_ctx_WAIT = 1.0


class _ctx_Inbox:
    """The channels into one context: one queue shared by its producers.

    Each producer has its own room of `capacity` events in flight (sent, not yet processed;
    a batch without items counts 1): a full producer blocks, the others go on, so a slow
    producer can always deliver the items that let the context make progress.
    """

    def __init__(self, producers: int, capacity: int) -> None:
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._room = threading.Condition(self._lock)
        self._batches: list[_ctx_Batch] = []
        self._in_flight = [0] * producers
        self._capacity = capacity
        self._stopped = False

    def put(self, producer: int, items: list[_ctx_Item], upto: int) -> float:
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
                self._room.wait(_ctx_WAIT)
                blocked += perf_counter() - started
            if self._stopped:
                raise _ctx_Stopped
            in_flight[producer] += size
            self._batches.append((producer, items, upto))
            self._ready.notify()
        return blocked

    def take(self, wait: bool) -> list[_ctx_Batch]:
        """Every queued batch; with `wait`, block until there is one."""
        with self._lock:
            while wait and not self._batches and not self._stopped:
                self._ready.wait(_ctx_WAIT)
            if self._stopped:
                raise _ctx_Stopped
            batches = self._batches
            self._batches = []
        return batches

    def release(self, producer: int, events: int) -> None:
        """`events` of `producer` were processed: room for more."""
        with self._lock:
            self._in_flight[producer] -= events
            self._room.notify_all()

    def stop(self) -> None:
        """Wake everyone up: blocked `put` and `take` raise `_ctx_Stopped`."""
        with self._lock:
            self._stopped = True
            self._ready.notify_all()
            self._room.notify_all()


class _ctx_ThreadTransport(_ctx_BufferedOutput):
    """A context thread's channels and output: emitters write whole lines under the lock."""

    def __init__(
        self,
        inbox: _ctx_Inbox,
        outboxes: Sequence[tuple[_ctx_Inbox, int]],
        counters: _ctx_Counters,
        make_emitter: EmitterFactory,
        options: RunOptions,
    ) -> None:
        super().__init__(counters, make_emitter, options)
        self._inbox = inbox
        self._outboxes = outboxes

    def take(self, wait: bool) -> list[_ctx_Batch]:
        return self._inbox.take(wait)

    def release(self, producer: int, batches: int, events: int) -> None:
        self._inbox.release(producer, events)

    def send(self, slot: int, items: list[_ctx_Item], upto: int) -> None:
        box, producer = self._outboxes[slot]
        self._counters.blocked += box.put(producer, items, upto)

class _ctx_Supervisor:
    """Watches the contexts of one pipeline: counts those done, decides what a failure does."""

    def __init__(self, inboxes: Sequence[_ctx_Inbox]) -> None:
        self.failure: ContextFailure | None = None
        self._inboxes = inboxes
        self._changed = threading.Condition()
        self._done = 0

    def context_done(self) -> None:
        """A context served to the end."""
        with self._changed:
            self._done += 1
            self._changed.notify_all()

    def context_failed(self, name: str, exc: BaseException, position: int | None) -> None:
        """Context `name` raised `exc`: the one place that decides what happens then.

        Today the whole pipeline stops: the first failure is kept, every channel wakes up and
        `push`/`close` raise it. Restart policies would plug in here.
        """
        with self._changed:
            if self.failure is None:
                self.failure = _ctx_describe(name, exc, position)
            self._changed.notify_all()
        for inbox in self._inboxes:
            inbox.stop()

    def check(self) -> None:
        """Raise the failure, if any."""
        if self.failure is not None:
            _ctx_raise(self.failure)

    def wait(self, count: int) -> None:
        """Block until `count` contexts are done, or one failed."""
        with self._changed:
            while self._done < count and self.failure is None:
                self._changed.wait(_ctx_WAIT)


def _ctx_thread_main(
    spec_run: Callable[[ContextRuntime], None],
    cores: tuple[int, ...],
    runtime: ContextRuntime,
    supervisor: _ctx_Supervisor,
) -> None:
    try:
        _ctx_name_os_thread(runtime.name)
        _ctx_pin(runtime.name, cores, whole_process=False)
        spec_run(runtime)
        if not runtime.served:
            raise RuntimeError("its run function returned without calling serve")
    except _ctx_Stopped:
        return
    except BaseException as exc:  # anything: the pipeline must not hang
        supervisor.context_failed(runtime.name, exc, runtime.failed_at)
        return
    supervisor.context_done()


def _ctx_start_threads(
    graph: _ctx_Graph,
    make_emitter: EmitterFactory,
    instrument: Instrument | None,
    options: RunOptions,
    cores: Sequence[tuple[int, ...]],
) -> tuple[PushFn, CloseFn]:
    """Start one daemon thread per context; return the ingress `push` and `close`."""
    specs = graph.specs
    capacity = options.queue_capacity
    batch_size = min(options.batch_size, capacity)
    inboxes = [_ctx_Inbox(len(graph.producers(i)), capacity) for i in range(len(specs))]
    supervisor = _ctx_Supervisor(inboxes)
    counters = [_ctx_Counters() for _ in specs]
    threads = []
    caller = _ctx_caller_index(graph)
    runtimes = []
    for i, spec in enumerate(specs):
        targets = graph.targets[i]
        transport = (_ctx_CallerThreadTransport if i == caller else _ctx_ThreadTransport)(
            inboxes[i], [(inboxes[t], p) for t, p in targets], counters[i], make_emitter, options
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
        runtimes.append(runtime)
        if i == caller:
            continue
        thread = threading.Thread(
            target=_ctx_thread_main,
            args=(spec.run, cores[i], runtime, supervisor),
            name=_ctx_thread_name(spec.name),
            daemon=True,  # Ctrl-C ends the process even if a context is stuck
        )
        threads.append(thread)
    ingress_counters = _ctx_Counters()

    def send(target: int, items: list[_ctx_Item], upto: int) -> None:
        try:
            ingress_counters.blocked += inboxes[target].put(0, items, upto)
        except _ctx_Stopped:
            supervisor.check()
            raise

    ingress = _ctx_Ingress(graph, send, batch_size, ingress_counters)
    on_caller = None if caller is None else runtimes[caller]
    if caller is not None and on_caller is not None:
        _ctx_attach_caller(graph, caller, on_caller, ingress, supervisor)
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
        for inbox in inboxes:
            inbox.stop()
        for thread in threads:
            thread.join(timeout=2)

    def report() -> str:
        ingress_counters.events_in = ingress.next_id
        rows = [(spec.name, c) for spec, c in zip(specs, counters, strict=True)]
        return _ctx_stats_report("thread", ingress_counters, rows)

    options.finish_hooks.append(finish)
    if options.stats:
        options.reports.append(report)
    return ingress.push, close


class _ctx_CallerThreadTransport(_ctx_ThreadTransport):
    """The channels of the context run on the caller's thread: before it may wait for room
    in a channel, the ingress sends what it holds (the target may be waiting for it)."""

    ingress: _ctx_Ingress | None = None

    def send(self, slot: int, items: list[_ctx_Item], upto: int) -> None:
        if self.ingress is not None:
            self.ingress.send_log()
        super().send(slot, items, upto)


def _ctx_attach_caller(
    graph: _ctx_Graph,
    index: int,
    runtime: ContextRuntime,
    ingress: _ctx_Ingress,
    supervisor: _ctx_Supervisor,
) -> None:
    """Set up context `index` to run on the caller's thread, fed by `ingress`."""
    transport = runtime.transport
    assert isinstance(transport, _ctx_CallerThreadTransport)
    transport.ingress = ingress

    def failed(exc: BaseException) -> None:
        if not isinstance(exc, _ctx_Stopped):  # else another context failed first
            supervisor.context_failed(runtime.name, exc, runtime.failed_at)
        supervisor.check()

    ingress.caller_failed = failed
    runtime.run_on_caller(graph.specs[index].run)
    ingress.attach_caller(index, runtime)

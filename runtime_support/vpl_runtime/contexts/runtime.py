"""Contexts: `ContextRuntime`, one context's side of the protocol (SEMANTICS §8, D11).

A context is one thread (or process) running some streams; its generated `run_<context>(ctx)`
builds them and calls `ctx.serve(routes, flushes)`. The runtime numbers nothing itself: items
carry the cascade ids of `cascade`, the merge of `merge` says what may be processed, and a
`Transport` (the backend's side: channels, output lines, idle time) moves the batches.
"""

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from time import perf_counter
from typing import Protocol

from vpl_runtime.contexts.cascade import (
    BARRIER_ROUTE,
    CASCADE_END,
    SUB,
    flush_id,
    next_flush,
    unrefined,
)
from vpl_runtime.contexts.merge import (
    CHECK_INVARIANTS,
    Batch,
    InvariantError,
    Item,
    Pending,
    new_pending,
)
from vpl_runtime.contexts.stats import Counters
from vpl_runtime.driver import EmitFn, Fields, Instrument, RestoreFn, SnapshotFn, StreamFn
from vpl_runtime.snapshot import decode_state, encode_state

# A context's `snapshot_state` and `restore_state` (generated beside its streams, D35).
StateFns = tuple[SnapshotFn, RestoreFn]


@dataclass(frozen=True, slots=True)
class ContextSpec:
    """One context of a generated module.

    `run(ctx)` sets up the context's streams and calls `ctx.serve(...)`; `routes` are the route
    names its `serve` accepts (input event types among them receive input events); `upstream`
    are the contexts that send to it, in the order that breaks ties between equal cascades.
    """

    name: str
    run: Callable[["ContextRuntime"], None]
    cores: tuple[int, ...] = ()
    routes: tuple[str, ...] = ()
    upstream: tuple[str, ...] = ()
    pool_worker: bool = False  # a worker of a pool whose scheduler is its one upstream
    # Runs on the thread that calls `push` (no channel and no thread switch between the input
    # and it): the compiler marks at most one, the only context fed by the input, not pinned,
    # without upstream (`Graph.build` checks it).
    on_caller: bool = False


@dataclass(frozen=True, slots=True)
class Scales:
    """A context's depth, the left shift of each producer's ids, and which targets are
    pool workers (sent refined ids)."""

    depth: int = 0
    shifts: tuple[int, ...] = ()
    refine: tuple[bool, ...] = ()
    no_input: bool = False  # takes no input events: the ingress never sends it anything


class Transport(Protocol):
    """How a context talks to the others: channels, output lines, idle time."""

    def take(self, wait: bool) -> list[Batch]:
        """The batches that arrived; with `wait`, block until there is one (or stop)."""

    def release(self, producer: int, batches: int, events: int) -> None:
        """`batches` of `producer` (holding `events` events, 1 if empty) are done."""

    def send(self, slot: int, items: list[Item], upto: int) -> None:
        """Send a batch to target `slot`; block while its channel is full."""

    def emitter(self, stream: str) -> EmitFn:
        """The emit function of `stream`'s output lines, safe to call from this context."""

    def passed(self) -> None:
        """A processing pass ended (its output lines may be shipped)."""

    def idle(self) -> None:
        """Nothing to do: about to block waiting for input."""

    def progressed(self, upto: int) -> None:
        """Every item below input-level id `upto` is processed and its lines are passed on
        (what `Pipeline.flush` waits for)."""

    def snapshot_taken(self, barrier: int, state: bytes) -> None:
        """The context reached `barrier` (an input-level id) with `state`: for the caller."""


class ContextRuntime:
    """One context's side of the runtime; used only from the context's own thread or process."""

    def __init__(
        self,
        name: str,
        producers: int,
        targets: Sequence[str],
        transport: Transport,
        instrument: Instrument | None,
        batch_size: int,
        counters: Counters,
        scales: Scales = Scales(),
    ) -> None:
        self.name = name
        self.scales = scales
        self._refine = scales.refine or (False,) * len(targets)
        self.instrument = instrument
        self.counters = counters
        self.served = False
        self._producers = producers
        self._slots = {target: slot for slot, target in enumerate(targets)}
        self._out: list[list[Item]] = [[] for _ in targets]
        self._sent_upto = [0] * len(targets)
        self._transport = transport
        self._batch_size = batch_size
        self._cascade = 0  # cascade id of the item being processed
        self.failed_at: int | None = None  # the cascade being processed when a stream raised
        self._flushing = 0  # cascade id of the flush running
        self._on_caller = False
        self._routes: Mapping[str, StreamFn] = {}
        self._flushes: Sequence[tuple[int, Callable[[], None]]] = ()
        self.saved: bytes | None = None  # the state to restore before serving (D36)
        self._snapshot_state: SnapshotFn | None = None
        self._barrier = -1  # the latest barrier reached (each producer forwards it)

    def sender(self, target: str) -> Callable[[str, int, Fields], None]:
        """`send(route, timestamp, fields)` delivers an item to context `target`."""
        slot = self._slot(target)
        buffer = self._out[slot]
        size = self._batch_size

        def send(route: str, timestamp: int, fields: Fields) -> None:
            buffer.append((route, timestamp, fields, self._cascade))
            if len(buffer) >= size:
                # More items of the current cascade may follow: promise no more than it.
                self._send(slot, self._cascade)

        return send

    def pool_senders(
        self, workers: Sequence[str]
    ) -> tuple[Callable[[str, int, Fields], None], ...]:
        """One `send(route, timestamp, fields)` per worker of a pool: each dispatch of the
        current cascade c gets the refined id `(c << 32) + i`, i counting the pool's
        dispatches of c, so that their results merge back in dispatch order."""
        size = self._batch_size
        last = [-1, 0]  # the cascade of the latest dispatch, and the next i

        def sender(slot: int) -> Callable[[str, int, Fields], None]:
            buffer = self._out[slot]

            def send(route: str, timestamp: int, fields: Fields) -> None:
                cascade = self._cascade
                if cascade != last[0]:
                    last[0], last[1] = cascade, 0
                # refine(cascade, i), inline: this runs once per dispatched event
                buffer.append((route, timestamp, fields, (cascade << SUB) + last[1]))
                last[1] += 1
                if len(buffer) >= size:
                    # Later dispatches get larger ids: promise the next one's.
                    self._send(slot, (cascade << SUB) + last[1], refined=True)

            return send

        return tuple(sender(self._slot(worker)) for worker in workers)

    def _slot(self, target: str) -> int:
        slot = self._slots.get(target)
        if slot is None:
            raise ValueError(f"context '{self.name}' is not upstream of context '{target}'")
        return slot

    def emitter(self, stream: str) -> EmitFn:
        """The emit function of `stream`'s output lines."""
        return self._transport.emitter(stream)

    def lines_to(self, collector: str, route: str) -> Callable[[str], EmitFn]:
        """An emitter factory whose lines go, as items on `route`, to context `collector`,
        which writes them in cascade order (an ordered pool's workers use it)."""
        send = self.sender(collector)

        def factory(_stream: str) -> EmitFn:
            def emit(_name: str, timestamp: int, fields: Fields) -> None:
                send(route, timestamp, fields)

            return emit

        return factory

    @property
    def cascade(self) -> int:
        """The cascade id of the item being processed."""
        return self._cascade

    def partition_turn(self, first: int) -> None:
        """In a flush: what follows is the partition first reached in cascade `first`
        (smaller than the flush's own id, which doubles from one flush to the next)."""
        self._cascade = self._flushing + 1 + first

    def line_writer(self, stream: str) -> StreamFn:
        """The route that writes the lines `lines_to` sends, as `stream`'s output."""
        emit = self._transport.emitter(stream)

        def write(timestamp: int, fields: Fields) -> None:
            emit(stream, timestamp, fields)

        return write

    def _wire(self, slot: int, upto: int) -> int:
        """The promise `upto` as target `slot` counts (refined for a pool worker), never
        less than one already sent: a promise must cover every item sent before it (a
        refined dispatch id is above its cascade's), or the merge downstream could let a
        producer overtake one whose head it thinks may still be preceded."""
        wire = upto << SUB if self._refine[slot] else upto
        return max(wire, self._sent_upto[slot])

    def _send(self, slot: int, upto: int, refined: bool = False) -> None:
        buffer = self._out[slot]
        items = buffer.copy()
        buffer.clear()
        self.counters.sent += len(items)
        wire = max(upto, self._sent_upto[slot]) if refined else self._wire(slot, upto)
        self._transport.send(slot, items, wire)
        self._sent_upto[slot] = wire

    def serve(
        self,
        routes: Mapping[str, StreamFn],
        flushes: Sequence[tuple[int, Callable[[], None]]],
        state: StateFns | None = None,
    ) -> None:
        """Process items and flushes in order until every producer is done; then return.

        `flushes` are the context's end-of-input flushes with their global positions k;
        `state` its streams' `snapshot_state` and `restore_state` (D36).
        """
        if self.served:
            raise RuntimeError(f"context '{self.name}': serve called twice")
        routes = self._with_state(routes, state)
        order = sorted(flushes, key=lambda flush: flush[0])
        if CHECK_INVARIANTS:
            routes, order = self._checked(routes, order)
        if self._on_caller:
            self._routes, self._flushes, self.served = routes, order, True
            return  # the ingress runs it: `handle`, `advance`, `finish`
        pending = new_pending(self._producers, self.scales.shifts)
        if self.scales.no_input:  # the ingress sends it nothing: its promise is moot
            pending.upto[0] = CASCADE_END
        transport = self._transport
        counters = self.counters
        done = 0  # flushes run
        batches: list[Batch] = []  # none yet: a context no one feeds may finish at once
        while True:
            counters.high_water = max(counters.high_water, pending.receive(batches))
            started = perf_counter()
            try:
                done = self._pass(pending, routes, order, done)
            except BaseException:
                self.failed_at = unrefined(self._cascade, self.scales.depth)
                raise
            counters.busy += perf_counter() - started
            pending.release(transport.release)
            transport.passed()
            progress = min(min(pending.upto), next_flush(order, done, self.scales.depth))
            self._send_progress(progress)
            transport.progressed(unrefined(progress, self.scales.depth))
            if progress == CASCADE_END:
                break
            batches = transport.take(False)
            if not batches:
                transport.idle()
                batches = transport.take(True)
        transport.idle()
        self.served = True

    def _with_state(
        self, routes: Mapping[str, StreamFn], state: StateFns | None
    ) -> Mapping[str, StreamFn]:
        """Restore the saved state, if any, and add the barrier's route: a route like the
        others, so that barriers cost the per-item loop nothing."""
        if state is not None:  # (None: its streams keep no state)
            self._snapshot_state = state[0]
            if self.saved is not None:
                state[1](decode_state(self.saved))
        return {**routes, BARRIER_ROUTE: self._reach_barrier}

    def _reach_barrier(self, _timestamp: int, _fields: Fields) -> None:
        """A barrier item: the first copy snapshots and goes on to every target (they are
        sent with the pass's promise); the copies from the other producers change nothing."""
        cascade = self._cascade
        if cascade <= self._barrier:
            return
        self._barrier = cascade
        state = self._snapshot_state() if self._snapshot_state is not None else {}
        self._transport.snapshot_taken(unrefined(cascade, self.scales.depth), encode_state(state))
        for slot, buffer in enumerate(self._out):
            # refine(cascade, 0) for a pool worker: no dispatch has a barrier's id
            buffer.append((BARRIER_ROUTE, 0, {}, cascade << SUB if self._refine[slot] else cascade))

    def _checked(
        self, routes: Mapping[str, StreamFn], order: Sequence[tuple[int, Callable[[], None]]]
    ) -> tuple[dict[str, StreamFn], list[tuple[int, Callable[[], None]]]]:
        """`routes` and flushes that check that processed ids never decrease (debug mode)."""
        last = [-1]

        def check(what: str) -> None:
            if self._cascade < last[0]:
                raise InvariantError(
                    f"context '{self.name}' processed {what} at cascade {self._cascade} "
                    f"after cascade {last[0]}"
                )
            last[0] = self._cascade

        def route(name: str, fn: StreamFn) -> StreamFn:
            def checked(timestamp: int, fields: Fields) -> None:
                check(f"route {name!r}")
                fn(timestamp, fields)

            return checked

        def flush(k: int, fn: Callable[[], None]) -> Callable[[], None]:
            def checked() -> None:
                check(f"flush {k}")
                fn()

            return checked

        return (
            {name: route(name, fn) for name, fn in routes.items()},
            [(k, flush(k, fn)) for k, fn in order],
        )

    # -- run by the caller of `push` (ContextSpec.on_caller) ---------------------------------

    @property
    def transport(self) -> Transport:
        return self._transport

    def run_on_caller(self, run: Callable[["ContextRuntime"], None]) -> None:
        """Set up the context with `run`, whose `serve` then returns at once: from then on
        the ingress hands it input events (`handle`) and promises (`advance`)."""
        self._on_caller = True
        run(self)
        if not self.served:
            raise RuntimeError(f"context '{self.name}': its run function did not call serve")

    def handle(self, event_type: str, timestamp: int, fields: Fields, cascade: int) -> None:
        """Process one input event, on the caller's thread."""
        fn = self._routes.get(event_type)
        if fn is not None:
            self._cascade = cascade
            self.counters.events_in += 1
            try:
                fn(timestamp, fields)
            except BaseException:
                self.failed_at = cascade
                raise

    def advance(self, upto: int) -> None:
        """The input promised no more events below `upto`: so does this context."""
        self._send_progress(upto)
        self._transport.passed()

    def finish(self) -> None:
        """End of input: run the flushes in order, then promise the end."""
        for k, flush in self._flushes:
            self._cascade = self._flushing = flush_id(k)
            try:
                flush()
            except BaseException:
                self.failed_at = self._cascade
                raise
        self.advance(CASCADE_END)
        self._transport.idle()

    def _pass(
        self,
        pending: Pending,
        routes: Mapping[str, StreamFn],
        order: Sequence[tuple[int, Callable[[], None]]],
        done: int,
    ) -> int:
        """Process what can be, running each flush when its turn comes; return flushes run."""
        while True:
            flush = next_flush(order, done, self.scales.depth)
            self.counters.events_in += self._process(pending, routes, pending.bounds(flush))
            # Its turn: no producer can still send an item below its cascade.
            if done == len(order) or min(pending.upto) < flush:
                return done
            self._cascade = self._flushing = flush
            order[done][1]()
            done += 1

    def _send_progress(self, progress: int) -> None:
        # Every target learns the new promise; a batch that would repeat the last one, with
        # no items, tells it nothing and is not sent.
        for slot, buffer in enumerate(self._out):
            if buffer or self._wire(slot, progress) != self._sent_upto[slot]:
                self._send(slot, progress)

    def _process(self, pending: Pending, routes: Mapping[str, StreamFn], bounds: list[int]) -> int:
        """Process every item that can be, in (cascade, producer, arrival) order; count them."""
        queues = pending.queues
        live = [p for p, q in enumerate(queues) if q and q[0][3] < bounds[p]]
        if not live:
            return 0
        if len(live) == 1:  # the common case: no merge needed
            p = live[0]
            return self._drain(queues[p], routes, bounds[p])
        count = 0
        while True:
            best, head = -1, 0
            for p in live:
                q = queues[p]
                if q and q[0][3] < bounds[p] and (best < 0 or q[0][3] < head):
                    best, head = p, q[0][3]
            if best < 0:
                return count
            # Take a run from `best` up to the next head of another live producer.
            stop = bounds[best]
            for p in live:
                q = queues[p]
                if p != best and q:
                    stop = min(stop, q[0][3] + 1 if best < p else q[0][3])
            count += self._drain(queues[best], routes, stop)

    def _drain(self, queue: deque[Item], routes: Mapping[str, StreamFn], stop: int) -> int:
        get = routes.get
        if queue[-1][3] < stop:  # all of them: no test per item
            items = list(queue)
            queue.clear()
            for route, timestamp, fields, cascade in items:
                self._cascade = cascade
                fn = get(route)
                if fn is not None:
                    fn(timestamp, fields)
            return len(items)
        count = 0
        while queue and queue[0][3] < stop:
            route, timestamp, fields, cascade = queue.popleft()
            self._cascade = cascade
            fn = get(route)
            if fn is not None:
                fn(timestamp, fields)
            count += 1
        return count

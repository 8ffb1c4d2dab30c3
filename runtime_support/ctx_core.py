"""Contexts (SEMANTICS §8, DECISION D11): the protocol that every backend shares.

A context is one thread (or process) running some streams. The *ingress* (the caller of
`push`) numbers input events 0, 1, 2, ... — their *cascade* ids — and sends each one to the
contexts that consume its type; a context sends the events its streams produce to downstream
contexts, each item tagged with the cascade id of the item it was processing (end-of-input
flush k runs as cascade `FLUSH_BASE << k`). Every batch also carries `upto`: its producer will
never again send an item with a smaller cascade. A context processes its items in (cascade,
producer index, arrival) order, as far as its producers' promises allow, which restores the
single-threaded order of every stream for the tree-shaped programs that the compiler runs on
several contexts.

Worker pools (SEMANTICS §10) refine cascade ids: one input event may reach a pool as several
events, which go to different workers, and their results must come back in the order they
were dispatched. So a pool's scheduler sends dispatch i of cascade c as `(c << 32) + i`, and
every context downstream of a pool counts in the refined ids (its *depth* is the number of
pools on the way): it shifts what shallower producers send by 32 bits per level.

This module holds what does not depend on threads or processes: the specs and their graph,
`ContextRuntime` (the merge and the serve loop, talking to a `_ctx_Transport`), the ingress,
failures and counters.
"""

import re
import traceback
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from time import perf_counter
from typing import Protocol, TypeAlias

from vpl_runtime.driver import EmitFn, EmitterFactory, Fields, Instrument, RunOptions, StreamFn

FLUSH_BASE = 1 << 62  # cascade id of the end-of-input flush at global position 0
# Flush k is FLUSH_BASE << k: each flush's ids are more than all ids before it, so a pool
# worker's flush can order its partitions by the ids that created them (`partition_turn`).
CASCADE_END = 1 << 8192  # `upto` of a producer that is done: above every flush at any depth
_ctx_SUB = 32  # bits a pool's scheduler appends to cascade ids to number its dispatches

# (route name, timestamp, fields, cascade id)
_ctx_Item: TypeAlias = tuple[str, int, Fields, int]
# (producer index at the receiving context, items, upto); producer 0 is the ingress
_ctx_Batch: TypeAlias = tuple[int, list[_ctx_Item], int]
_ctx_INPUT = "(input)"


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
    # Fed by the input only and not pinned: the backend may run it on the thread that calls
    # `push` (the first such context: no channel and no thread switch between input and it).
    on_caller: bool = False


class ContextFailure(RuntimeError):
    """A context raised: `push` and `close` raise this in the caller's thread.

    `str()` is one line (`context 'a' failed in stream 'S': ZeroDivisionError: ...`);
    `traceback_text` is the traceback of the context where it happened.
    """

    def __init__(
        self,
        context: str,
        stream: str | None,
        error: str,
        traceback_text: str,
        position: int | None = None,
    ) -> None:
        where = f"context '{context}' failed" + ("" if stream is None else f" in stream '{stream}'")
        super().__init__(f"{where}{_ctx_position_text(position)}: {error}")
        self.position = position
        self.context = context
        self.stream = stream
        self.error = error
        self.traceback_text = traceback_text


def _ctx_position_text(position: int | None) -> str:
    """Where in the input a failure happened: a cascade id as words."""
    if position is None:
        return ""
    if position >= FLUSH_BASE:
        return " during the end-of-input flush"
    return f" at input event {position + 1}"


class _ctx_Stopped(Exception):
    """Raised inside a context (or the ingress) when the pipeline is stopping."""


_ctx_FUNCTION = re.compile(r"(?:stream|after|batch|flush|result)_(\w+)")


def _ctx_describe(context: str, exc: BaseException, position: int | None = None) -> ContextFailure:
    """The failure of `context` caused by `exc` while processing cascade `position` (None:
    not while processing); the stream is read from the traceback.

    Generated functions are named `stream_<Name>`, `flush_<Name>`...: the innermost such
    frame is the stream that failed.
    """
    stream = None
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        match = _ctx_FUNCTION.fullmatch(frame.name)
        if match is not None:
            stream = match.group(1)
            break
    text = str(exc)
    error = type(exc).__name__ + (f": {text}" if text else "")
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return ContextFailure(context, stream, error, details, position)


def _ctx_raise(failure: ContextFailure) -> None:
    """Raise `failure` in the caller's thread (a fresh copy: it may be raised several times).

    A closed output (`| head`) stays a BrokenPipeError, which the driver ends quietly.
    """
    if failure.error.startswith("BrokenPipeError"):
        raise BrokenPipeError(failure.error)
    raise ContextFailure(
        failure.context, failure.stream, failure.error, failure.traceback_text, failure.position
    )


@dataclass(slots=True)
class _ctx_Counters:
    """What `--stats` reports for one context (or for the ingress)."""

    events_in: int = 0  # items processed
    sent: int = 0  # items sent to other contexts
    lines: int = 0  # output lines emitted
    busy: float = 0.0  # seconds in routes and flushes
    high_water: int = 0  # most events received and not yet processed
    blocked: float = 0.0  # seconds waiting for room in a full channel

    def as_tuple(self) -> tuple[int, int, int, float, int, float]:
        """The counters as plain values (sent from a child process)."""
        return (self.events_in, self.sent, self.lines, self.busy, self.high_water, self.blocked)


@dataclass(frozen=True, slots=True)
class _ctx_Graph:
    """The specs, checked, with each context's producers and targets as indexes."""

    specs: tuple[ContextSpec, ...]
    # per context: its targets as (target context, producer index there), in spec order
    targets: tuple[tuple[tuple[int, int], ...], ...]
    inputs: dict[str, tuple[int, ...]]  # input event type -> contexts, in spec order
    depths: tuple[int, ...]  # per context: how many pools refine its cascade ids

    @classmethod
    def build(cls, specs: Sequence[ContextSpec]) -> "_ctx_Graph":
        """Check names and edges (unique, known, acyclic) and index them."""
        index: dict[str, int] = {}
        for i, spec in enumerate(specs):
            if spec.name in index:
                raise ValueError(f"context '{spec.name}' is declared twice")
            index[spec.name] = i
        targets: list[list[tuple[int, int]]] = [[] for _ in specs]
        for i, spec in enumerate(specs):
            if len(set(spec.upstream)) != len(spec.upstream):
                raise ValueError(f"context '{spec.name}': an upstream context is repeated")
            for position, name in enumerate(spec.upstream):
                if name not in index or name == spec.name:
                    raise ValueError(f"context '{spec.name}': bad upstream context '{name}'")
                targets[index[name]].append((i, position + 1))
        _ctx_check_acyclic(specs, index)
        inputs: dict[str, list[int]] = {}
        for i, spec in enumerate(specs):
            for route in dict.fromkeys(spec.routes):
                inputs.setdefault(route, []).append(i)
        return cls(
            tuple(specs),
            tuple(tuple(sorted(t)) for t in targets),
            {name: tuple(found) for name, found in inputs.items()},
            _ctx_depths(specs, index),
        )

    def producers(self, i: int) -> tuple[str, ...]:
        """Names of the producers of context `i`, by producer index."""
        return (_ctx_INPUT, *self.specs[i].upstream)

    def scales(self, i: int) -> "_ctx_Scales":
        """How context `i` converts the cascade ids it receives and sends."""
        index = {spec.name: j for j, spec in enumerate(self.specs)}
        spec = self.specs[i]
        depth = self.depths[i]
        sent_at = [0] + [  # the depth of what each producer sends here
            self.depths[index[name]] + spec.pool_worker for name in spec.upstream
        ]
        shifts = tuple(_ctx_SUB * (depth - d) for d in sent_at)
        refine = tuple(self.specs[t].pool_worker for t, _ in self.targets[i])
        no_input = not any(i in found for found in self.inputs.values())
        return _ctx_Scales(depth, shifts, refine, no_input)


@dataclass(frozen=True, slots=True)
class _ctx_Scales:
    """A context's depth, the left shift of each producer's ids, and which targets are
    pool workers (sent refined ids)."""

    depth: int = 0
    shifts: tuple[int, ...] = ()
    refine: tuple[bool, ...] = ()
    no_input: bool = False  # takes no input events: the ingress never sends it anything


def _ctx_depths(specs: Sequence[ContextSpec], index: dict[str, int]) -> tuple[int, ...]:
    """Per context, the most pools on a path from the input to it (the graph is acyclic)."""
    depths: dict[int, int] = {}

    def depth(i: int) -> int:
        if i not in depths:
            spec = specs[i]
            found = [depth(index[name]) for name in spec.upstream]
            depths[i] = max(found, default=0) + spec.pool_worker
        return depths[i]

    return tuple(depth(i) for i in range(len(specs)))


def _ctx_check_acyclic(specs: Sequence[ContextSpec], index: dict[str, int]) -> None:
    # A cycle of bounded channels could deadlock, and the merge could never make progress.
    state = [0] * len(specs)  # 0 new, 1 on the path, 2 done

    def visit(i: int) -> None:
        state[i] = 1
        for name in specs[i].upstream:
            j = index[name]
            if state[j] == 1:
                raise ValueError(f"contexts form a cycle through '{specs[j].name}'")
            if state[j] == 0:
                visit(j)
        state[i] = 2

    for i in range(len(specs)):
        if state[i] == 0:
            visit(i)


class _ctx_Transport(Protocol):
    """How a context talks to the others: channels, output lines, idle time."""

    def take(self, wait: bool) -> list[_ctx_Batch]:
        """The batches that arrived; with `wait`, block until there is one (or stop)."""

    def release(self, producer: int, batches: int, events: int) -> None:
        """`batches` of `producer` (holding `events` events, 1 if empty) are done."""

    def send(self, slot: int, items: list[_ctx_Item], upto: int) -> None:
        """Send a batch to target `slot`; block while its channel is full."""

    def emitter(self, stream: str) -> EmitFn:
        """The emit function of `stream`'s output lines, safe to call from this context."""

    def passed(self) -> None:
        """A processing pass ended (its output lines may be shipped)."""

    def idle(self) -> None:
        """Nothing to do: about to block waiting for input."""


class _ctx_BufferedOutput:
    """A context's output lines: buffered, written once per processing pass under the output
    lock, flushed before the context waits (both backends' in-process contexts use it)."""

    def __init__(
        self, counters: _ctx_Counters, make_emitter: EmitterFactory, options: RunOptions
    ) -> None:
        self._counters = counters
        self._make_emitter = make_emitter
        self._lock = options.output_lock
        self._flush_output = options.flush_output
        self._flushed_lines = 0
        self._emitters: dict[str, EmitFn] = {}
        self._lines: list[tuple[str, int, Fields]] = []

    def emitter(self, stream: str) -> EmitFn:
        # Lines are buffered per context and written once per processing pass under the
        # output lock: a lock taken per line made the contexts queue on it (a convoy with
        # the GIL) and cost more than the work itself.
        with self._lock:
            self._emitters[stream] = self._make_emitter(stream)
        lines = self._lines
        name = stream

        def emit_buffered(_stream: str, timestamp: int, fields: Fields) -> None:
            lines.append((name, timestamp, fields))

        return emit_buffered

    def passed(self) -> None:
        lines = self._lines
        if lines:
            emitters = self._emitters
            with self._lock:
                for stream, timestamp, fields in lines:
                    emitters[stream](stream, timestamp, fields)
            self._counters.lines += len(lines)
            lines.clear()

    def idle(self) -> None:
        # Live input: what this context wrote must reach the reader before it waits.
        if self._counters.lines != self._flushed_lines:
            self._flushed_lines = self._counters.lines
            with self._lock:
                self._flush_output()


class _ctx_Pending:
    """Received, unprocessed items per producer, with the latest `upto` of each producer."""

    __slots__ = ("empty", "ends", "queues", "received", "shifts", "upto")

    def __init__(self, producers: int, shifts: Sequence[int] = ()) -> None:
        self.shifts = tuple(shifts) or (0,) * producers
        self.queues: list[deque[_ctx_Item]] = [deque() for _ in range(producers)]
        self.upto = [0] * producers
        self.received = [0] * producers  # items received, ever
        self.ends: list[deque[tuple[int, int]]] = [deque() for _ in range(producers)]
        self.empty = [0] * producers  # progress-only batches not yet released

    def receive(self, batches: list[_ctx_Batch]) -> int:
        """Queue the batches' items; return the backlog (events received, not processed)."""
        for producer, items, upto in batches:
            shift = self.shifts[producer]
            if shift:  # a shallower producer: its ids in this context's refined ids
                items = [(r, t, f, c << shift) for r, t, f, c in items]
                upto <<= shift
            if items:
                self.queues[producer].extend(items)
                total = self.received[producer] + len(items)
                self.received[producer] = total
                self.ends[producer].append((total, len(items)))
            else:
                self.empty[producer] += 1
            self.upto[producer] = max(self.upto[producer], upto)  # promises only grow
        return sum(len(q) for q in self.queues)

    def bounds(self, next_flush: int) -> list[int]:
        """Per producer p, the cascade below which p's items can be processed now.

        An item (c, p) comes before everything q may still send when c < upto[q], or
        c == upto[q] and p < q; and before this context's next flush.
        """
        upto = self.upto
        result = []
        for p in range(len(upto)):
            bound = next_flush
            for q, value in enumerate(upto):
                if q != p:
                    bound = min(bound, value + 1 if p < q else value)
            result.append(bound)
        return result

    def release(self, transport: _ctx_Transport) -> None:
        """Give back the channel room of every batch whose items are all processed."""
        for p, queue in enumerate(self.queues):
            done = self.received[p] - len(queue)
            ends = self.ends[p]
            batches = events = self.empty[p]
            while ends and ends[0][0] <= done:
                batches += 1
                events += ends.popleft()[1]
            if batches:
                self.empty[p] = 0
                transport.release(p, batches, events)


def _ctx_flush_cascade(
    order: Sequence[tuple[int, Callable[[], None]]], done: int, depth: int
) -> int:
    """The cascade id of the next flush to run, at `depth`, or CASCADE_END once all ran."""
    if done == len(order):
        return CASCADE_END
    return (FLUSH_BASE << order[done][0]) << (_ctx_SUB * depth)


class ContextRuntime:
    """One context's side of the runtime; used only from the context's own thread or process."""

    def __init__(
        self,
        name: str,
        producers: int,
        targets: Sequence[str],
        transport: _ctx_Transport,
        instrument: Instrument | None,
        batch_size: int,
        counters: _ctx_Counters,
        scales: _ctx_Scales = _ctx_Scales(),
    ) -> None:
        self.name = name
        self.scales = scales
        self._refine = scales.refine or (False,) * len(targets)
        self.instrument = instrument
        self.counters = counters
        self.served = False
        self._producers = producers
        self._slots = {target: slot for slot, target in enumerate(targets)}
        self._out: list[list[_ctx_Item]] = [[] for _ in targets]
        self._sent_upto = [0] * len(targets)
        self._transport = transport
        self._batch_size = batch_size
        self._cascade = 0  # cascade id of the item being processed
        self.failed_at: int | None = None  # the cascade being processed when a stream raised
        self._flushing = 0  # cascade id of the flush running
        self._on_caller = False
        self._routes: Mapping[str, StreamFn] = {}
        self._flushes: Sequence[tuple[int, Callable[[], None]]] = ()

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
                buffer.append((route, timestamp, fields, (cascade << _ctx_SUB) + last[1]))
                last[1] += 1
                if len(buffer) >= size:
                    # Later dispatches get larger ids: promise the next one's.
                    self._send(slot, (cascade << _ctx_SUB) + last[1], refined=True)

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
        wire = upto << _ctx_SUB if self._refine[slot] else upto
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
        self, routes: Mapping[str, StreamFn], flushes: Sequence[tuple[int, Callable[[], None]]]
    ) -> None:
        """Process items and flushes in order until every producer is done; then return.

        `flushes` are the context's end-of-input flushes with their global positions k.
        """
        if self.served:
            raise RuntimeError(f"context '{self.name}': serve called twice")
        order = sorted(flushes, key=lambda flush: flush[0])
        if self._on_caller:
            self._routes, self._flushes, self.served = routes, order, True
            return  # the ingress runs it: `handle`, `advance`, `finish`
        pending = _ctx_Pending(self._producers, self.scales.shifts)
        if self.scales.no_input:  # the ingress sends it nothing: its promise is moot
            pending.upto[0] = CASCADE_END
        transport = self._transport
        counters = self.counters
        done = 0  # flushes run
        batches: list[_ctx_Batch] = []  # none yet: a context no one feeds may finish at once
        while True:
            counters.high_water = max(counters.high_water, pending.receive(batches))
            started = perf_counter()
            try:
                done = self._pass(pending, routes, order, done)
            except BaseException:
                self.failed_at = self._cascade >> (_ctx_SUB * self.scales.depth)
                raise
            counters.busy += perf_counter() - started
            pending.release(transport)
            transport.passed()
            progress = min(min(pending.upto), _ctx_flush_cascade(order, done, self.scales.depth))
            self._send_progress(progress)
            if progress == CASCADE_END:
                break
            batches = transport.take(False)
            if not batches:
                transport.idle()
                batches = transport.take(True)
        transport.idle()
        self.served = True

    # -- run by the caller of `push` (ContextSpec.on_caller) ---------------------------------

    @property
    def transport(self) -> _ctx_Transport:
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
            self._cascade = self._flushing = _ctx_flush_cascade(((k, flush),), 0, 0)
            try:
                flush()
            except BaseException:
                self.failed_at = self._cascade
                raise
        self.advance(CASCADE_END)
        self._transport.idle()

    def _pass(
        self,
        pending: _ctx_Pending,
        routes: Mapping[str, StreamFn],
        order: Sequence[tuple[int, Callable[[], None]]],
        done: int,
    ) -> int:
        """Process what can be, running each flush when its turn comes; return flushes run."""
        while True:
            next_flush = _ctx_flush_cascade(order, done, self.scales.depth)
            self.counters.events_in += self._process(pending, routes, pending.bounds(next_flush))
            # Its turn: no producer can still send an item below its cascade.
            if done == len(order) or min(pending.upto) < next_flush:
                return done
            self._cascade = self._flushing = next_flush
            order[done][1]()
            done += 1

    def _send_progress(self, progress: int) -> None:
        # Every target learns the new promise; a batch that would repeat the last one, with
        # no items, tells it nothing and is not sent.
        for slot, buffer in enumerate(self._out):
            if buffer or self._wire(slot, progress) != self._sent_upto[slot]:
                self._send(slot, progress)

    def _process(
        self, pending: _ctx_Pending, routes: Mapping[str, StreamFn], bounds: list[int]
    ) -> int:
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

    def _drain(self, queue: deque[_ctx_Item], routes: Mapping[str, StreamFn], stop: int) -> int:
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


class _ctx_Ingress:
    """The producer of input items: numbers input events and batches them per context.

    One log of the routed events is shared by every context: a flush hands a context that
    takes every routed event type the log itself (the same list for all of them, so the
    process backend pickles it once), a context that takes some types its part, the others an
    empty batch. So `push` costs the same whatever the number of contexts; a batch is sent
    when the log holds `batch_size` events (a context taking part of them gets fewer).
    """

    def __init__(
        self,
        graph: _ctx_Graph,
        send: Callable[[int, list[_ctx_Item], int], None],
        batch_size: int,
        counters: _ctx_Counters,
    ) -> None:
        self.next_id = 0
        self.sent_upto = 0
        self.counters = counters
        self._graph = graph
        self._inputs: Mapping[str, object] = graph.inputs
        self._log: list[_ctx_Item] = []
        # (context, None when it takes every routed type, else the types it takes); a context
        # that takes no input events gets nothing, not even promises (see `_ctx_Scales`).
        self._targets = [
            (i, sel) for i, sel in enumerate(_ctx_input_selections(graph)) if sel is None or sel
        ]
        self._send = send
        self._batch_size = batch_size
        self.caller: ContextRuntime | None = None  # a context run on the caller's thread
        self._partial = False  # send_log sent the log, but the caller context did not promise
        # What the backend does when the caller context raises (stop everything, raise).
        self.caller_failed: Callable[[BaseException], None] = lambda exc: None

    def attach_caller(self, index: int, runtime: "ContextRuntime") -> None:
        """Context `index` runs on the caller's thread, through `runtime`: `push` hands it
        its events directly instead of sending them on a channel."""
        self.caller = runtime
        graph = self._graph
        others = {t: [i for i in graph.inputs[t] if i != index] for t in graph.inputs}
        self._inputs = {t: found for t, found in others.items() if found}
        self._targets = [(i, sel) for i, sel in self._targets if i != index]

    def push(self, event_type: str, timestamp: int, fields: Fields) -> None:
        """Route one input event (the hot path)."""
        cascade = self.next_id
        self.next_id = cascade + 1
        if event_type in self._inputs:
            log = self._log
            log.append((event_type, timestamp, fields, cascade))
            if len(log) >= self._batch_size and self.caller is None:
                self.flush(cascade + 1)
        if self.caller is not None:
            self._push_caller(event_type, timestamp, fields, cascade)

    def _push_caller(self, event_type: str, timestamp: int, fields: Fields, cascade: int) -> None:
        """The caller context's share of `push`: process the event, then, every batch of
        events, promise the others (whatever the log holds) that they are past it."""
        assert self.caller is not None
        try:
            self.caller.handle(event_type, timestamp, fields, cascade)
        except BaseException as exc:  # it failed, or another did: the backend raises that
            self.caller_failed(exc)
            raise
        if len(self._log) >= self._batch_size or cascade - self.sent_upto >= self._batch_size:
            self.flush(cascade + 1)

    def send_log(self) -> None:
        """Send the events routed so far (the caller context must not wait on a channel
        while its downstream waits for events the ingress still holds)."""
        self._send_log(self.next_id)
        self._partial = True  # the caller context's promise still has to follow

    def idle(self) -> None:
        """Send partial batches, so that sparse live input is not stuck in a buffer."""
        if self.next_id != self.sent_upto or self._partial:
            self.flush(self.next_id)
        if self.caller is not None:  # its lines must reach the reader before it waits
            self.caller.transport.idle()

    def flush(self, upto: int) -> None:
        """Send every context a batch (maybe empty) with `upto`."""
        self._send_log(upto)
        if self.caller is not None:
            self.caller.advance(upto)
        self.sent_upto = upto
        self._partial = False

    def _send_log(self, upto: int) -> None:
        log = self._log
        self._log = []  # a new list: contexts may still hold the one sent
        empty: list[_ctx_Item] = []
        for target, selection in self._targets:
            if selection is None:
                items = log
            elif selection and log:
                items = [item for item in log if item[0] in selection]
            else:
                items = empty
            self.counters.sent += len(items)
            self._send(target, items, upto)


def _ctx_caller_index(graph: _ctx_Graph) -> int | None:
    """The context to run on the caller's thread: one that may (`on_caller`: fed by the
    input alone, not pinned) and that takes every input event, no other context taking any.
    Then the ingress sends no channel anything and never waits: only the context's own
    sends can, as from a thread of its own. (With other input-fed contexts, the one thread
    could wait on a channel while holding the promise its consumers wait for.)"""
    takers = {i for found in graph.inputs.values() for i in found}
    if len(takers) != 1:
        return None
    (i,) = takers
    spec = graph.specs[i]
    if spec.on_caller and not spec.upstream and not spec.cores and not spec.pool_worker:
        return i
    return None


def _ctx_input_selections(graph: _ctx_Graph) -> list[frozenset[str] | None]:
    """Per context, None if it takes every routed input type, else the set of those it takes."""
    taken: list[set[str]] = [set() for _ in graph.specs]
    for event_type, targets in graph.inputs.items():
        for target in targets:
            taken[target].add(event_type)
    every = set(graph.inputs)
    return [None if types and types == every else frozenset(types) for types in taken]

"""Contexts: the ingress, the producer of input items (the caller of `push`, in input order)."""

from collections.abc import Callable, Mapping

from vpl_runtime.contexts.cascade import BARRIER_ROUTE, INPUT_STEP, barrier_id, input_id
from vpl_runtime.contexts.graph import Graph
from vpl_runtime.contexts.merge import Item
from vpl_runtime.contexts.runtime import ContextRuntime
from vpl_runtime.contexts.stats import Counters
from vpl_runtime.driver import Fields


class Ingress:
    """The producer of input items: numbers input events and batches them per context.

    One log of the routed events is shared by every context: a flush hands a context that
    takes every routed event type the log itself (the same list for all of them, so the
    process backend pickles it once), a context that takes some types its part, the others an
    empty batch. So `push` costs the same whatever the number of contexts; a batch is sent
    when the log holds `batch_size` events (a context taking part of them gets fewer).
    """

    def __init__(
        self,
        graph: Graph,
        send: Callable[[int, list[Item], int], None],
        batch_size: int,
        counters: Counters,
    ) -> None:
        self.next_id = input_id(0)  # the cascade id of the next input event
        self.sent_upto = 0  # the latest promise sent to every context
        self.counters = counters
        self._graph = graph
        self._inputs: Mapping[str, object] = graph.inputs
        self._log: list[Item] = []
        # (context, None when it takes every routed type, else the types it takes); a context
        # that takes no input events gets nothing, not even promises (see `Scales`).
        self._targets = [
            (i, sel) for i, sel in enumerate(_input_selections(graph)) if sel is None or sel
        ]
        self._send = send
        self._batch_size = batch_size
        # The caller context promises the others every `batch_size` events: ids apart by
        # more than this (`cascade - sent_upto`, input ids odd, promises even).
        self._promise_gap = INPUT_STEP * batch_size
        self.caller: ContextRuntime | None = None  # a context run on the caller's thread
        self._partial = False  # send_log sent the log, but the caller context did not promise
        # What the backend does when the caller context raises (stop everything, raise).
        self.caller_failed: Callable[[BaseException], None] = lambda exc: None

    @property
    def upto(self) -> int:
        """The promise after the events pushed so far: a barrier may still come there."""
        return self.next_id - 1

    @property
    def events(self) -> int:
        """The number of input events pushed so far."""
        return self.next_id // INPUT_STEP

    def start_at(self, position: int) -> None:
        """Number input events from `position` on: a restored pipeline goes on where its
        snapshot was taken, so that the cascade ids in its state keep their order (D36)."""
        self.next_id = input_id(position)

    def barrier(self) -> int:
        """Send every context it feeds a barrier after the events pushed so far (and those
        events first); return the barrier's id. The caller context takes it at once."""
        cascade = barrier_id(self.events)
        self._send_log(cascade)
        for target, _ in self._targets:
            self._send(target, [(BARRIER_ROUTE, 0, {}, cascade)], cascade)
        if self.caller is not None:
            try:
                self.caller.handle(BARRIER_ROUTE, 0, {}, cascade)
            except BaseException as exc:
                self.caller_failed(exc)
                raise
            self.caller.advance(cascade)
        self.sent_upto = cascade
        self._partial = False
        return cascade

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
        self.next_id = cascade + 2  # INPUT_STEP, as a literal: this runs per event
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
        if len(self._log) >= self._batch_size or cascade - self.sent_upto > self._promise_gap:
            self.flush(cascade + 1)

    def send_log(self) -> None:
        """Send the events routed so far (the caller context must not wait on a channel
        while its downstream waits for events the ingress still holds)."""
        self._send_log(self.upto)
        self._partial = True  # the caller context's promise still has to follow

    def idle(self) -> None:
        """Send partial batches, so that sparse live input is not stuck in a buffer."""
        if self.upto != self.sent_upto or self._partial:
            self.flush(self.upto)
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
        empty: list[Item] = []
        for target, selection in self._targets:
            if selection is None:
                items = log
            elif selection and log:
                items = [item for item in log if item[0] in selection]
            else:
                items = empty
            self.counters.sent += len(items)
            self._send(target, items, upto)


def _input_selections(graph: Graph) -> list[frozenset[str] | None]:
    """Per context, None if it takes every routed input type, else the set of those it takes."""
    taken: list[set[str]] = [set() for _ in graph.specs]
    for event_type, targets in graph.inputs.items():
        for target in targets:
            taken[target].add(event_type)
    every = set(graph.inputs)
    return [None if types and types == every else frozenset(types) for types in taken]

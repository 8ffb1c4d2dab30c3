"""Code for one stream: its entry function, window state, aggregate and flush.

A stream's ops are split into segments at its window/aggregate boundary:

    stream_S(ts, f)   per-event ops before the window, then the window update
    batch_S(batch)    (buffered windows) ops between window and aggregate, the aggregate
    after_S(ts, f)    per-event ops after the aggregate, then delivery downstream;
    after_S(batch)    the same op by op over a batch, when effects could interleave
    flush_S()         end of input (§6.7)

Each segment is a flat function: dropping an event is `return` (or `continue` in a batch
loop). Windows that are closed by arrivals and followed directly by an aggregate keep only
accumulators (no event buffer); sliding windows and the rarer shapes buffer events.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from vplc.check import model
from vplc.check.model import WindowKind
from vplc.codegen.aggregates import AggregateCode, Slot
from vplc.codegen.expressions import NOT_CONSTANT, ExprCompiler
from vplc.plan.names import comment_text, mangle, py_literal
from vplc.plan.shape import TUMBLING as _TUMBLING
from vplc.plan.shape import shape_of
from vplc.plan.state import StateKind, state_name, window_class

Lines = list[str]

_FLUSHED = {WindowKind.TUMBLING_TIME, WindowKind.SESSION, WindowKind.SLIDING_TIME}


def indent(lines: Lines, levels: int = 1) -> Lines:
    return [("    " * levels + line) if line else line for line in lines]


@dataclass
class StreamCode:
    """The generated pieces of one stream."""

    classes: list[str] = field(default_factory=list)  # module level
    body: list[str] = field(default_factory=list)  # inside _build: state and functions
    flush: str | None = None  # name of its end-of-input function, if it has windows to flush
    # A stream without window or aggregate: the body of its entry function, which `push`
    # may run in place of a call (its `return`s drop the event, as in the function).
    inline: list[str] | None = None
    rebound: list[str] = field(default_factory=list)  # state it reassigns (nonlocal)
    state: list[str] = field(default_factory=list)  # the declared state it creates (D35)
    windowed: bool = False  # its inline body holds a typed window local `w`


class StreamCodegen:
    """Writes the code of one stream. `deliver(name)` gives the statement that hands an
    output event `(ts, f)` of stream `name` to its consumers (or None if it has none)."""

    def __init__(
        self,
        stream: model.Stream,
        filename: str,
        constants: Mapping[str, Any],
        uses: set[str],
        deliver: Callable[[str], str | None],
        queued: bool,
        emitter_factory: str = "make_emitter",
        pool_worker: bool = False,
        stepwise_flush: bool = False,
        rebound: tuple[str, ...] = (),
    ) -> None:
        self.stream = stream
        self.filename = comment_text(filename)
        self.constants = constants
        self.uses = uses
        self.deliver = deliver
        self.shape = shape_of(stream)
        self.aggregate = AggregateCode(self.shape.aggregate) if self.shape.aggregate else None
        self.queued = queued
        self.emitter_factory = emitter_factory
        # A pool worker's partitions remember the cascade that created them, so that the
        # collector can put every worker's end-of-input results in first-reached order (§6.7).
        self.pool_worker = pool_worker
        # In-place copies of a broadcast pool flush a partition per step, taking turns.
        self.stepwise_flush = stepwise_flush
        self.out = StreamCode()
        self.state_vars: list[str] = []  # declarations inside _build
        # State variables that functions reassign (nonlocal), with those of the group's
        # that `deliver`'s statements reassign (a round-robin position).
        self.rebound: list[str] = list(rebound)
        self._temps = 0
        self._outs = 0

    # -- names ---------------------------------------------------------------------------

    def name(self, role: str, index: int | None = None) -> str:
        return mangle(role, self.stream.name, index)

    def state(self, kind: StateKind, position: int | None = None) -> str:
        """The name `plan.state` gives this stream's state of `kind`."""
        return state_name(kind, self.stream.name, position)

    def declare(self, kind: StateKind, position: int | None = None) -> str:
        """`state`, recording that this code creates it (the generator checks the plan's
        declarations against what was created)."""
        name = self.state(kind, position)
        self.out.state.append(name)
        return name

    def compiler(self, **kwargs: Any) -> ExprCompiler:
        return ExprCompiler(self.constants, self.uses, temps=self._temp, **kwargs)

    def _temp(self) -> str:
        self._temps += 1
        return f"t{self._temps}"

    def origin(self, op: model.StreamOp) -> str:
        """`# file:line:col .op(args)`: the op's source on one line, as a comment."""
        o = op.origin
        text = re.sub(r"\(\s+", "(", re.sub(r",?\s+\)", ")", o.text))
        return comment_text(f"# {self.filename}:{o.line}:{o.column} {text}")

    # -- the stream ----------------------------------------------------------------------

    def generate(self) -> StreamCode:
        shape = self.shape
        emit_name = self.name("emit")
        if any(isinstance(op, model.Emit) for op in self.stream.ops):
            factory = self.emitter_factory
            self.state_vars.append(f"{emit_name} = {factory}({py_literal(self.stream.name)})")
        if shape.window is None and shape.aggregate is None:
            body = self.ops_then_deliver(shape.pre)
            self.function(self.name("stream"), body)
            self.out.inline = body
        else:
            self.windowed()
        self.out.body = self.state_vars + self.out.body
        self.out.rebound = list(self.rebound)
        return self.out

    def windowed(self) -> None:
        shape = self.shape
        after = self.name("after")
        if self.after_takes_batches:
            self.function(after, self.post_per_op(), signature=_BATCH_SIGNATURE)
        else:
            self.function(after, self.ops_then_deliver(shape.post))
        entry = self.ops(shape.pre, drop="return")
        if shape.window is None:
            # An aggregate without a window aggregates each event alone (W001).
            entry.append(f"{self.name('batch')}([(ts, f)])")
            self.batch_function()
        elif shape.incremental:
            entry.extend(self.incremental_window())
        else:
            entry.extend(self.buffered_window())
            self.batch_function()
        self.function(self.name("stream"), entry)
        self.out.inline = entry
        self.out.windowed = True

    def function(
        self, name: str, lines: Lines, signature: str = "ts: int, f: Fields", returns: str = "None"
    ) -> None:
        """Add `def name(signature) -> returns` with `lines` as its body."""
        rebound = [v for v in self.rebound if any(re.search(rf"\b{v}\b", ln) for ln in lines)]
        declared = [f"nonlocal {', '.join(rebound)}"] if rebound else []
        body = declared + (lines or ["pass"])
        self.out.body.extend(["", f"def {name}({signature}) -> {returns}:", *indent(body)])

    # -- batches: per event or op by op -------------------------------------------------

    # A batch of several events runs through each op before the next op runs (§5.2, §6).
    # Ops without ordered effects (where, select, distinct, limit) give the same events in
    # the same order either way, so running the whole segment per event differs only in
    # how the effects of *several* ops interleave: lines of two `.emit`s, `.print` and
    # `.log` lines, and a direct hand-over to consumers, which run (and write) at once
    # (§5.1 routes a stream's results when it is done with the batch; queued deliveries
    # already wait for that). So a segment runs op by op only when it may see several
    # events at once and has two or more ordered effects; otherwise per event, cheaper.

    def ordered_effects(self, ops: tuple[model.StreamOp, ...], delivers: bool) -> int:
        effects = sum(isinstance(op, _ORDERED_EFFECTS) for op in ops)
        hand_over = delivers and not self.queued and self.delivery is not None
        return effects + hand_over

    @property
    def after_takes_batches(self) -> bool:
        """Whether `after_S` takes the batch and runs its ops op by op: the ops after a
        window without aggregate, or after an aggregate that gives one result per key of a
        batch of several partitions, with two or more ordered effects."""
        shape = self.shape
        several = shape.window is not None and (
            shape.aggregate is None
            or (shape.aggregate_key is not None and shape.aggregate_key != shape.window_key)
        )
        return several and self.ordered_effects(shape.post, delivers=True) > 1

    @property
    def between_per_op(self) -> bool:
        """Whether the ops between window and aggregate run op by op over the batch."""
        return self.ordered_effects(self.shape.between, delivers=False) > 1

    @cached_property
    def delivery(self) -> str | None:
        """The statements handing `(ts, f)` to this stream's consumers, if it has any."""
        return self.deliver(self.stream.name)

    def post_per_op(self) -> Lines:
        delivery = self.delivery
        tail = [(delivery.split("\n"), not self.queued)] if delivery is not None else []
        return self.per_op(self.shape.post, tail)

    def per_op(self, ops: tuple[model.StreamOp, ...], tail: list[tuple[Lines, bool]]) -> Lines:
        """Loops over `batch`, a new one where an op with an ordered effect follows another:
        each loop's survivors are the next loop's batch. `tail` (code, ordered effect)
        runs after the ops, for each surviving event."""
        steps: list[tuple[Lines, bool]] = []
        for op in ops:
            code = self.op(op, drop="continue")
            if code:
                steps.append(([self.origin(op), *code], isinstance(op, _ORDERED_EFFECTS)))
            if code and code[-1] == "continue":
                break  # `.limit(0)`: nothing after it can run
        else:
            steps.extend(tail)
        stages: list[Lines] = [[]]
        effect = False
        for code, ordered in steps:
            if ordered and effect:
                stages.append([])
                effect = False
            stages[-1].extend(code)
            effect = effect or ordered
        lines: Lines = []
        source = "batch"
        for number, stage in enumerate(stages[:-1], start=2):
            target = f"stage{number}"
            lines += [
                f"{target}: list[tuple[int, Fields]] = []",
                f"for ts, f in {source}:",
                *indent([*stage, f"{target}.append((ts, f))"]),
            ]
            source = target
        return [*lines, f"for ts, f in {source}:", *indent(stages[-1] or ["pass"])]

    # -- per-event ops -------------------------------------------------------------------

    def ops_then_deliver(self, ops: tuple[model.StreamOp, ...]) -> Lines:
        lines = self.ops(ops, drop="return")
        if lines and lines[-1] == "return":
            return lines
        delivery = self.delivery
        if delivery is not None:
            lines.extend(delivery.split("\n"))
        return lines

    def ops(self, ops: tuple[model.StreamOp, ...], drop: str) -> Lines:
        lines: Lines = []
        for op in ops:
            code = self.op(op, drop)
            if code:
                lines.append(self.origin(op))
                lines.extend(code)
            if code and code[-1] == drop:
                break  # `.limit(0)`: nothing after it can run
        return lines

    def position(self, op: model.StreamOp) -> int:
        """The op's 1-based place in the whole stream: it names the op's own state, which
        no other op may share (a place within a segment restarts after the window)."""
        return next(i for i, o in enumerate(self.stream.ops, start=1) if o is op)

    def op(self, op: model.StreamOp, drop: str) -> Lines:
        c = self.compiler()
        match op:
            case model.Where(cond=cond):
                return [f"if not ({c.cond(cond)}):", f"    {drop}"]
            case model.Select(items=items):
                return self.build_fields(items, c)
            case model.Emit(items=items):
                emit = f"{self.name('emit')}({py_literal(self.stream.name)}, ts, f)"
                return [*self.build_fields(items, c), emit]
            case model.Print(args=args):
                self.uses.add("vpl_print")
                values = ", ".join(c.value(a) for a in args)
                return [
                    f"vpl_print({py_literal(self.stream.name)}, f, ({values}{',' if args else ''}))"
                ]
            case model.Log(level=level, message=message, data=data):
                self.uses.add("vpl_log")
                parts = [c.value(e) if e is not None else "None" for e in (level, message, data)]
                return [f"vpl_log({py_literal(self.stream.name)}, {', '.join(parts)})"]
            case model.Distinct(key=key):
                seen = self.declare(StateKind.DISTINCT, self.position(op))
                self.state_vars.append(f"{seen}: set[Any] = set()")
                if key is None:
                    self.uses.add("event_key")
                    key_code = "event_key(f)"
                else:
                    self.uses.add("key_of")
                    key_code = f"key_of({c.value(key)})"
                return [
                    f"key = {key_code}",
                    f"if key in {seen}:",
                    f"    {drop}",
                    f"{seen}.add(key)",
                ]
            case model.Limit(count=count):
                if count <= 0:
                    return [drop]
                passed = self.declare(StateKind.LIMIT, self.position(op))
                self.state_vars.append(f"{passed} = 0")
                self.rebound.append(passed)
                return [f"if {passed} >= {count}:", f"    {drop}", f"{passed} += 1"]
            case (
                model.PartitionBy()
                | model.Watermark()
                | model.AllowedLateness()
                | model.Concurrent()
                | model.Window()
                | model.Aggregate()
            ):
                return []  # handled by the window/aggregate code or at ingress
        raise AssertionError(op)

    def build_fields(self, items: tuple[model.Item, ...], c: ExprCompiler) -> Lines:
        """Replace `f` by a new dict of the items, omitting MISSING values (§5.2).

        When every item is a field, a constant or numeric arithmetic over those, the
        common case is one dict display evaluated "strictly" (an absent field or a
        non-number raises KeyError instead of giving MISSING), with the general code,
        which leaves MISSING items out, as the fallback.
        """
        strict: list[str] = []
        for item in items:
            code = c.strict(item.value)
            if code is None:
                return self.general_fields(items, c)
            if code != "MISSING":
                strict.append(f"{py_literal(item.name)}: {code}")
        display = f"f = {{{', '.join(strict)}}}"
        if all(c.fold(item.value) is not NOT_CONSTANT for item in items):
            return [display]  # constants only: nothing can fail
        return [
            "try:",
            f"    {display}",
            "except KeyError:",
            *indent(self.general_fields(items, c)),
        ]

    def general_fields(self, items: tuple[model.Item, ...], c: ExprCompiler) -> Lines:
        # Each op gets its own dict name: mypy rejects a second annotation of one name.
        self._outs += 1
        out = f"out{self._outs}"
        # Not annotated: `push` may run several streams' bodies, and mypy rejects a second
        # annotation of one name (it infers dict[str, Any] from the stores below).
        lines = [f"{out} = {{}}"]
        for item in items:
            c.uses.add("MISSING")
            lines += [
                f"if (value := {c.value(item.value)}) is not MISSING:",
                f"    {out}[{py_literal(item.name)}] = value",
            ]
        return [*lines, f"f = {out}"]

    # -- windows -------------------------------------------------------------------------

    def window_state(self, slots: list[Slot]) -> str:
        """Declare the window state (one per partition) and return the class name."""
        cls = window_class(self.stream.name)
        window = self.shape.window
        assert window is not None
        base = _BASE_SLOTS
        self.out.classes.append(
            _state_class(cls, f"One open window of stream {self.stream.name!r}.", base + slots)
        )
        if self.shape.window_key is None:
            self.uses.add("MISSING")
            self.state_vars.append(f"{self.declare(StateKind.WINDOW)} = {cls}(MISSING)")
        else:
            windows = self.declare(StateKind.WINDOW_MAP)
            self.state_vars.append(f"{windows}: dict[Any, {cls}] = {{}}")
        return cls

    def window_slots(self) -> list[Slot]:
        window = self.shape.window
        assert window is not None
        match window.kind:
            case WindowKind.TUMBLING_TIME:
                extra = [Slot("start", "int", "0", "time of the window's first event")]
            case WindowKind.SESSION:
                extra = [Slot("last", "int", "0", "time of the session's latest event")]
            case WindowKind.SLIDING_COUNT:
                self.uses.add("deque")
                extra = [
                    Slot("buf", "deque[tuple[int, Fields]]", f"deque(maxlen={window.size})"),
                    Slot("since", "int", "0", "arrivals since the last emission"),
                ]
            case WindowKind.SLIDING_TIME:
                self.uses.add("deque")
                extra = [
                    Slot("buf", "deque[tuple[int, Fields]]", "deque()"),
                    Slot("ordered", "bool", "True", "buf is in time order"),
                    Slot("emitted", "bool", "False"),
                    Slot("last_emit", "int", "0"),
                    Slot("pending", "bool", "False", "an arrival since the last emission"),
                ]
            case WindowKind.COUNT:
                extra = []
        if window.kind in _TUMBLING and not self.shape.incremental:
            extra.append(Slot("buf", "list[tuple[int, Fields]]", "[]"))
        if self._orders_partitions():
            extra.append(Slot("first", "int", "0", "cascade id that created the partition"))
        return extra

    def _orders_partitions(self) -> bool:
        window = self.shape.window
        return (
            self.pool_worker
            and window is not None
            and window.kind in _FLUSHED
            and self.shape.window_key is not None
        )

    def lookup_window(self, cls: str) -> Lines:
        key = self.shape.window_key
        if key is None:
            return [f"w = {self.state(StateKind.WINDOW)}"]
        self.uses.update({"MISSING", "key_of"})
        windows, find = self.state(StateKind.WINDOW_MAP), self.name("find")
        self.state_vars.append(f"{find} = {windows}.get")
        assert self.shape.window is not None
        starts = self.shape.window.kind is WindowKind.TUMBLING_TIME
        return [
            f"key_value = f.get({py_literal(key)}, MISSING)",
            "key = key_value if key_value.__class__ is str else key_of(key_value)",
            f"w = {find}(key)",
            "if w is None:",
            f"    w = {windows}[key] = {cls}(key_value)",
            *(["    w.start = ts"] if starts else []),
            *(["    w.first = ctx.cascade"] if self._orders_partitions() else []),
        ]

    def replace_window(self, cls: str) -> Lines:
        """Start a fresh window for this partition; the closed one stays in `closed`."""
        if self.shape.window_key is None:
            self.rebound.append(self.state(StateKind.WINDOW))
            return ["closed = w", f"w = {self.state(StateKind.WINDOW)} = {cls}(MISSING)"]
        lines = ["closed = w", f"w = {self.state(StateKind.WINDOW_MAP)}[key] = {cls}(closed.key)"]
        return lines + (["w.first = closed.first"] if self._orders_partitions() else [])

    def incremental_window(self) -> Lines:
        window, agg = self.shape.window, self.aggregate
        assert window is not None and agg is not None
        cls = self.window_state(self.window_slots() + agg.slots())
        c = self.compiler()
        add = ["w.n += 1", "w.ts = ts", *agg.update_lines("w", c)]
        close = [
            *self.replace_window(cls),
            f"{self.name('after')}(closed.ts, {self.name('result')}(closed))",
        ]
        self.result_function(cls)
        self.flush_function(lambda w: [f"{self.name('after')}({w}.ts, {self.name('result')}({w}))"])
        lines = [self.origin(window), *self.lookup_window(cls)]
        return lines + self.arrival(window, add, close)

    def buffered_window(self) -> Lines:
        window = self.shape.window
        assert window is not None
        cls = self.window_state(self.window_slots())
        batch = self.name("batch")
        lines = [self.origin(window), *self.lookup_window(cls)]
        match window.kind:
            case WindowKind.SLIDING_COUNT:
                return [
                    *lines,
                    "w.buf.append((ts, f))",
                    "w.since += 1",
                    f"if w.since >= {window.slide} and len(w.buf) == {window.size}:",
                    "    w.since = 0",
                    f"    {batch}(list(w.buf))",
                ]
            case WindowKind.SLIDING_TIME:
                self.flush_function(
                    lambda w: [f"if {w}.pending:", f"    {batch}(list({w}.buf))"], guard=False
                )
                return lines + _sliding_time_lines(window, batch)
        add = ["w.n += 1", "w.buf.append((ts, f))"]
        close = [*self.replace_window(cls), f"{batch}(closed.buf)"]
        self.flush_function(lambda w: [f"{batch}({w}.buf)"])
        return lines + self.arrival(window, add, close)

    def arrival(self, window: model.Window, add: Lines, close: Lines) -> Lines:
        """Window bookkeeping around `add` for the kinds closed by arrivals (§6.1, 6.3, 6.5)."""
        match window.kind:
            case WindowKind.COUNT:
                return [*add, f"if w.n == {window.size}:", *indent(close)]
            case WindowKind.TUMBLING_TIME:
                # A partition's window starts when it is created (lookup_window); the
                # single window of an unpartitioned stream starts with its first event.
                first = (
                    ["if w.n == 0:", "    w.start = ts"] if self.shape.window_key is None else []
                )
                # A zero-length window must not close before it holds an event.
                guard = "w.n and " if window.size == 0 else ""
                closing = f"{'el' if first else ''}if {guard}ts >= w.start + {window.size}:"
                return [*first, closing, *indent(close), "    w.start = ts", *add]
            case WindowKind.SESSION:
                return [
                    f"if w.n and ts - w.last > {window.size}:",
                    *indent(close),
                    *add,
                    "w.last = ts",
                ]
        raise AssertionError(window.kind)

    def flush_function(self, emit: Callable[[str], Lines], guard: bool = True) -> None:
        window = self.shape.window
        assert window is not None
        if window.kind not in _FLUSHED:
            return
        name = self.name("flush")
        body = emit("w")
        if self.queued:
            body.append("drain()")  # §6.7: each batch is processed to completion
        if guard:
            body = ["if w.n:", *indent(body)]
        if self.stepwise_flush:
            body.append("yield")
        if self.shape.window_key is None:
            lines = [f"w = {self.state(StateKind.WINDOW)}", *body]
        else:
            if self._orders_partitions():
                body = ["ctx.partition_turn(w.first)", *body]
            lines = [f"for w in list({self.state(StateKind.WINDOW_MAP)}.values()):", *indent(body)]
        if self.stepwise_flush:
            self.uses.add("Iterator")
            self.function(name, lines, signature="", returns="Iterator[None]")
        else:
            self.function(name, lines, signature="")
        self.out.flush = name

    # -- aggregate -----------------------------------------------------------------------

    def result_function(self, cls: str) -> None:
        """`result_S(state) -> Fields`: the aggregate's output event (§7)."""
        agg = self.aggregate
        assert agg is not None and self.shape.aggregate is not None
        self.uses.update(agg.result_uses())
        c = self.compiler(fields="state", overrides=agg.result_code("state"))
        items = self.shape.aggregate.items
        if all(len(i.calls) == 1 and i.expr == i.calls[0].call for i in items):
            # Every item is one aggregate call, never MISSING: one dict display.
            lines = self.result_display([(i.name, c.value(i.expr)) for i in items])
        else:
            lines = self.result_statements(c)
        self.out.body.extend(
            ["", f"def {self.name('result')}(state: {cls}) -> Fields:", *indent(lines)]
        )

    def result_display(self, items: list[tuple[str, str]]) -> Lines:
        entries = ", ".join(f"{py_literal(name)}: {code}" for name, code in items)
        key = self.shape.aggregate_key
        if key is None:
            return [f"return {{{entries}}}"]
        # An item named like the partition field replaces its value in place (D10).
        self.uses.update({"key_text", "MISSING"})
        return [
            "if state.key is MISSING:",
            f'    return {{"_partition": "default", {entries}}}',
            f'return {{"_partition": key_text(state.key), {py_literal(key)}: state.key, '
            f"{entries}}}",
        ]

    def result_statements(self, c: ExprCompiler) -> Lines:
        assert self.shape.aggregate is not None
        lines = ["out: Fields = {}"]
        key = self.shape.aggregate_key
        if key is not None:
            self.uses.update({"key_text", "MISSING"})
            lines += [
                'out["_partition"] = key_text(state.key)',
                "if state.key is not MISSING:",
                f"    out[{py_literal(key)}] = state.key",
            ]
        for item in self.shape.aggregate.items:
            code = c.value(item.expr)
            if len(item.calls) == 1 and item.expr == item.calls[0].call:
                lines.append(f"out[{py_literal(item.name)}] = {code}")  # never MISSING
            else:
                self.uses.add("MISSING")
                lines += [
                    f"if (value := {code}) is not MISSING:",
                    f"    out[{py_literal(item.name)}] = value",
                ]
        return [*lines, "return out"]

    def batch_function(self) -> None:
        """`batch_S(batch)`: what a buffered window emits goes through the ops between the
        window and the aggregate, then is aggregated (one result per partition key, in
        first-seen order) or, without aggregate, goes on to `after_S`."""
        after = self.name("after")
        agg = self.aggregate
        if agg is None:  # no ops between: they all come after
            if self.after_takes_batches:
                lines = [f"{after}(batch)"]
            else:
                lines = ["for ts, f in batch:", f"    {after}(ts, f)"]
        else:
            cls = self.name("Agg")
            self.out.classes.append(
                _state_class(
                    cls,
                    f"Aggregates of stream {self.stream.name!r} over one batch.",
                    [*_BASE_SLOTS, *agg.slots()],
                )
            )
            self.result_function(cls)
            update = ["w.n += 1", "w.ts = ts", *agg.update_lines("w", self.compiler())]
            lines = self.batch_aggregate(cls, update)
        self.function(self.name("batch"), lines, signature=_BATCH_SIGNATURE)

    def aggregate_loops(self, update: Lines) -> Lines:
        """The ops between window and aggregate over `batch`, then `update` per event."""
        if self.between_per_op:
            return self.per_op(self.shape.between, [(update, False)])
        between = self.ops(self.shape.between, drop="continue")
        return ["for ts, f in batch:", *indent(between + update)]

    def batch_aggregate(self, cls: str, update: Lines) -> Lines:
        after, result = self.name("after"), self.name("result")
        key = self.shape.aggregate_key
        self.uses.add("MISSING")
        if key is None:
            return [
                f"w = {cls}(MISSING)",
                *self.aggregate_loops(update),
                "if w.n:",
                f"    {after}(w.ts, {result}(w))",
            ]
        self.uses.add("key_of")
        lookup = [
            f"key_value = f.get({py_literal(key)}, MISSING)",
            "key = key_value if key_value.__class__ is str else key_of(key_value)",
            "w = groups.get(key)",
            "if w is None:",
            f"    w = groups[key] = {cls}(key_value)",
        ]
        if self.after_takes_batches:
            results = [f"{after}([(w.ts, {result}(w)) for w in groups.values()])"]
        else:
            results = ["for w in groups.values():", f"    {after}(w.ts, {result}(w))"]
        return [
            f"groups: dict[Any, {cls}] = {{}}",
            *self.aggregate_loops(lookup + update),
            *results,
        ]


def _sliding_time_lines(window: model.Window, batch: str) -> Lines:
    """§6.4: evict events older than t - D, emit on the first arrival and then every S."""
    return [
        "buf = w.buf",
        "if buf and ts < buf[-1][0]:",
        "    w.ordered = False",
        "buf.append((ts, f))",
        f"horizon = ts - {window.size}",
        "if w.ordered:",
        "    while buf[0][0] < horizon:",
        "        buf.popleft()",
        "elif any(e[0] < horizon for e in buf):",
        "    kept = [e for e in buf if e[0] >= horizon]",
        "    buf.clear()",
        "    buf.extend(kept)",
        f"if w.emitted and ts < w.last_emit + {window.slide}:",
        "    w.pending = True",
        "else:",
        "    w.emitted = True",
        "    w.last_emit = ts",
        "    w.pending = False",
        f"    {batch}(list(buf))",
    ]


_ORDERED_EFFECTS = (model.Emit, model.Print, model.Log)
_BATCH_SIGNATURE = "batch: list[tuple[int, Fields]]"

_BASE_SLOTS = [
    Slot("n", "int", "0", "events in the window"),
    Slot("ts", "int", "0", "time of the latest event"),
    Slot("key", "Any", "key", "partition key value (MISSING: unpartitioned)"),
]


def _state_class(name: str, doc: str, slots: list[Slot]) -> str:
    names = ", ".join(py_literal(s.name) for s in slots)
    doc_text = doc.replace('"', '\\"')  # a quoted stream name (D46) may hold `"""`
    lines = [
        f"class {name}:",
        f'    """{doc_text}"""',
        "",
        f"    __slots__ = ({names},)",
        "",
        "    def __init__(self, key: Any) -> None:",
    ]
    for s in slots:
        comment = f"  # {comment_text(s.comment)}" if s.comment else ""
        lines.append(f"        self.{s.name}: {s.type} = {s.init}{comment}")
    return "\n".join(lines)

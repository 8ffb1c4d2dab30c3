"""Code for one stream: its entry function, window state, aggregate and flush.

A stream's ops are split into segments at its window/aggregate boundary:

    stream_S(ts, f)   per-event ops before the window, then the window update
    batch_S(batch)    (buffered windows) ops between window and aggregate, the aggregate
    after_S(ts, f)    per-event ops after the aggregate, then delivery downstream
    flush_S()         end of input (§6.7)

Each segment is a flat function: dropping an event is `return` (or `continue` in a batch
loop). Windows that are closed by arrivals and followed directly by an aggregate keep only
accumulators (no event buffer); sliding windows and the rarer shapes buffer events.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from vplc.check import model
from vplc.check.model import WindowKind
from vplc.codegen.aggregates import AggregateCode, Slot
from vplc.codegen.expressions import NOT_CONSTANT, ExprCompiler
from vplc.plan.names import comment_text, mangle, py_literal
from vplc.plan.shape import TUMBLING as _TUMBLING
from vplc.plan.shape import shape_of

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
        self.rebound: list[str] = []  # state variables that functions reassign (nonlocal)
        self._temps = 0
        self._outs = 0

    # -- names ---------------------------------------------------------------------------

    def name(self, role: str, index: int | None = None) -> str:
        return mangle(role, self.stream.name, index)

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

    # -- per-event ops -------------------------------------------------------------------

    def ops_then_deliver(self, ops: tuple[model.StreamOp, ...]) -> Lines:
        lines = self.ops(ops, drop="return")
        if lines and lines[-1] == "return":
            return lines
        delivery = self.deliver(self.stream.name)
        if delivery is not None:
            lines.extend(delivery.split("\n"))
        return lines

    def ops(self, ops: tuple[model.StreamOp, ...], drop: str) -> Lines:
        lines: Lines = []
        for index, op in enumerate(ops, start=1):
            code = self.op(op, index, drop)
            if code:
                lines.append(self.origin(op))
                lines.extend(code)
            if code and code[-1] == drop:
                break  # `.limit(0)`: nothing after it can run
        return lines

    def op(self, op: model.StreamOp, index: int, drop: str) -> Lines:
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
                seen = self.name("seen", index)
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
                passed = self.name("passed", index)
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
        cls = self.name("Window")
        window = self.shape.window
        assert window is not None
        base = _BASE_SLOTS
        self.out.classes.append(
            _state_class(cls, f"One open window of stream {self.stream.name!r}.", base + slots)
        )
        if self.shape.window_key is None:
            self.uses.add("MISSING")
            self.state_vars.append(f"{self.name('window')} = {cls}(MISSING)")
        else:
            self.state_vars.append(f"{self.name('windows')}: dict[Any, {cls}] = {{}}")
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
            return [f"w = {self.name('window')}"]
        self.uses.update({"MISSING", "key_of"})
        windows, find = self.name("windows"), self.name("find")
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
            self.rebound.append(self.name("window"))
            return ["closed = w", f"w = {self.name('window')} = {cls}(MISSING)"]
        lines = ["closed = w", f"w = {self.name('windows')}[key] = {cls}(closed.key)"]
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
            lines = [f"w = {self.name('window')}", *body]
        else:
            if self._orders_partitions():
                body = ["ctx.partition_turn(w.first)", *body]
            lines = [f"for w in list({self.name('windows')}.values()):", *indent(body)]
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
        first-seen order) or, without aggregate, flows on event by event."""
        after = self.name("after")
        between = self.ops(self.shape.between, drop="continue")
        agg = self.aggregate
        if agg is None:
            loop = [*between, f"{after}(ts, f)"]
            lines = ["for ts, f in batch:", *indent(loop)]
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
            lines = self.batch_aggregate(cls, between, update)
        self.function(self.name("batch"), lines, signature="batch: list[tuple[int, Fields]]")

    def batch_aggregate(self, cls: str, between: Lines, update: Lines) -> Lines:
        after, result = self.name("after"), self.name("result")
        key = self.shape.aggregate_key
        self.uses.add("MISSING")
        if key is None:
            return [
                f"w = {cls}(MISSING)",
                "for ts, f in batch:",
                *indent(between + update),
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
        return [
            f"groups: dict[Any, {cls}] = {{}}",
            "for ts, f in batch:",
            *indent(between + lookup + update),
            "for w in groups.values():",
            f"    {after}(w.ts, {result}(w))",
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


_BASE_SLOTS = [
    Slot("n", "int", "0", "events in the window"),
    Slot("ts", "int", "0", "time of the latest event"),
    Slot("key", "Any", "key", "partition key value (MISSING: unpartitioned)"),
]


def _state_class(name: str, doc: str, slots: list[Slot]) -> str:
    names = ", ".join(py_literal(s.name) for s in slots)
    lines = [
        f"class {name}:",
        f'    """{doc}"""',
        "",
        f"    __slots__ = ({names},)",
        "",
        "    def __init__(self, key: Any) -> None:",
    ]
    for s in slots:
        comment = f"  # {comment_text(s.comment)}" if s.comment else ""
        lines.append(f"        self.{s.name}: {s.type} = {s.init}{comment}")
    return "\n".join(lines)

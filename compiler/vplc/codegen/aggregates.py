"""Code for `.aggregate(...)`: accumulator slots, the per-event update, the results.

Accumulators are updated incrementally (O(1) per event for every function but percentile
and collect, which must keep values; Welford's method for stddev). The same update code
serves a window that aggregates as events arrive and a buffered batch (sliding windows).
"""

from __future__ import annotations

from dataclasses import dataclass

from vplc.check import model
from vplc.check.model import AggFunc
from vplc.codegen.expressions import ExprCompiler
from vplc.frontend.syntax import Expr
from vplc.frontend.unparse import unparse
from vplc.plan.names import py_literal

# Functions that only look at numeric values (SEMANTICS §7: others are skipped).
_NUMERIC = {
    AggFunc.SUM,
    AggFunc.AVG,
    AggFunc.MIN,
    AggFunc.MAX,
    AggFunc.STDDEV,
    AggFunc.EMA,
    AggFunc.PERCENTILE,
}
# Functions that need the count of numeric values of their argument.
_COUNTED = {AggFunc.AVG, AggFunc.MIN, AggFunc.MAX, AggFunc.STDDEV}
# Functions whose state is the running sum of the numeric values of their argument.
_SUMMED = {AggFunc.SUM, AggFunc.AVG}


@dataclass(frozen=True, slots=True)
class Slot:
    """One attribute of a window's or a batch's state."""

    name: str
    type: str
    init: str
    comment: str = ""


@dataclass(frozen=True, slots=True)
class Accumulator:
    call: model.AggCall
    slot: str  # attribute name of its state
    arg_index: int  # which argument group feeds it (0: none)
    shared: bool = False  # reads another accumulator's slot (avg and sum of one argument)


@dataclass(frozen=True, slots=True)
class ArgGroup:
    """One distinct argument expression, evaluated once per event for all its functions."""

    index: int
    expr: Expr
    numeric_only: bool  # every function of the group skips non-numbers
    counted: bool  # some function needs the count of numeric values
    keeps_values: bool  # percentile: keep the numeric values


class AggregateCode:
    """The accumulators of one `.aggregate` and the code that maintains them."""

    def __init__(self, aggregate: model.Aggregate) -> None:
        self.aggregate = aggregate
        self.groups: list[ArgGroup] = []
        self.accumulators: dict[str, Accumulator] = {}  # keyed by the call's text
        for item in aggregate.items:
            for call in item.calls:
                self._add(call)

    def _add(self, call: model.AggCall) -> None:
        key = _call_key(call)
        if key in self.accumulators:
            return
        arg_index = 0
        if call.arg is not None and call.func is not AggFunc.COUNT:
            arg_index = self._group(call)
        summed = self._running_sum(call, arg_index)
        if summed is not None:
            # sum(x) and avg(x) keep the same running sum: one slot, one addition per event
            # (less state per partition key, see benchmarks/bench_memory.py).
            self.accumulators[key] = Accumulator(call, summed, arg_index, shared=True)
            return
        slot = f"{call.func.value.replace('_', '')}{len(self.accumulators) + 1}"
        self.accumulators[key] = Accumulator(call, slot, arg_index)

    def _running_sum(self, call: model.AggCall, arg_index: int) -> str | None:
        """The slot of an earlier sum or avg of the same argument, for a sum or avg call."""
        if call.func not in _SUMMED:
            return None
        for acc in self.accumulators.values():
            if acc.call.func in _SUMMED and acc.arg_index == arg_index and not acc.shared:
                return acc.slot
        return None

    def _group(self, call: model.AggCall) -> int:
        assert call.arg is not None
        numeric = call.func in _NUMERIC
        for i, group in enumerate(self.groups):
            if unparse(group.expr) == unparse(call.arg):
                self.groups[i] = ArgGroup(
                    group.index,
                    group.expr,
                    group.numeric_only and numeric,
                    group.counted or call.func in _COUNTED,
                    group.keeps_values or call.func is AggFunc.PERCENTILE,
                )
                return group.index
        index = len(self.groups) + 1
        self.groups.append(
            ArgGroup(
                index,
                call.arg,
                numeric,
                call.func in _COUNTED,
                call.func is AggFunc.PERCENTILE,
            )
        )
        return index

    # -- state ---------------------------------------------------------------------------

    def slots(self) -> list[Slot]:
        """Every accumulator attribute, with a comment saying what it holds."""
        slots: list[Slot] = []
        for group in self.groups:
            arg = unparse(group.expr)
            if group.counted:
                slots.append(Slot(f"count{group.index}", "int", "0", f"numbers seen in {arg}"))
            if group.keeps_values:
                slots.append(Slot(f"values{group.index}", "list[Any]", "[]", f"numbers of {arg}"))
        for acc in self.accumulators.values():
            if not acc.shared:
                slots.extend(_slots_of(acc))
        return slots

    # -- per-event update ----------------------------------------------------------------

    def update_lines(self, state: str, compiler: ExprCompiler) -> list[str]:
        """Statements adding the event in `f` to the accumulators of `state`
        (`state.n` and `state.ts` are maintained by the caller)."""
        lines: list[str] = []
        for group in self.groups:
            lines.extend(self._group_update(group, state, compiler))
        return lines

    def _group_update(self, group: ArgGroup, state: str, compiler: ExprCompiler) -> list[str]:
        value = f"v{group.index}"
        accs = [a for a in self.accumulators.values() if a.arg_index == group.index]
        code = compiler.subject(group.expr) if group.numeric_only else compiler.value(group.expr)
        lines = [f"{value} = {code}"]
        numeric = [a for a in accs if a.call.func in _NUMERIC and not a.shared]
        if numeric:
            compiler.uses.add("NUMERIC")
            lines.append(f"if {value}.__class__ in NUMERIC and {value} == {value}:")
            if group.counted:
                lines.append(f"    {state}.count{group.index} += 1")
            if group.keeps_values:
                lines.append(f"    {state}.values{group.index}.append({value})")
            for acc in numeric:
                lines.extend("    " + line for line in _numeric_update(acc, group, state, value))
        for acc in accs:
            if acc.call.func not in _NUMERIC:
                lines.extend(_other_update(acc, state, value, compiler))
        return lines

    # -- results -------------------------------------------------------------------------

    def result_code(self, state: str) -> dict[str, str]:
        """Python code of each call's result, keyed by the call's text (for overrides)."""
        return {key: _result(acc, state) for key, acc in self.accumulators.items()}

    def result_uses(self) -> set[str]:
        uses: set[str] = set()
        if any(a.call.func in (AggFunc.MIN, AggFunc.MAX) for a in self.accumulators.values()):
            uses.add("inf")
        for acc in self.accumulators.values():
            if acc.call.func is AggFunc.STDDEV:
                uses.add("agg_stddev")
            elif acc.call.func is AggFunc.PERCENTILE:
                uses.add("agg_percentile")
        return uses


def _call_key(call: model.AggCall) -> str:
    return unparse(call.call)


def _slots_of(acc: Accumulator) -> list[Slot]:
    s, what = acc.slot, unparse(acc.call.call)
    match acc.call.func:
        case AggFunc.COUNT | AggFunc.PERCENTILE:
            return []
        case AggFunc.SUM:
            return [Slot(s, "float", "0.0", what)]
        case AggFunc.AVG:
            return [Slot(s, "float", "0.0", f"{what}: running sum")]
        case AggFunc.MIN:
            return [Slot(s, "Any", "inf", what)]
        case AggFunc.MAX:
            return [Slot(s, "Any", "-inf", what)]
        case AggFunc.STDDEV:
            return [
                Slot(f"{s}mean", "float", "0.0", f"{what}: Welford mean"),
                Slot(f"{s}m2", "float", "0.0", f"{what}: Welford sum of squares"),
            ]
        case AggFunc.FIRST | AggFunc.LAST:
            return [Slot(s, "Any", "None", what)]
        case AggFunc.COUNT_DISTINCT:
            return [Slot(s, "set[Any]", "set()", f"{what}: keys seen")]
        case AggFunc.EMA:
            return [Slot(s, "float | None", "None", what)]
        case AggFunc.COLLECT:
            return [Slot(s, "list[Any]", "[]", what)]
    raise AssertionError(acc.call.func)


def _numeric_update(acc: Accumulator, group: ArgGroup, state: str, v: str) -> list[str]:
    s = f"{state}.{acc.slot}"
    match acc.call.func:
        case AggFunc.SUM | AggFunc.AVG:
            return [f"{s} += {v}"]
        case AggFunc.MIN:
            return [f"if {v} < {s}:", f"    {s} = {v}"]
        case AggFunc.MAX:
            return [f"if {v} > {s}:", f"    {s} = {v}"]
        case AggFunc.STDDEV:
            n = f"{state}.count{group.index}"
            return [
                f"delta = {v} - {s}mean",
                f"{s}mean += delta / {n}",
                f"{s}m2 += delta * ({v} - {s}mean)",
            ]
        case AggFunc.EMA:
            periods = acc.call.param
            assert isinstance(periods, int)
            alpha = py_literal(2.0 / (periods + 1))
            keep = py_literal(1.0 - 2.0 / (periods + 1))
            return [f"{s} = float({v}) if {s} is None else {v} * {alpha} + {s} * {keep}"]
        case AggFunc.PERCENTILE:
            return []  # the group keeps the values
    raise AssertionError(acc.call.func)


def _other_update(acc: Accumulator, state: str, v: str, compiler: ExprCompiler) -> list[str]:
    s = f"{state}.{acc.slot}"
    compiler.uses.add("MISSING")
    match acc.call.func:
        case AggFunc.FIRST:
            return [f"if {state}.n == 1:", f"    {s} = None if {v} is MISSING else {v}"]
        case AggFunc.LAST:
            return [f"{s} = None if {v} is MISSING else {v}"]
        case AggFunc.COUNT_DISTINCT:
            compiler.uses.add("key_of")
            return [f"if {v} is not MISSING:", f"    {s}.add(key_of({v}))"]
        case AggFunc.COLLECT:
            return [f"if {v} is not MISSING:", f"    {s}.append({v})"]
    raise AssertionError(acc.call.func)


def _result(acc: Accumulator, state: str) -> str:
    s = f"{state}.{acc.slot}"
    count = f"{state}.count{acc.arg_index}"
    match acc.call.func:
        case AggFunc.COUNT:
            return f"{state}.n"
        case AggFunc.SUM | AggFunc.FIRST | AggFunc.LAST | AggFunc.EMA | AggFunc.COLLECT:
            return s
        case AggFunc.AVG:
            return f"({s} / {count} if {count} else None)"
        case AggFunc.MIN | AggFunc.MAX:
            return f"(float({s}) if {count} else None)"
        case AggFunc.STDDEV:
            return f"agg_stddev({count}, {s}m2)"
        case AggFunc.COUNT_DISTINCT:
            return f"len({s})"
        case AggFunc.PERCENTILE:
            return f"agg_percentile({state}.values{acc.arg_index}, {py_literal(acc.call.param)})"
    raise AssertionError(acc.call.func)

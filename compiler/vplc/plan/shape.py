"""A stream's shape: its operations split around its window and aggregate, the split that
both the code generator and `vplc plan` follow."""

from __future__ import annotations

from dataclasses import dataclass

from vplc.check import model
from vplc.check.model import WindowKind

# Window kinds that hold events only until an arrival (or the end of input) closes them.
TUMBLING = {WindowKind.COUNT, WindowKind.TUMBLING_TIME, WindowKind.SESSION}


@dataclass(frozen=True, slots=True)
class Shape:
    """Where the window and aggregate sit in the op list."""

    pre: tuple[model.StreamOp, ...]
    window: model.Window | None
    between: tuple[model.StreamOp, ...]
    aggregate: model.Aggregate | None
    post: tuple[model.StreamOp, ...]
    window_key: str | None  # partition field of the window
    aggregate_key: str | None  # partition field of the aggregate

    @property
    def incremental(self) -> bool:
        """Aggregate as events arrive instead of buffering them."""
        return (
            self.window is not None
            and self.aggregate is not None
            and self.window.kind in TUMBLING
            and not self.between
            and self.window_key == self.aggregate_key
        )


def shape_of(stream: model.Stream) -> Shape:
    ops = stream.ops
    w = next((i for i, op in enumerate(ops) if isinstance(op, model.Window)), None)
    a = next((i for i, op in enumerate(ops) if isinstance(op, model.Aggregate)), None)
    if w is not None and a is not None and a < w:
        raise NotImplementedError("a .window after .aggregate")
    cut = w if w is not None else a
    pre = ops[:cut] if cut is not None else ops
    between = ops[w + 1 : a] if w is not None and a is not None else ()
    after = a if a is not None else w
    post = ops[after + 1 :] if after is not None else ()
    window = ops[w] if w is not None else None
    aggregate = ops[a] if a is not None else None
    assert window is None or isinstance(window, model.Window)
    assert aggregate is None or isinstance(aggregate, model.Aggregate)
    window_key = _last_partition(pre)
    aggregate_key = _last_partition(pre + between) if aggregate is not None else None
    return Shape(pre, window, between, aggregate, post, window_key, aggregate_key)


def _last_partition(ops: tuple[model.StreamOp, ...]) -> str | None:
    keys = [op.field for op in ops if isinstance(op, model.PartitionBy)]
    return keys[-1] if keys else None

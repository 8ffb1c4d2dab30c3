"""Worker pools, `.concurrent(...)` (SEMANTICS §10, D22): arguments, defaults, E100-E104, W103."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from vplc.check.exprs import Env, ExprTyper
from vplc.check.model import Concurrent, Emit, Origin, Strategy, StreamOp
from vplc.diagnostics import Diagnostic, error, warning
from vplc.frontend import syntax

_PARAMS = ("workers", "strategy", "key", "ordered")
_STATELESS = frozenset({"where", "having", "select", "emit", "print", "log"})
_NEVER_AFTER_POOL = frozenset({"limit", "distinct"})


@dataclass(frozen=True, slots=True)
class PoolSite:
    """Where a pool is: its stream, its index among the stream's ops, its name's span."""

    stream: str
    index: int
    span: syntax.Span


def check_concurrent(
    op: syntax.Op, origin: Origin, typer: ExprTyper, partition: syntax.Name | None
) -> Concurrent | None:
    """The pool with defaults resolved, or None after reporting E100/E104."""
    env = typer.env
    values: dict[str, syntax.Arg] = {}
    ok = True
    for arg in op.args:
        if arg.name is None or arg.name not in _PARAMS or arg.name in values:
            env.report(error("E100", _bad_param(arg, values), arg.name_span or arg.span))
            ok = False
        else:
            values[arg.name] = arg
    workers = _workers(values.get("workers"), op, env)
    strategy = _strategy(values.get("strategy"), env)
    ordered = _ordered(values.get("ordered"), env)
    key_arg = values.get("key")
    key: syntax.Expr | None = key_arg.value if key_arg is not None else partition
    if key_arg is not None:
        typer.infer(key_arg.value)
    # A bad strategy or ordered value was reported; a missing one takes its default.
    ok = ok and not (strategy is None and "strategy" in values)
    ok = ok and ordered is not None
    if strategy is Strategy.CONSISTENT_HASH and key is None:
        env.report(
            error(
                "E104",
                "a consistent_hash pool needs a 'key:' or a '.partition_by' before it",
                values["strategy"].value.span,
            )
        )
        ok = False
    if workers is None or not ok:
        return None
    if strategy is None:
        strategy = Strategy.CONSISTENT_HASH if key is not None else Strategy.ROUND_ROBIN
    if strategy is not Strategy.CONSISTENT_HASH:
        key = None  # `key:` is ignored by round_robin and broadcast
    return Concurrent(workers, strategy, key, bool(ordered), origin)


def _bad_param(arg: syntax.Arg, seen: Mapping[str, syntax.Arg]) -> str:
    if arg.name is None:
        return "'.concurrent' takes named arguments (workers, strategy, key, ordered)"
    if arg.name in seen:
        return f"'{arg.name}' is given twice"
    return f"unknown argument '{arg.name}' of '.concurrent' (workers, strategy, key, ordered)"


def _workers(arg: syntax.Arg | None, op: syntax.Op, env: Env) -> int | None:
    if arg is None:
        env.report(error("E100", "'.concurrent' needs 'workers: N'", op.name_span))
        return None
    value = arg.value
    if (
        isinstance(value, syntax.Literal)
        and value.kind is syntax.LiteralKind.INT
        and isinstance(value.value, int)
        and value.value > 0
    ):
        return value.value
    env.report(error("E100", "'workers' must be a positive integer literal", value.span))
    return None


def _strategy(arg: syntax.Arg | None, env: Env) -> Strategy | None:
    if arg is None:
        return None
    value = arg.value
    if isinstance(value, syntax.Name):
        for strategy in Strategy:
            if strategy.value == value.name:
                return strategy
    env.report(
        error(
            "E100",
            "'strategy' must be one of consistent_hash, round_robin, broadcast",
            value.span,
        )
    )
    return None


def _ordered(arg: syntax.Arg | None, env: Env) -> bool | None:
    if arg is None:
        return False
    value = arg.value
    if isinstance(value, syntax.Literal) and isinstance(value.value, bool):
        return value.value
    env.report(error("E100", "'ordered' must be true or false", value.span))
    return None


def after_pool(
    pool: Concurrent,
    op: syntax.Op,
    partition: syntax.Name | None,
    constants: Mapping[str, object],
) -> Diagnostic | None:
    """E102/E103 for an op that follows `pool` in the same stream."""
    name = op.name
    if name in _NEVER_AFTER_POOL:
        return error("E102", f"'.{name}' is not allowed after a worker pool", op.name_span)
    match pool.strategy:
        case Strategy.ROUND_ROBIN:
            if name not in _STATELESS:
                return error(
                    "E103",
                    f"only stateless ops (.where, .select, .emit, .print, .log) may follow a "
                    f"round_robin pool, not '.{name}'",
                    op.name_span,
                )
        case Strategy.CONSISTENT_HASH:
            if name in ("window", "aggregate") and not _keyed_by(pool, partition, constants):
                return error(
                    "E102",
                    f"'.{name}' after a consistent_hash pool needs a '.partition_by' on the "
                    "pool's key field",
                    op.name_span,
                )
        case Strategy.BROADCAST:
            pass
    return None


def _keyed_by(
    pool: Concurrent, partition: syntax.Name | None, constants: Mapping[str, object]
) -> bool:
    key = pool.key
    if not isinstance(key, syntax.Name) or key.name in constants or partition is None:
        return False
    return key.name == partition.name


def unordered_pool_warnings(
    pools: Iterable[PoolSite], ops: Mapping[str, Sequence[StreamOp]]
) -> list[Diagnostic]:
    """W103 for each unordered pool whose stream writes lines after it (D31).

    That is the one place where `ordered: false` can change an order: each worker sees its
    events in scheduler order, E102/E103 let only state that needs no other order follow a
    pool (per key after consistent_hash, whole after broadcast), and streams downstream get
    the pool's results in exact order in any case (§10). The lines after the pool are
    written as each worker finishes."""
    found: list[Diagnostic] = []
    for site in pools:
        pool = ops[site.stream][site.index]
        if not isinstance(pool, Concurrent) or pool.ordered or pool.workers < 2:
            continue
        if not any(isinstance(op, Emit) for op in ops[site.stream][site.index + 1 :]):
            continue
        kept = "key" if pool.strategy is Strategy.CONSISTENT_HASH else "worker"
        found.append(
            warning(
                "W103",
                f"unordered pool: stream '{site.stream}' writes the lines after it as the "
                f"workers finish, in an order that may differ from the run without the pool "
                f"(kept within each {kept}); consider 'ordered: true'",
                site.span,
            )
        )
    return found

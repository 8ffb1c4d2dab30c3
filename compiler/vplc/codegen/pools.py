"""Code for worker pools (SEMANTICS §10, D22): how a pool's stream is split, and the
partitioner that the scheduler runs per event, written out for the pool's strategy.

The scheduler's part of the stream ends with `pool_S[w]("S#pool", ts, f)`: `pool_S` holds
one sender per worker, `w` is chosen inline (a stable hash of the key for consistent_hash,
the next worker for round_robin); broadcast sends to every worker in index order.
"""

from __future__ import annotations

from vplc.check import model
from vplc.codegen.expressions import ExprCompiler
from vplc.plan.names import mangle, py_literal
from vplc.plan.state import StateKind, state_name
from vplc.plan.state import scheduler_part as scheduler_part
from vplc.plan.state import worker_part as worker_part
from vplc.plan.threads import PoolPlan

# Keys whose worker the scheduler remembers, at most (computing it again costs ~0.6 us).
_KNOWN_KEYS = 1 << 16


def pool_route(stream: str) -> str:
    """The route of the events a scheduler hands to the workers of `stream`'s pool; not an
    input type (workers accept no input events), and `#` is in no VPL name."""
    return f"{stream}#pool"


def lines_route(stream: str) -> str:
    """The route of `stream`'s output lines on their way to an ordered pool's collector."""
    return f"{stream}#lines"


def senders_variable(stream: str) -> str:
    return mangle("pool", stream)


def dispatch(pool: PoolPlan, compiler: ExprCompiler, uses: set[str]) -> str:
    """The statements handing `(ts, f)` from the scheduler to the pool's workers."""
    senders = senders_variable(pool.stream)
    route = py_literal(pool_route(pool.stream))
    n = pool.pool.workers
    match pool.pool.strategy:
        case model.Strategy.BROADCAST:
            return f"for send in {senders}:\n    send({route}, ts, f)"
        case model.Strategy.ROUND_ROBIN:
            # An int position, not an iterator: it is state that snapshots hold (D35).
            turn = state_name(StateKind.ROUND_ROBIN, pool.stream)
            last = n - 1
            return "\n".join(
                [
                    f"worker = {turn}",
                    f"{turn} = worker + 1 if worker < {last} else 0",
                    f"{senders}[worker]({route}, ts, f)",
                ]
            )
        case model.Strategy.CONSISTENT_HASH:
            assert pool.pool.key is not None  # the checker requires one (E104)
            uses.update({"jump_hash", "stable_hash", "key_of"})
            key = compiler.value(pool.pool.key)
            known = state_name(StateKind.WORKER_CACHE, pool.stream)
            find = mangle("findworker", pool.stream)
            return "\n".join(
                [
                    f"pool_key_value = {key}",
                    "pool_key = (",
                    "    pool_key_value if pool_key_value.__class__ is str",
                    "    else key_of(pool_key_value)",
                    ")",
                    f"worker = {find}(pool_key)",
                    "if worker is None:  # a new key: its worker, by jump consistent hash",
                    f"    if len({known}) >= {_KNOWN_KEYS}:",
                    f"        {known}.clear()  # bound the memory; a key's worker never changes",
                    f"    worker = {known}[pool_key] = jump_hash(stable_hash(pool_key_value), {n})",
                    f"{senders}[worker]({route}, ts, f)",
                ]
            )


def scheduler_state(pool: PoolPlan, uses: set[str]) -> list[str]:
    """Declarations of the scheduler's pool state: the worker senders, the turn counter."""
    workers = ", ".join(py_literal(w) for w in pool.workers)
    lines = [f"{senders_variable(pool.stream)} = ctx.pool_senders(({workers},))"]
    if pool.pool.strategy is model.Strategy.CONSISTENT_HASH:
        known = state_name(StateKind.WORKER_CACHE, pool.stream)
        lines += [
            f"{known}: dict[Any, int] = {{}}  # key -> its worker, computed once",
            f"{mangle('findworker', pool.stream)} = {known}.get",
        ]
    if pool.pool.strategy is model.Strategy.ROUND_ROBIN:
        lines.append(f"{state_name(StateKind.ROUND_ROBIN, pool.stream)} = 0  # next worker")
    return lines


def rebound_by_dispatch(pool: PoolPlan) -> list[str]:
    """The scheduler state that `dispatch` reassigns (a `nonlocal` where it runs)."""
    if pool.pool.strategy is model.Strategy.ROUND_ROBIN:
        return [state_name(StateKind.ROUND_ROBIN, pool.stream)]
    return []

"""Contexts (SEMANTICS §8, DECISION D11): what a multi-context generated module calls.

    ctx.serve(...) in each `run_<context>(ctx)`, and
    push, close = start_contexts((ContextSpec(...), ...), make_emitter, instrument, options)
    push, close, snapshot = launch_contexts(..., saved=None)   (snapshots, D36)

Each context runs on its own thread (`options.backend == "thread"`) or forked process
(`"process"`), pinned to its cores where possible. Bounded channels carry micro-batches
between contexts; a context merges what its producers send by cascade id, so that every
stream's output equals the single-threaded run's.

The package, by concern: `cascade` (the id space: input positions, barriers, pool
refinement, flushes), `merge` (what a context received and may process), `runtime`
(`ContextRuntime`, a context's side, and the `Transport` a backend gives it), `graph` (the
specs' graph), `ingress` (the producer of input items), `supervisor` (failures: the one
place that decides), `lines` (a context's buffered output), `pinning`, `stats`, and
`barriers` (snapshots of every context at one input position), `launch` (one pipeline's
orchestration over a `Backend`), and `backends/` (`threads`, `processes` and the `pipes`
between processes), each a `Backend`.
"""

from collections.abc import Mapping, Sequence

from vpl_runtime.contexts.backends.processes import ProcessBackend
from vpl_runtime.contexts.backends.threads import ThreadBackend
from vpl_runtime.contexts.barriers import Barriers, reached_contexts, saved_contexts
from vpl_runtime.contexts.barriers import Started as Started
from vpl_runtime.contexts.cascade import CASCADE_END as CASCADE_END
from vpl_runtime.contexts.cascade import FLUSH_BASE as FLUSH_BASE
from vpl_runtime.contexts.graph import Graph
from vpl_runtime.contexts.launch import Backend, launch
from vpl_runtime.contexts.pinning import usable_cores
from vpl_runtime.contexts.runtime import ContextRuntime as ContextRuntime
from vpl_runtime.contexts.runtime import ContextSpec as ContextSpec
from vpl_runtime.contexts.supervisor import ContextFailure as ContextFailure
from vpl_runtime.driver import CloseFn, EmitterFactory, Instrument, PushFn, RunOptions


def start_contexts(
    specs: Sequence[ContextSpec],
    make_emitter: EmitterFactory,
    instrument: Instrument | None,
    options: RunOptions,
) -> tuple[PushFn, CloseFn]:
    """Start every context; return the ingress `push(event_type, timestamp, fields)` and `close()`.

    `push` is called on the caller's thread in input order; `close` (end of input) drains
    everything, waits for every context and returns. Both raise `ContextFailure` once a
    context failed. The ingress flushes its partial batches from `options.hooks.idle`.
    """
    started = launch_contexts(specs, make_emitter, instrument, options)
    return started.push, started.close


def launch_contexts(
    specs: Sequence[ContextSpec],
    make_emitter: EmitterFactory,
    instrument: Instrument | None,
    options: RunOptions,
    saved: Mapping[str, object] | None = None,
) -> Started:
    """`start_contexts`, with the contexts' `snapshot()` (between pushes: the state of every
    context after the events pushed so far, D36) and, from `saved` (such a snapshot), every
    context started with its state and the input numbered on from its position."""
    if options.backend not in ("thread", "process"):
        raise ValueError(f"unknown backend {options.backend!r} (expected 'thread' or 'process')")
    if options.queue_capacity < 1 or options.batch_size < 1:
        raise ValueError("queue capacity and batch size must be at least 1")
    graph = Graph.build(specs)
    cores = [usable_cores(spec.name, spec.cores) for spec in specs]
    position, states = saved_contexts(saved)
    barriers = Barriers(reached_contexts(graph))
    backend: Backend
    if options.backend == "process":
        backend = ProcessBackend(graph, make_emitter, instrument, options, cores, barriers, states)
    else:
        backend = ThreadBackend(graph, make_emitter, instrument, options, cores, barriers, states)
    return launch(backend, graph, instrument, options, (position, states), barriers)

"""What micro-batching buys the contexts runtime (vpl_runtime.contexts), on a hand-written build.

    python benchmarks/bench_contexts_runtime.py [--events N] [--repeat K] [--backend B]

The pipeline is two contexts in the shape the code generator produces: `ingest` filters and
reshapes SensorReading events and sends them to `analytics`, which also receives Command
events straight from the input and emits an average every 100 readings. It prints events/s
of the same functions called directly on one thread (the single-context module), then of
the contexts runtime with batches of 1 and of 64 events; the best of K runs.
"""

import argparse
import time
from collections.abc import Callable, Sequence
from typing import Any

from vpl_runtime.contexts import ContextRuntime, ContextSpec, start_contexts
from vpl_runtime.driver import EmitFn, Fields, RunOptions, StreamFn

Event = tuple[str, int, Fields]


def _events(count: int) -> list[Event]:
    events: list[Event] = []
    for i in range(count):
        if i % 50 == 49:
            events.append(("Command", i, {"reset": i % 200 == 199}))
        else:
            events.append(("SensorReading", i, {"sensor": f"s{i % 8}", "value": float(i % 97)}))
    return events


def _null_emitter(stream: str) -> EmitFn:
    def emit(_stream: str, timestamp: int, fields: Fields) -> None:
        pass

    return emit


def _specs() -> tuple[ContextSpec, ...]:
    def run_ingest(ctx: ContextRuntime) -> None:
        send_analytics = ctx.sender("analytics")

        def stream_Filtered(ts: int, f: Fields) -> None:
            if not f["value"] > 10.0:
                return
            send_analytics("Filtered", ts, {"sensor": f["sensor"], "celsius": f["value"] / 2})

        ctx.serve({"SensorReading": stream_Filtered}, [])

    def run_analytics(ctx: ContextRuntime) -> None:
        emit_Analysis = ctx.emitter("Analysis")
        window: list[float] = []

        def stream_Analysis(ts: int, f: Fields) -> None:
            window.append(f["celsius"])
            if len(window) == 100:
                emit_Analysis("Analysis", ts, {"avg": sum(window) / len(window)})
                window.clear()

        def stream_Reset(ts: int, f: Fields) -> None:
            if f["reset"]:
                window.clear()

        def flush_Analysis() -> None:
            if window:
                emit_Analysis("Analysis", -1, {"avg": sum(window) / len(window)})

        routes = {"Filtered": stream_Analysis, "Command": stream_Reset}
        ctx.serve(routes, [(0, flush_Analysis)])

    return (
        ContextSpec("ingest", run_ingest, routes=("SensorReading",)),
        ContextSpec(
            "analytics", run_analytics, routes=("Command", "Filtered"), upstream=("ingest",)
        ),
    )


class _Direct:
    """The same run functions on one thread: senders call the target's routes directly."""

    def __init__(self, contexts: dict[str, "_Direct"]) -> None:
        self.contexts = contexts
        self.instrument = None
        self.routes: dict[str, StreamFn] = {}
        self.flushes: Sequence[tuple[int, Callable[[], None]]] = ()

    def sender(self, target: str) -> Callable[[str, int, Fields], None]:
        def send(route: str, timestamp: int, fields: Fields) -> None:
            self.contexts[target].routes[route](timestamp, fields)

        return send

    def emitter(self, stream: str) -> EmitFn:
        return _null_emitter(stream)

    def serve(
        self, routes: dict[str, StreamFn], flushes: Sequence[tuple[int, Callable[[], None]]]
    ) -> None:
        self.routes = routes
        self.flushes = flushes


def _run_direct(events: list[Event]) -> None:
    contexts: dict[str, _Direct] = {}
    specs = _specs()
    for spec in specs:
        contexts[spec.name] = ctx = _Direct(contexts)
        spec.run(ctx)  # type: ignore[arg-type]  # duck-typed stand-in
    targets = {route: contexts[s.name].routes for s in specs for route in s.routes}
    for event_type, timestamp, fields in events:
        routes = targets.get(event_type)
        if routes is not None and event_type in routes:
            routes[event_type](timestamp, fields)
    for ctx in contexts.values():
        for _, flush in ctx.flushes:
            flush()


def _run_contexts(events: list[Event], backend: str, batch_size: int) -> None:
    options = RunOptions(backend=backend, batch_size=batch_size)
    push, close = start_contexts(_specs(), _null_emitter, None, options)
    for event in events:
        push(*event)
    close()


def _bind(events: list[Event], backend: str, batch_size: int) -> Callable[[], None]:
    return lambda: _run_contexts(events, backend, batch_size)


def _best(repeat: int, run: Callable[[], Any]) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    """Print events/s of the direct run and of the contexts runtime per backend and batch size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backend", choices=("thread", "process", "both"), default="thread")
    args = parser.parse_args()
    events = _events(args.events)
    backends = ("thread", "process") if args.backend == "both" else (args.backend,)
    rows = [("direct (one thread)", _best(args.repeat, lambda: _run_direct(events)))]
    for backend in backends:
        for batch in (1, 64):
            seconds = _best(args.repeat, _bind(events, backend, batch))
            rows.append((f"{backend}, batch {batch}", seconds))
    width = max(len(name) for name, _ in rows)
    print(f"{args.events} events, best of {args.repeat}")
    for name, seconds in rows:
        print(f"{name.ljust(width)}  {args.events / seconds:>10,.0f} events/s  {seconds:.3f} s")


if __name__ == "__main__":
    main()

"""vpl_runtime.delivery.DeliveryQueue: breadth-first delivery (SEMANTICS §5.1) in isolation;
the golden pipeline_orders_multistage drives it end to end."""

from __future__ import annotations

from typing import Any

from vpl_runtime.delivery import DeliveryQueue


def test_deliveries_queued_while_draining_run_after_the_earlier_ones() -> None:
    queue = DeliveryQueue()
    seen: list[str] = []

    def leaf(name: str) -> Any:
        return lambda ts, f: seen.append(f"{name}@{ts}")

    def fan_out(ts: int, f: dict[str, Any]) -> None:
        seen.append(f"root@{ts}")
        queue.enqueue((leaf("deep"), ts + 1, f))

    queue.enqueue((fan_out, 1, {}))
    queue.enqueue((leaf("sibling"), 1, {}))
    queue.drain()
    assert seen == ["root@1", "sibling@1", "deep@2"]  # breadth-first, not depth-first


def test_clear_forgets_queued_deliveries() -> None:
    queue = DeliveryQueue()
    seen: list[int] = []
    queue.enqueue((lambda ts, f: seen.append(ts), 5, {}))
    queue.clear()
    queue.drain()
    assert seen == []

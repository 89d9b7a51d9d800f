"""Recovery pause after a broker node loss, through event-contracts (publisher + consumer).

Publishes ``Order.submit`` at a steady rate through a failover URL list, consumes it with
billing's real worker (ShopConsumer, in-process), kills the RabbitMQ node the worker is
connected to (and that leads ``billing.order``, when it is the same), starts it again, and
prints: events published / handled / lost / duplicated, and the longest gap in handling (the
recovery pause). Run against a compose stack:

    python bench/failover.py --project shop --amqp-ports 5672,5673,5674 --mgmt-port 15672
"""

from __future__ import annotations

import argparse
import json
import subprocess
import threading
import time
import urllib.request
from base64 import b64encode
from collections import Counter
from decimal import Decimal
from typing import Any

from celery.contrib.testing.worker import start_worker

from event_contracts import Money, Order, OrderLine, Publisher, PublishFailed, Quantity, create_app


def management(port: int, path: str, auth: str) -> Any:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/{path}")
    request.add_header("Authorization", "Basic " + b64encode(auth.encode()).decode())
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def longest_gap(times: list[float]) -> tuple[float, float]:
    """The longest time between consecutive instants, and when it began."""
    gaps = [(b - a, a) for a, b in zip(times, times[1:], strict=False)]
    return max(gaps) if gaps else (0.0, 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--project", default="shop")
    parser.add_argument("--amqp-ports", default="5672,5673,5674")
    parser.add_argument("--mgmt-port", type=int, default=15672)
    parser.add_argument("--admin", default="admin:admin-dev")
    parser.add_argument("--rate", type=float, default=50.0, help="events per second")
    parser.add_argument("--down", type=float, default=20.0, help="seconds the node stays down")
    parser.add_argument("--victim", help="node to kill (default: the leader of billing.order)")
    args = parser.parse_args()
    ports = [int(p) for p in args.amqp_ports.split(",")]

    def urls(user: str, password: str) -> list[str]:
        return [f"amqp://{user}:{password}@127.0.0.1:{port}/shop" for port in ports]

    handled: list[tuple[str, float]] = []
    lock = threading.Lock()

    def on_submit(order: Order) -> None:
        with lock:
            handled.append((str(order.event_id), time.monotonic()))

    Order.submit.register_callback(on_submit)
    consumer = create_app("billing", broker_urls=urls("billing-service", "billing-service-dev"),
                          worker_hijack_root_logger=False)
    publisher = Publisher(create_app("order", broker_urls=urls("order-service", "order-service-dev")))
    published: dict[str, float] = {}
    failures = 0
    stop = threading.Event()

    def publish_steadily() -> None:
        nonlocal failures
        n = 0
        while not stop.is_set():
            n += 1
            order = Order.create(id=n, customer_id="bench", currency="EUR",
                                 lines=(OrderLine(id=1, quantity=Quantity(1), unit_price=Money(Decimal("1.00"))),))
            try:
                order.submit(publisher=publisher)
                published[str(order.event_id)] = time.monotonic()
            except PublishFailed as exc:
                failures += 1
                print(f"publish failed: {exc}")
            time.sleep(1 / args.rate)  # pacing the offered load, not synchronisation

    with start_worker(consumer, pool="solo", perform_ping_check=False, shutdown_timeout=30,
                      hostname="billing-service@failover-bench"):
        producer = threading.Thread(target=publish_steadily, daemon=True)
        producer.start()
        time.sleep(5)
        queue = management(args.mgmt_port, "queues/shop/billing.order", args.admin)
        leader = str(queue.get("leader") or queue.get("node")).split("@")[1]
        victim = f"{args.project}-{args.victim or leader}-1"
        print(f"killing {victim} (billing.order's leader: {leader}; clients use the first URL)")
        killed_at = time.monotonic()
        subprocess.run(["docker", "kill", victim], check=True, capture_output=True)
        time.sleep(args.down)
        subprocess.run(["docker", "start", victim], check=True, capture_output=True)
        started_at = time.monotonic()
        time.sleep(15)
        stop.set()
        producer.join()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len({e for e, _ in handled}) < len(published):
            time.sleep(0.2)
    Order.submit.unregister_callback(on_submit)

    counts = Counter(e for e, _ in handled)
    times = sorted(t for _, t in handled)
    worst, worst_at = longest_gap(times)
    publish_pause, _ = longest_gap(sorted(published.values()))
    result = {
        "published": len(published), "publish_failures": failures,
        "handled": len(counts), "lost": len(set(published) - set(counts)),
        "duplicated": sum(1 for c in counts.values() if c > 1),
        "longest_pause_s": round(worst, 2),
        "pause_started_after_kill_s": round(worst_at - killed_at, 2),
        "longest_publish_pause_s": round(publish_pause, 2),
        "node_down_s": round(started_at - killed_at, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

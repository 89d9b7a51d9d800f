"""Raw kombu: confirmed persistent publishes to one quorum queue, one plain kombu consumer.

The broker ceiling of this host for a client that waits for each publish's confirm: no Celery,
no contracts. Publisher threads each own a connection with ``confirm_publish``; the consumer
(a subprocess) acks each message after recording it.
"""

from __future__ import annotations

import threading
from typing import Any

from kombu import Connection

from bench.broker import BenchVhost, declare_quorum_queue
from bench.harness import consumers, warm_then_measure
from bench.payload import raw_payload

QUEUE = "bench.kombu"


def run(
    vhost: BenchVhost, *, seconds: float, publishers: int, warmup: float, drain: float, repeat: int = 1
) -> dict[str, Any]:
    url = vhost.url()
    declare_quorum_queue(url, QUEUE)
    local = threading.local()
    connections: list[Connection] = []
    lock = threading.Lock()

    def publish() -> str:
        producer = getattr(local, "producer", None)
        if producer is None:
            conn = Connection(url, transport_options={"confirm_publish": True})
            with lock:
                connections.append(conn)
            producer = local.producer = conn.Producer(serializer="json")
        key, body = raw_payload()
        producer.publish(body, exchange="", routing_key=QUEUE, delivery_mode=2)
        return key

    try:
        with consumers() as group:
            group.start("kombu", ["kombu", QUEUE, "--url", url])
            return warm_then_measure(
                "raw kombu",
                group,
                publish,
                seconds=seconds,
                publishers=publishers,
                warmup=warmup,
                drain=drain,
                repeat=repeat,
            )
    finally:
        for conn in connections:
            conn.release()

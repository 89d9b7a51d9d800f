"""A billing worker whose handler takes a while, run as its own process by test_soft_shutdown.py.

Env: BROKER_URLS, RECORD_DIR (the handler writes ``<order id>.started`` and ``.done`` there),
TASK_SECONDS (how long the handler works), and what the worker reads itself (WORKER_POOL,
WORKER_CONCURRENCY, WORKER_SOFT_SHUTDOWN_TIMEOUT, REMAP_SIGTERM).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from event_contracts import Delivery, Order, create_app
from event_contracts.runtime import run_worker

RECORDS = Path(os.environ["RECORD_DIR"])
TASK_SECONDS = float(os.environ["TASK_SECONDS"])


def post_slowly(order: Order, delivery: Delivery) -> None:
    (RECORDS / f"{order.id}.started").touch()
    time.sleep(TASK_SECONDS)
    (RECORDS / f"{order.id}.done").touch()


if __name__ == "__main__":
    Order.submit.register_callback(post_slowly)
    run_worker(create_app("billing", worker_hijack_root_logger=False))

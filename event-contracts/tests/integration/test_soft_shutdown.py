"""A worker stopped the way Kubernetes stops a scaled-down pod (SIGTERM, with REMAP_SIGTERM=SIGQUIT
as the Deployments set it) finishes the task it is running within the soft shutdown, and every
message it had not finished goes back to the queue: nothing lost, nothing done twice. On both
worker pools: prefork, and the platform's threads pool (``event_contracts.runtime.pool``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from event_contracts.testing import TestVhost, publish_seed_v1, queue_depth, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("pool", ["prefork", "threads"])]
WORKER = Path(__file__).with_name("slow_billing_worker.py")


def _start(
    vhost: TestVhost, records: Path, *, pool: str, task_seconds: float, soft_timeout: float
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "BROKER_URLS": vhost.url("billing-service"),
        "RECORD_DIR": str(records),
        "TASK_SECONDS": str(task_seconds),
        "WORKER_POOL": pool,
        "WORKER_CONCURRENCY": "1",
        "WORKER_SOFT_SHUTDOWN_TIMEOUT": str(soft_timeout),
        "REMAP_SIGTERM": "SIGQUIT",
        "WORKER_HEARTBEAT_FILE": str(records / "heartbeat"),
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen([sys.executable, str(WORKER)], env=env, start_new_session=True)


@pytest.fixture
def stop_worker() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def _scale_down(
    vhost: TestVhost,
    tmp_path: Path,
    started: list[subprocess.Popen[bytes]],
    *,
    pool: str,
    task_seconds: float,
    soft: float,
) -> tuple[set[str], float]:
    """3 orders in billing.order, the worker running the first and holding the others; SIGTERM.

    Returns the orders whose handler finished and how long the worker took to exit.
    """
    worker = _start(vhost, tmp_path, pool=pool, task_seconds=task_seconds, soft_timeout=soft)
    started.append(worker)
    admin = vhost.url()
    for order_id in (1, 2, 3):
        publish_seed_v1(admin, order_id)
    wait_until((tmp_path / "1.started").exists, timeout=30, what="the handler of order 1 to start")
    sent = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=soft + 30)
    took = time.monotonic() - sent
    return {p.stem for p in tmp_path.glob("*.done")}, took


def test_a_task_shorter_than_the_soft_timeout_finishes_and_the_rest_go_back(
    vhost: TestVhost, tmp_path: Path, stop_worker: list[subprocess.Popen[bytes]], pool: str
) -> None:
    done, took = _scale_down(vhost, tmp_path, stop_worker, pool=pool, task_seconds=2, soft=6)
    assert done == {"1"}, f"finished: {sorted(done)}"
    assert took < 6 + 10
    # Order 1 was acknowledged once (not redelivered), orders 2 and 3 are back, ready.
    wait_until(
        lambda: queue_depth(vhost.url(), "billing.order") == 2,
        timeout=10,
        what=f"2 messages back in billing.order (now {queue_depth(vhost.url(), 'billing.order')})",
    )
    assert {p.stem for p in tmp_path.glob("*.started")} == {"1"}


def test_a_task_longer_than_the_soft_timeout_is_cancelled_and_its_message_returns(
    vhost: TestVhost, tmp_path: Path, stop_worker: list[subprocess.Popen[bytes]], pool: str
) -> None:
    done, took = _scale_down(vhost, tmp_path, stop_worker, pool=pool, task_seconds=60, soft=2)
    assert done == set()
    assert took < 2 + 15, f"the worker took {took:.1f} s to stop"
    wait_until(
        lambda: queue_depth(vhost.url(), "billing.order") == 3,
        timeout=10,
        what=f"all 3 messages back in billing.order (now {queue_depth(vhost.url(), 'billing.order')})",
    )

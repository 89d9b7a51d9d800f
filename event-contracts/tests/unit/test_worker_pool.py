"""``WORKER_POOL=threads`` selects the platform's bounded threads pool, which runs tasks in its
threads, frees a slot per finished task, and abandons what it holds on a cold shutdown (the live
shutdown behaviour: tests/integration/test_soft_shutdown.py)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from celery import concurrency

from event_contracts import create_app
from event_contracts.runtime import use_pool, worker_argv
from event_contracts.runtime.pool import BoundedThreadPool

pytestmark = pytest.mark.unit


class CountingSemaphore:
    def __init__(self) -> None:
        self.released = 0

    def release(self) -> None:
        self.released += 1


def _pool_argument(argv: list[str]) -> str:
    return argv[argv.index("--pool") + 1]


def test_threads_means_the_platforms_pool_behind_celerys_default_pool_argument() -> None:
    app = create_app("billing", broker_urls=["amqp://localhost//"])
    use_pool(app, "threads")

    assert concurrency.get_implementation(app.conf.worker_pool) is BoundedThreadPool
    assert _pool_argument(worker_argv("billing", pool="threads")) == "prefork"


def test_a_celery_pool_name_is_passed_on_and_leaves_the_app_alone() -> None:
    app = create_app("billing", broker_urls=["amqp://localhost//"])
    use_pool(app, "solo")

    assert app.conf.worker_pool == "prefork"
    assert _pool_argument(worker_argv("billing", pool="solo")) == "solo"


def _started(limit: int, semaphore: CountingSemaphore) -> BoundedThreadPool:
    pool = BoundedThreadPool(limit=limit, semaphore=semaphore)
    pool.start()
    return pool


def test_every_task_runs_once_and_frees_its_slot() -> None:
    semaphore = CountingSemaphore()
    pool = _started(2, semaphore)
    ran: list[int] = []
    finished = threading.Semaphore(0)

    def task(number: int) -> int:
        ran.append(number)
        return number

    for number in range(5):
        pool.apply_async(task, args=(number,), callback=lambda _: finished.release())
    for _ in range(5):
        assert finished.acquire(timeout=5)
    pool.stop()

    assert sorted(ran) == [0, 1, 2, 3, 4]
    assert semaphore.released == 5


def test_a_cold_shutdown_runs_nothing_it_holds_and_waits_for_no_running_task() -> None:
    semaphore = CountingSemaphore()
    pool = _started(1, semaphore)
    running, let_go = threading.Event(), threading.Event()
    ran: list[str] = []

    def first() -> None:
        running.set()
        let_go.wait(5)
        ran.append("first")

    def held() -> None:
        ran.append("held")

    pool.apply_async(first, callback=lambda _: None)
    pool.apply_async(held, callback=lambda _: None)
    assert running.wait(5)
    stopping = threading.Thread(target=pool.terminate)
    stopping.start()
    stopping.join(timeout=2)

    assert not stopping.is_alive(), "the cold shutdown waited for the running task"
    let_go.set()
    threads: Any = pool._threads
    for thread in threads:
        thread.join(timeout=5)
    assert ran == ["first"]

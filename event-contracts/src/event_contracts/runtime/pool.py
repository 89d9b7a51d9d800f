"""``WORKER_POOL=threads``: a threads pool that keeps prefork's promises at shutdown.

Tasks run in threads of the worker's own process: no pipe to a pool process and back per task,
one process per worker instead of ``1 + concurrency``. For handlers that mostly wait on the
database and the broker that is cheaper (docs/performance.md, "The worker pool").

Celery's own threads pool (``celery.concurrency.thread``) is not used, for what it does at
shutdown: it hands every reserved task (the whole prefetch) to its executor at once, so a cold
shutdown runs the held tasks instead of returning them to the queue, and it joins its threads
when the process exits, so a task longer than ``WORKER_SOFT_SHUTDOWN_TIMEOUT`` keeps the worker
alive past it. This pool, like prefork:

* takes a task only when a thread is free: the worker's pool semaphore (``uses_semaphore``)
  holds the rest, and is released on the event loop's thread (``Hub.call_soon``, thread-safe);
  so while the soft shutdown waits (the event loop does not turn), only the running tasks go
  on, and every held message goes back unacknowledged;
* leaves running tasks behind on a cold shutdown: its threads are daemons, so the process exits
  when Celery's shutdown ends; their messages were never acknowledged and are redelivered,
  their transactions roll back with the closed connections;
* lets a warm shutdown (``SIGTERM`` without ``REMAP_SIGTERM``) finish the running tasks.

A thread cannot be stopped, so cancelling a running task (``terminate_job``) does nothing; the
cold shutdown's exit is what ends it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from celery.concurrency.base import BasePool, apply_target
from celery.worker import state

Job = tuple[Callable[..., Any], Any, Any, Any, Any]


class _Applied:
    """What ``apply_async`` answers: Celery may ask it to terminate or wait; neither applies."""

    def terminate(self, signal: Any = None) -> None:
        """A running thread cannot be stopped."""

    def wait(self, timeout: float | None = None) -> None:
        """Nothing waits on a single task."""


class BoundedThreadPool(BasePool):  # type: ignore[misc]
    """``concurrency`` daemon threads, each fed a task only when it is free."""

    uses_semaphore = True
    body_can_be_buffer = True
    signal_safe = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._semaphore: Any = kwargs.get("semaphore")
        self._hub: Any = None
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._abandoned = False

    def on_start(self) -> None:
        for number in range(self.limit):
            thread = threading.Thread(target=self._work, name=f"task-thread-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def register_with_event_loop(self, loop: Any) -> None:
        self._hub = loop

    def on_apply(
        self,
        target: Callable[..., Any],
        args: Any = None,
        kwargs: Any = None,
        callback: Any = None,
        accept_callback: Any = None,
        **_: Any,
    ) -> _Applied:
        self._jobs.put((target, args, kwargs, callback, accept_callback))
        return _Applied()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            if self._abandoned:
                continue  # a cold shutdown began: the message goes back unacknowledged
            try:
                apply_target(*job)
            finally:
                self._free_a_thread()

    def _free_a_thread(self) -> None:
        if self._semaphore is None:
            return
        if self._hub is not None:
            self._hub.call_soon(self._semaphore.release)  # the semaphore is the loop's alone
        else:
            self._semaphore.release()

    def terminate_job(self, pid: Any, signal: Any = None) -> None:
        """Cancelling a running task: a thread cannot be stopped (see the module)."""

    def on_stop(self) -> None:
        """Warm shutdown: the running tasks finish. Celery's cold shutdown also stops the pool
        this way, after setting ``should_terminate``: then nothing waits."""
        if state.should_terminate:
            self.on_terminate()
            return
        self._stop_threads()
        for thread in self._threads:
            thread.join()

    def on_terminate(self) -> None:
        self._abandoned = True
        self._stop_threads()

    def _stop_threads(self) -> None:
        for _ in self._threads:
            self._jobs.put(None)

    def _get_info(self) -> dict[str, Any]:
        info: dict[str, Any] = super()._get_info()
        return {**info, "max-concurrency": self.limit, "threads": len(self._threads)}

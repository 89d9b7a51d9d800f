"""The beat scheduler, with the same liveness file as the worker.

Beat wakes at least every ``beat_max_loop_interval`` (10 s) and touches
``$WORKER_HEARTBEAT_FILE`` on each tick, so the image's one ``HEALTHCHECK`` (the file's age
below 45 s) fits both commands.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from celery.beat import PersistentScheduler


class HeartbeatScheduler(PersistentScheduler):  # type: ignore[misc]
    def tick(self, *args: Any, **kwargs: Any) -> float:
        Path(os.environ.get("WORKER_HEARTBEAT_FILE", "/tmp/worker-heartbeat")).touch()
        interval: float = super().tick(*args, **kwargs)
        return interval

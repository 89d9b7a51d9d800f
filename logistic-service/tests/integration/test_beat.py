"""``logistic-service-beat`` on a real broker: it sends the one periodic job, as
logistic-service, to logistic.internal, and keeps the health-check file fresh."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from event_contracts.testing import TestVhost, drain, queue_depth, wait_until

from logistic_service.adapters.pipeline import RESUME_STUCK_SHIPMENTS

pytestmark = pytest.mark.integration


def beat_output(beat: subprocess.Popen[str]) -> str:
    if beat.poll() is None:
        beat.terminate()
    return beat.communicate(timeout=20)[0]


def test_beat_sends_the_resume_job_to_the_internal_queue(
    vhost: TestVhost, database_url: str, tmp_path: Path
) -> None:
    heartbeat = tmp_path / "heartbeat"
    beat = subprocess.Popen(
        [sys.executable, "-c", "from logistic_service.entrypoints.worker import beat; beat()"],
        env={
            **os.environ,
            "BROKER_URLS": vhost.url("logistic-service"),
            "DATABASE_URL": database_url,
            "RESUME_EVERY_SECONDS": "0.5",
            "WORKER_HEARTBEAT_FILE": str(heartbeat),
            "BEAT_SCHEDULE_FILE": str(tmp_path / "schedule"),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(
            lambda: queue_depth(vhost.url(), "logistic.internal") >= 2 or beat.poll() is not None,
            timeout=20,
            what="beat to send the resume job twice",
        )
    except TimeoutError as exc:
        raise AssertionError(f"{exc}; beat said:\n{beat_output(beat)}") from exc
    output = beat_output(beat)

    assert beat.returncode in (0, -15), output
    messages = drain(vhost.url(), "logistic.internal", expect=2)
    assert {m.headers["task"] for m in messages} == {RESUME_STUCK_SHIPMENTS}, output
    sent = [datetime.fromisoformat(m.decode()[1]["sent_at"]) for m in messages]
    assert all(abs(datetime.now(UTC) - at) < timedelta(minutes=1) for at in sent), sent
    assert queue_depth(vhost.url(), "logistic.internal.dlq") == 0
    assert heartbeat.exists(), output  # the image's one health check also fits beat

"""``order-service-relay``: migrate, then publish the outbox until SIGTERM (exactly one runs)."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from types import FrameType

from event_contracts.service_defaults import metrics, tracing

from order_service import bootstrap
from order_service.entrypoints.outbox_metrics import OutboxSampler

log = logging.getLogger(__name__)


def main() -> None:
    bootstrap.configure_logging("relay")
    metrics.prepare()
    tracing.configure_tracing("order-service", "relay")
    services = bootstrap.bootstrap()
    heartbeat = Path(os.environ.get("RELAY_HEARTBEAT_FILE", "/tmp/relay-heartbeat"))
    relay = bootstrap.build_relay(services, heartbeat_file=heartbeat)
    sampler = OutboxSampler(services.outbox_store(), every=services.settings.outbox_metrics_every)
    sampler.start()
    metrics.serve()

    def on_signal(signum: int, _: FrameType | None) -> None:
        log.info("received %s: finishing the current batch", signal.Signals(signum).name)
        relay.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        relay.run()
    finally:
        sampler.stop()
        tracing.shutdown_tracing()


if __name__ == "__main__":
    main()

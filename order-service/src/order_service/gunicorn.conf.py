# ruff: noqa: N999
"""gunicorn settings for the edge (``order-service`` passes ``--config`` with this file).

gthread workers: each worker process serves ``GUNICORN_THREADS`` requests at once; requests
spend their time in the database or waiting for billing (invoice), which threads overlap well.

Service defaults (event_contracts.service_defaults): the platform's log format for gunicorn's
own lines too (``logconfig_dict``), and ``/metrics`` served by the master on ``METRICS_PORT``,
a port of its own (never the public one), adding up every worker's values
(``PROMETHEUS_MULTIPROC_DIR``; a worker that exits is marked dead).
"""

import os

from event_contracts.service_defaults import logging as service_logging
from event_contracts.service_defaults import metrics, tracing

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("GUNICORN_WORKERS") or os.environ.get("WEB_CONCURRENCY") or 2)
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
backlog = 2048
# Recycle workers now and then (a leak cannot grow forever); jitter so they do not all restart
# at once.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "20000"))
max_requests_jitter = max_requests // 10
logconfig_dict = service_logging.dict_config("order-service", "edge")
accesslog = "-" if os.environ.get("ACCESS_LOG", "1") not in ("0", "false", "") else None
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def on_starting(server: object) -> None:
    metrics.prepare()


def when_ready(server: object) -> None:
    metrics.serve()


def post_fork(server: object, worker: object) -> None:
    """Tracing starts in each worker after the fork (the span exporter runs a thread)."""
    tracing.configure_tracing("order-service", "edge")


def worker_exit(server: object, worker: object) -> None:
    """A recycled or stopped worker exports the spans it still holds."""
    tracing.shutdown_tracing()


def child_exit(server: object, worker: object) -> None:
    metrics.mark_process_dead(getattr(worker, "pid", None))

"""The Celery app factory: every service gets the same, safe broker settings from one place.

The app owns what the service does with what it receives: its
:class:`~event_contracts.subscriptions.Subscriptions` (``subscriptions_of(app)``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

from celery import Celery
from kombu.entity import Exchange, Queue

from event_contracts.event import use_publisher
from event_contracts.runtime import conf
from event_contracts.runtime.consumer import register_service_tasks
from event_contracts.runtime.publisher import Publisher
from event_contracts.subscriptions import Subscriptions
from event_contracts.topology import TOPOLOGY, Topology

DEFAULT_BROKER_URL = "amqp://guest:guest@localhost:5672/shop"


def broker_urls_from_env(default: str = DEFAULT_BROKER_URL) -> list[str]:
    """``BROKER_URLS``: one URL per cluster node, separated by ``;`` (or ``,``)."""
    raw = os.environ.get("BROKER_URLS") or os.environ.get("BROKER_URL") or default
    return [url.strip() for url in raw.replace(",", ";").split(";") if url.strip()]


def consumer_queues(service: str, topology: Topology = TOPOLOGY) -> list[Queue]:
    """The service's queues, exactly as the topology defines them, never declared by Celery.

    ``no_declare``: rabbitmq-init declares every queue, binding and policy from the generated
    definitions, so a worker can neither create a stray queue nor clash with one
    (PRECONDITION_FAILED). ``x-queue-type`` is only here so Celery knows they are quorum queues
    and leaves global QoS off.
    """
    return [
        Queue(
            name,
            Exchange(name, type="direct", no_declare=True),
            routing_key=name,
            no_declare=True,
            queue_arguments={"x-queue-type": "quorum"},
        )
        for name in topology.worker_queues(service)
    ]


def connection_name(user: str) -> str:
    """What the broker shows for a service's connections: who, on which contracts release."""
    return f"{user} (event-contracts {version('event-contracts')})"


def create_app(
    service: str,
    *,
    broker_urls: Sequence[str] | None = None,
    topology: Topology = TOPOLOGY,
    subscriptions: Subscriptions | None = None,
    **settings: Any,
) -> Celery:
    """A Celery app for ``service``: publishes its events and, as a worker, consumes its queues.

    The app's worker runs, for each event it receives, the callbacks registered on the event
    (``@Order.submit.register_callback``, shared by every app) and then those of its own
    ``subscriptions`` (a new, empty registry unless one is given; ``subscriptions_of(app)``).

    What it sets, and why:

    * JSON only, both ways (never pickle); no result backend (events have no results);
    * ``acks_late`` + ``reject_on_worker_lost``: a message is acked after its handler ran, and
      a crashed worker's message is redelivered (the quorum queue's delivery limit stops loops);
    * one task event per handling for Flower, its outcome carrying the receipt's fields
      (``TASK_EVENTS=all`` for Celery's three; :mod:`event_contracts.runtime.task_events`);
    * publisher confirms on every publish but the task events for Flower (see
      :meth:`~event_contracts.runtime.consumer.ShopConsumer.connection_for_write`); failover
      across all cluster nodes;
    * the stock ``DelayedDelivery`` step is left out (retries use per-queue retry queues, see
      :mod:`event_contracts.runtime.consumer`): it declared 28 extra queues and made start-up
      and recovery after a node loss ~18 s instead of ~1 s;
    * task ids made per service (Flower shows each consumer's handling as its own task);
    * a bounded soft shutdown (Celery 5.5+): on a cold shutdown (``SIGQUIT``, or ``SIGTERM`` with
      ``REMAP_SIGTERM=SIGQUIT`` as on Kubernetes) running tasks get ``WORKER_SOFT_SHUTDOWN_TIMEOUT``
      seconds (default 15) to finish, then the worker cancels them and their messages, like every
      prefetched one, go back to the queue unacknowledged. An idle worker exits at once (no
      ETA tasks here, so nothing is held that needs the wait). ``SIGTERM`` alone stays Celery's
      unbounded warm shutdown;
    * its broker connections are named ``<service user> (event-contracts <version>)`` (AMQP
      ``connection_name``): RabbitMQ's management UI and ``rabbitmqctl list_connections`` show
      which contracts release each service runs, since each pins its own;
    * a queue may get a prefetch count of its own (``shop_queue_prefetch``, see
      :mod:`event_contracts.runtime.prefetch`): a worker then takes work from its other queues first.
    """
    urls = list(broker_urls) if broker_urls else broker_urls_from_env()
    svc = topology.service(service)
    # task_cls is a constructor argument: as a setting Celery ignores it.
    app = Celery(
        f"{svc.user}",
        set_as_current=False,
        task_cls="event_contracts.runtime.consumer:ServiceTask",
        amqp="event_contracts.runtime.prefetch:ShopAMQP",
        events="event_contracts.runtime.task_events:ShopEvents",
    )
    app.conf.update(
        broker_url=";".join(urls),
        broker_failover_strategy="round-robin",
        broker_transport_options={
            "confirm_publish": True,
            "client_properties": {"connection_name": connection_name(svc.user)},
        },
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=4.0,
        broker_heartbeat=10,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        event_serializer="json",
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_prefetch_multiplier=4,
        worker_detect_quorum_queues=True,
        worker_soft_shutdown_timeout=float(os.environ.get("WORKER_SOFT_SHUTDOWN_TIMEOUT", "15")),
        worker_enable_soft_shutdown_on_idle=False,
        worker_send_task_events=True,
        task_send_sent_event=False,
        worker_consumer="event_contracts.runtime.consumer:ShopConsumer",
        task_queues=consumer_queues(service, topology),
        task_default_queue=(topology.worker_queues(service) or (svc.internal,))[0],
        task_default_exchange=svc.internal,
        task_default_routing_key=svc.internal,
        # The service's own tasks (canvas steps, beat jobs), named <service>.internal.<name>,
        # go to its internal queue through its own direct exchange (never the default one,
        # which its broker user may not write to).
        task_routes={
            f"{svc.internal}.*": {
                "queue": svc.internal,
                "exchange": svc.internal,
                "routing_key": svc.internal,
            }
        }
        if svc.internal_queue
        else {},
        task_create_missing_queues=False,
    )
    app.conf.update(
        {
            conf.SERVICE: service,
            conf.TOPOLOGY: topology,
            conf.SUBSCRIPTIONS: subscriptions if subscriptions is not None else Subscriptions(),
        }
    )
    app.conf.update(settings)
    register_service_tasks(app)
    return app


def connect(service: str, broker_urls: list[str] | None = None) -> Publisher:
    """A publisher for ``service`` (broker URLs from ``BROKER_URLS`` by default), made the default
    for ``order.submit()`` without ``publisher=``: sugar for scripts, not for services."""
    publisher = Publisher(create_app(service, broker_urls=broker_urls))
    use_publisher(publisher)
    return publisher

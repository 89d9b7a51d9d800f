"""The warehouse pipeline of a shipment: a Celery chain of the service's own tasks.

``start`` publishes ``chain(pick.si(id), pack.si(id), dispatch.si(id))`` to the internal queue::

    [logistic.internal] ──▶ logistic.internal ──▶ pick ──▶ pack ──▶ dispatch
     direct exchange         quorum queue        each next step is published by the worker
                                                 once the previous one has succeeded

Immutable signatures with keyword arguments only: a step ignores the previous step's result,
and a private retry (which republishes the kwargs and the rest of the chain) keeps everything.
"""

from __future__ import annotations

from celery import Celery, chain
from event_contracts import TOPOLOGY

from logistic_service.service_layer.ports import AbstractPipeline

INTERNAL_QUEUE = TOPOLOGY.service("logistic").internal
PICK = f"{INTERNAL_QUEUE}.pick"
PACK = f"{INTERNAL_QUEUE}.pack"
DISPATCH = f"{INTERNAL_QUEUE}.dispatch"
RESUME_STUCK_SHIPMENTS = f"{INTERNAL_QUEUE}.resume_stuck_shipments"
STEPS = (PICK, PACK, DISPATCH)


class CeleryPipeline(AbstractPipeline):
    def __init__(self, app: Celery) -> None:
        self.app = app

    def start(self, shipment_id: str, correlation_id: str | None = None) -> None:
        kwargs = {"shipment_id": shipment_id, "correlation_id": correlation_id}
        chain(
            *(self.app.signature(step, kwargs=kwargs, immutable=True) for step in STEPS)
        ).apply_async()

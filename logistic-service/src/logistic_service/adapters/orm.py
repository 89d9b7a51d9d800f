"""Tables and the imperative mapping of the domain's :class:`Shipment` onto them.

The domain classes stay plain Python (cosmicpython's imperative mapping); this module is the only
place that knows their columns. Timestamps are stored and read back in UTC, on SQLite too.
"""

from __future__ import annotations

from typing import Any

from event_contracts.contrib.sqlalchemy import UtcDateTime, inbox_tables
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Dialect,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    TypeDecorator,
    Uuid,
)
from sqlalchemy.orm import registry

from logistic_service.domain.model import Shipment, ShipmentStatus


class StatusText(TypeDecorator[ShipmentStatus]):
    """A :class:`ShipmentStatus` in a ``text`` column (readable by anyone who queries it)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else ShipmentStatus(value).value

    def process_result_value(self, value: Any, dialect: Dialect) -> ShipmentStatus | None:
        return None if value is None else ShipmentStatus(value)


metadata = MetaData()

_statuses = ", ".join(f"'{status.value}'" for status in ShipmentStatus)

shipments = Table(
    "shipments",
    metadata,
    Column("shipment_id", Text, primary_key=True),
    Column("order_id", BigInteger, nullable=False, unique=True),
    Column("status", StatusText, nullable=False),
    Column("submit_event_id", Uuid, nullable=False),
    Column("chargeback_event_id", Uuid, nullable=True),
    Column("dispatched_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("version", Integer, nullable=False),
    CheckConstraint(f"status IN ({_statuses})", name="ck_shipments_status"),
    Index("ix_shipments_status_updated_at", "status", "updated_at"),
)
"""``version`` is the optimistic lock: an update of a row changed meanwhile fails (and retries)."""

inbox = inbox_tables(metadata)
"""``processed_events`` and ``inbox_admissions``: see ``event_contracts.contrib.sqlalchemy``."""

mapper_registry = registry(metadata=metadata)


def start_mappers() -> None:
    """Map :class:`Shipment` onto ``shipments`` (once per process)."""
    if getattr(Shipment, "__mapper__", None) is not None:
        return
    mapper_registry.map_imperatively(Shipment, shipments, version_id_col=shipments.c.version)

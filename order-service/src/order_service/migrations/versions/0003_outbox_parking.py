"""outbox: order_id, next_attempt_at, parked_at (a row the broker refuses holds only its order)

Revision ID: 0003_outbox_parking
Revises: 0002_inbox
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from order_service.adapters.orm import Timestamp

revision: str = "0003_outbox_parking"
down_revision: str | None = "0002_inbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNPUBLISHED = "published_at IS NULL"
WAITING = "published_at IS NULL AND parked_at IS NULL"
PARKED = "parked_at IS NOT NULL"


def upgrade() -> None:
    op.add_column("outbox", sa.Column("order_id", sa.BigInteger, nullable=True))
    op.add_column("outbox", sa.Column("next_attempt_at", Timestamp, nullable=True))
    op.add_column("outbox", sa.Column("parked_at", Timestamp, nullable=True))
    # Rows still waiting learn their order from the payload (published ones never need it).
    outbox = sa.table(
        "outbox",
        sa.column("order_id", sa.BigInteger),
        sa.column("payload", sa.JSON),
        sa.column("published_at", Timestamp),
    )
    op.execute(
        sa.update(outbox)
        .where(outbox.c.published_at.is_(None))
        .values(order_id=outbox.c.payload["id"].as_integer())
    )
    # The claim walks rows that may be published now; parked rows drop out of its index.
    op.drop_index("ix_outbox_unpublished", "outbox")
    _partial_index("ix_outbox_unpublished", ["id"], WAITING)
    # "Is an earlier event of this order still unpublished?", asked for every claimed row.
    _partial_index("ix_outbox_unpublished_order_id", ["order_id", "id"], UNPUBLISHED)
    # GET /orders/{id} and /readyz: the (normally empty) set of parked rows.
    _partial_index("ix_outbox_parked_order_id", ["order_id"], PARKED)


def downgrade() -> None:
    op.drop_index("ix_outbox_parked_order_id", "outbox")
    op.drop_index("ix_outbox_unpublished_order_id", "outbox")
    op.drop_index("ix_outbox_unpublished", "outbox")
    _partial_index("ix_outbox_unpublished", ["id"], UNPUBLISHED)
    for column in ("parked_at", "next_attempt_at", "order_id"):
        op.drop_column("outbox", column)


def _partial_index(name: str, columns: list[str], where: str) -> None:
    op.create_index(
        name, "outbox", columns, postgresql_where=sa.text(where), sqlite_where=sa.text(where)
    )

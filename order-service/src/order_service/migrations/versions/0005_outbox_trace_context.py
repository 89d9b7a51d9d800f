"""outbox.trace_context: the trace of the request that wrote the row (issue 16)

The W3C ``traceparent`` (and ``tracestate``) of the edge's request span, as a JSON object; the
relay publishes the row inside that trace, so one order is one trace from the HTTP request to
every consumer. NULL where tracing is off.

Revision ID: 0005_outbox_trace_context
Revises: 0004_outbox_actor
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_outbox_trace_context"
down_revision: str | None = "0004_outbox_actor"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("trace_context", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("trace_context")

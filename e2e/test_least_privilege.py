"""Scenario 8: billing's broker user can neither publish to ``order`` nor consume
``logistic.order`` (ACCESS_REFUSED), while it can consume its own queue."""

from __future__ import annotations

from kombu import Producer

from e2e.clients import amqp
from e2e.clients.settings import Settings


def test_billing_cannot_publish_orders(amqp_ok: Settings, record) -> None:
    def publish_an_order(conn) -> None:
        """billing-service publishing to exchange order"""
        Producer(conn.default_channel).publish(
            {}, exchange="order", routing_key="order.v2.submit", declare=()
        )

    refused = amqp.expect_access_refused(publish_an_order, amqp_ok, "billing-service")
    assert "order" in str(refused)
    record(publish_order="ACCESS_REFUSED")


def test_billing_cannot_consume_logistic_queue(amqp_ok: Settings, record) -> None:
    def consume_logistic(conn) -> None:
        """billing-service consuming logistic.order"""
        conn.default_channel.basic_consume("logistic.order", callback=lambda m: None)

    refused = amqp.expect_access_refused(consume_logistic, amqp_ok, "billing-service")
    assert "logistic.order" in str(refused)
    record(consume_logistic_order="ACCESS_REFUSED")


def test_billing_can_read_its_own_queue(amqp_ok: Settings) -> None:
    with amqp.connection(amqp_ok, "billing-service") as conn:
        _, _, consumers = conn.default_channel.queue_declare("billing.order", passive=True)
        assert consumers >= 0

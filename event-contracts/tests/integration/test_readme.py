"""The README's snippets (the seed article's producer and consumer) run against a real broker."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from event_contracts import Order, OrderLine, Publisher, create_app, use_publisher
from event_contracts.serialization import Money, Quantity
from event_contracts.testing import TestVhost, drain, running_worker, wait_until

pytestmark = pytest.mark.integration
README = Path(__file__).resolve().parents[2] / "README.md"


def snippet(name: str) -> str:
    match = re.search(rf"<!-- snippet: {name} -->\n```python\n(.*?)```", README.read_text(), re.S)
    assert match, f"README has no snippet {name!r}"
    return match.group(1)


def test_readme_producer_publishes_to_both_consumers(vhost: TestVhost, monkeypatch: Any) -> None:
    monkeypatch.setenv("BROKER_URLS", vhost.url("order-service"))
    try:
        exec(compile(snippet("producer"), "README:producer", "exec"), {})
    finally:
        use_publisher(None)
    for queue in ("billing.order", "logistic.order"):
        (message,) = drain(vhost.url(), queue, expect=1)
        assert message.headers["task"] == "order.v2.submit"


def test_readme_consumer_receives_the_event(
    vhost: TestVhost, monkeypatch: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BROKER_URLS", vhost.url("billing-service"))
    namespace: dict[str, Any] = {}
    exec(compile(snippet("consumer"), "README:consumer", "exec"), namespace)
    printed: list[str] = []
    try:
        with running_worker(vhost, "billing", app=namespace["app"]):
            publisher = Publisher(create_app("order", broker_urls=[vhost.url("order-service")]))
            Order.create(
                id=77,
                customer_id="c",
                currency="EUR",
                lines=(OrderLine(id=1, quantity=Quantity(1), unit_price=Money(Decimal(3))),),
            ).submit(publisher=publisher)

            def seen() -> bool:
                printed.append(capsys.readouterr().out)
                return "billing received a task for order 77" in "".join(printed)

            wait_until(seen, timeout=15, what="the README consumer's print")
    finally:
        Order.submit.unregister_callback(namespace["billing_received"])

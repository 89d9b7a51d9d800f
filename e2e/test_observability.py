"""Prometheus watches the shop: every scrape target (each broker node twice: node metrics and
per-queue metrics; Flower; Prometheus itself; the services' targets from
infra/prometheus/targets/services.yml) is up; placing N orders moves the services' own counters
(the edge's requests, the relay's publishes, every consumer's handled events, the count of the
time from POST to dispatched) by exactly N, read
through Prometheus once the orders' effects are in the databases; one poison message makes the
dead-letter alert active for the DLQs it reached, and the alert ends once the test took its
message out again; the graph of the DLQs' depth is saved as ``artifacts/prometheus-dlq-graph.png``.
Orders placed through the edge grow the orders-placed series (the edge's POST /orders answered
201), and its graph is saved as ``artifacts/prometheus-orders-graph.png``, or, where Grafana runs
(compose profile ``grafana``), the shop dashboard as ``artifacts/grafana-shop-dashboard.png``.

The compose Prometheus scrapes and evaluates every 5 s and the dead-letter rule has no ``for``,
so the alert shows within about 10 s (infra/README.md, "Prometheus")."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import pytest
import yaml

from e2e.clients import amqp
from e2e.clients.containers import Containers
from e2e.clients.databases import Databases
from e2e.clients.edge import Edge
from e2e.clients.prometheus import Prometheus
from e2e.clients.settings import Settings
from e2e.clients.waits import wait_until
from e2e.test_flower_browser import ARGS, CHROMIUM

if TYPE_CHECKING:
    from playwright.sync_api import Page

REPO = Path(__file__).resolve().parent.parent
NODES = ("rabbit1:15692", "rabbit2:15692", "rabbit3:15692")
DLQS = ("billing.order.dlq", "logistic.order.dlq")
ALERT = "DeadLetterQueueHasMessages"
DLQ_DEPTH = 'max by (queue) (rabbitmq_detailed_queue_messages{queue=~".+\\\\.dlq"})'
# Orders placed: the edge's POST /orders answered 201 (infra/README.md's metric contract).
ORDERS_PLACED_SERIES = 'shop_http_request_duration_seconds_count{method="POST",route="/orders",status="201"}'
ORDERS_PLACED_GRAPH = f"sum by (service) ({ORDERS_PLACED_SERIES})"
ORDERS_PLACED = 3
# The shop dashboard (infra/grafana/dashboards/shop.json) and the panel the test looks at.
SHOP_DASHBOARD = "/d/shop/shop"
ORDERS_PANEL = "Orders placed / s"


def expected_targets() -> set[tuple[str, str]]:
    """(job, instance) of every target prometheus.yml names, with the services' file_sd list."""
    services = yaml.safe_load((REPO / "infra/prometheus/targets/services.yml").read_text()) or []
    return {
        ("prometheus", "localhost:9090"),
        ("flower", "flower:5555"),
        *(("rabbitmq", node) for node in NODES),
        *(("rabbitmq-queues", node) for node in NODES),
        *(("services", target) for group in services for target in group["targets"]),
    }


def test_every_target_is_up(prometheus: Prometheus, record) -> None:
    want = expected_targets()
    seen: dict[tuple[str, str], str] = {}

    def all_up() -> bool:
        seen.clear()
        for target in prometheus.targets():
            key = (target["labels"]["job"], target["labels"]["instance"])
            seen[key] = target["health"] + (f" ({target['lastError']})" if target.get("lastError") else "")
        return set(seen) == want and all(health == "up" for health in seen.values())

    wait_until(
        all_up,
        timeout=60,
        interval=2,
        what=f"Prometheus to scrape exactly {sorted(want)} successfully",
        describe=lambda: str(seen),
    )
    record(targets_up=len(seen))


ORDERS = 3
SHOP_COUNTERS = {
    "edge: POST /orders answered 201": 'shop_http_request_duration_seconds_count{service="order-service",'
    'role="edge",method="POST",route="/orders",status="201"}',
    "relay: order.v2.submit published": 'shop_relay_publish_duration_seconds_count{service="order-service",'
    'role="relay",outcome="published"}',
    "billing: order.submit handled": 'shop_handler_outcomes_total{service="billing-service",'
    'event="order.submit",version="v2",outcome="handled"}',
    "logistic: order.submit handled": 'shop_handler_outcomes_total{service="logistic-service",'
    'event="order.submit",version="v2",outcome="handled"}',
    "order worker: billing.invoiced handled": 'shop_handler_outcomes_total{service="order-service",'
    'role="worker",event="billing.invoiced",outcome="handled"}',
    "order worker: logistic.shipment_dispatched handled": "shop_handler_outcomes_total{"
    'service="order-service",role="worker",event="logistic.shipment_dispatched",outcome="handled"}',
    "order worker: orders timed from POST to dispatched": "shop_order_placed_to_dispatched_seconds_count{"
    'service="order-service",role="worker"}',
}
"""The services' own counters (prometheus-client, job ``services``) each order moves by one."""


def test_placing_orders_moves_the_services_own_counters_by_as_many(
    edge: Edge, dbs: Databases, prometheus: Prometheus, record
) -> None:
    def counters() -> dict[str, float]:
        return {name: prometheus.value(f"sum({expr})") for name, expr in SHOP_COUNTERS.items()}

    def fresh_counters() -> dict[str, float]:
        """The counters after a scrape of every service that started after now."""
        now = datetime.now(UTC)
        wait_until(
            lambda: prometheus.scraped_since("services", now),
            timeout=30,
            interval=0.5,
            what="Prometheus to scrape every service target once more",
        )
        return counters()

    # The starting point: counters that no longer move (an earlier scenario's events are done
    # and scraped), each read from a scrape that started after the one before it.
    last: list[dict[str, float]] = [fresh_counters()]

    def settled() -> dict[str, float] | None:
        current = fresh_counters()
        previous, last[0] = last[0], current
        return current if current == previous else None

    before = wait_until(
        settled,
        timeout=90,
        interval=0,
        what="the services' counters to stop moving before the orders",
        describe=lambda: str(last[0]),
    )
    ids = [int(edge.submit()["id"]) for _ in range(ORDERS)]
    # the effects first (invoices, shipments, orders dispatched), then the counters
    dbs.wait_handled(ids, timeout=90)
    dbs.wait_statuses(ids, "dispatched", timeout=90)
    deltas: dict[str, float] = {}

    def moved_by_n() -> bool:
        deltas.update({name: value - before[name] for name, value in counters().items()})
        return all(delta == ORDERS for delta in deltas.values())

    # Prometheus scrapes every 5 s: the last handling shows within a scrape or two
    wait_until(
        moved_by_n,
        timeout=30,
        interval=1,
        what=f"each of the services' counters to move by {ORDERS} (orders {ids})",
        describe=lambda: str(deltas),
    )
    # the relay reports its outbox (the outbox alerts' contract): there, and nothing waiting long
    age = 'shop_outbox_oldest_unpublished_age_seconds{service="order-service",role="relay"}'
    assert prometheus.value(f"count({age})") == 1, f"no {age} series in Prometheus"
    outbox_age = prometheus.value(f"max({age})")
    assert outbox_age < 30, f"the relay reports its oldest unpublished row {outbox_age} s old"
    record(orders=ORDERS, counters_moved=len(deltas))


def dlq_alerts(prometheus: Prometheus) -> dict[str, str]:
    """queue → state (pending, firing) of the dead-letter alert, for the DLQs this test uses."""
    return {
        a["labels"]["queue"]: a["state"]
        for a in prometheus.alerts(ALERT)
        if a["labels"].get("queue") in DLQS and a["state"] in ("pending", "firing")
    }


def test_a_poison_message_raises_the_dead_letter_alert(
    amqp_ok: Settings, prometheus: Prometheus, unique_order_id, record
) -> None:
    # Another scenario's dead letters (test_poison takes its own out again) end first.
    wait_until(
        lambda: not dlq_alerts(prometheus),
        timeout=45,
        interval=1,
        what=f"no {ALERT} alert for {DLQS} before the test (messages left in a DLQ?)",
        describe=lambda: str(dlq_alerts(prometheus)),
    )
    _, body, _ = amqp.seed_v1_message(unique_order_id())
    task_id = str(uuid.uuid4())
    headers = amqp.task_headers("order.v3.submit", task_id)  # no consumer knows version 3
    started = time.monotonic()
    amqp.publish_raw(amqp_ok, "order-service", "order", "order.v3.submit", body, headers=headers)
    try:
        active = wait_until(
            lambda: dlq_alerts(prometheus) if set(dlq_alerts(prometheus)) == set(DLQS) else None,
            timeout=45,
            interval=1,
            what=f"the {ALERT} alert for {DLQS}",
            describe=lambda: str(prometheus.alerts(ALERT)),
        )
        seconds_to_alert = time.monotonic() - started
    finally:
        for dlq in DLQS:
            amqp.take_matching(amqp_ok, dlq, lambda m: m.headers.get("id") == task_id, expect=1, timeout=60)
    wait_until(
        lambda: not dlq_alerts(prometheus),
        timeout=45,
        interval=1,
        what=f"the {ALERT} alert to end once the poison message was taken out of {DLQS}",
        describe=lambda: str(dlq_alerts(prometheus)),
    )
    record(alert_states=",".join(sorted(set(active.values()))), seconds_to_alert=seconds_to_alert)


def test_graph_page_screenshot(settings: Settings, prometheus: Prometheus, record) -> None:
    """Prometheus's own graph page of the DLQs' depth over the last 15 minutes, in headless
    Chromium: it draws a chart with the DLQs in its legend."""
    shot, version, classic, text = graph_page_screenshot(
        settings, prometheus, DLQ_DEPTH, "billing.order.dlq", "prometheus-dlq-graph.png"
    )
    assert all(dlq in text for dlq in DLQS), text[:2000]
    record(
        screenshot=str(shot.relative_to(shot.parents[1])),
        prometheus=version,
        ui="classic" if classic else "current",
    )


def graph_page_screenshot(
    settings: Settings, prometheus: Prometheus, expr: str, legend: str, name: str
) -> tuple[Path, str, bool, str]:
    """Opens Prometheus's graph page of ``expr`` over the last 15 minutes, waits until it drew a
    chart with ``legend`` in its legend, and saves it as ``artifacts/<name>``: (the PNG, the
    server's version, whether it is the classic UI, the page's text). Debian's Prometheus
    (offline) has only the classic UI, under /classic (an SVG chart); the official image's UI
    draws a canvas."""
    from playwright.sync_api import expect

    query: dict[str, Any] = {"g0.expr": expr, "g0.tab": "0", "g0.range_input": "15m"}
    version = prometheus.build_version()
    classic = version.startswith("2.") and prometheus.http.get("/classic/graph").status_code == 200
    url = f"{settings.prometheus_url}{'/classic' if classic else ''}/graph?{urlencode(query)}"
    with opened_page(url, width=1400, height=900) as page:
        expect(page.locator("canvas, .graph svg").first).to_be_visible(timeout=60_000)
        expect(page.get_by_text(legend).first).to_be_visible(timeout=30_000)
        shot = screenshot(settings, page, name)
        text = page.text_content("body") or ""
    return shot, version, classic, text


@contextmanager
def opened_page(url: str, *, width: int, height: int) -> Iterator[Page]:
    """``url`` opened in headless Chromium (answered 200, its DOM loaded); closed afterwards."""
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} not found: apt-get install -y chromium", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            response = page.goto(url, wait_until="domcontentloaded")
            assert response is not None and response.status == 200, response and response.status
            yield page
        finally:
            browser.close()


def screenshot(settings: Settings, page: Page, name: str) -> Path:
    """The whole page as ``artifacts/<name>``; a PNG this small would be a blank page."""
    settings.artifacts.mkdir(parents=True, exist_ok=True)
    shot = settings.artifacts / name
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    return shot


def orders_placed(prometheus: Prometheus) -> float:
    """Orders placed so far (0 before the first), read from a scrape of every service target
    that started after this call: nothing placed before it is missing."""
    now = datetime.now(UTC)
    wait_until(
        lambda: prometheus.scraped_since("services", now),
        timeout=30,
        interval=0.5,
        what="Prometheus to scrape every service target once more",
    )
    return prometheus.value(f"sum({ORDERS_PLACED_SERIES})")


def grafana_runs(settings: Settings, containers: Containers) -> bool:
    """Grafana is part of this stack: the compose project runs a `grafana` container (profile
    grafana), or E2E_GRAFANA_URL names one."""
    if os.environ.get("E2E_GRAFANA_URL"):
        return True
    running = containers.docker(
        "ps", "-q", "--filter", f"label=com.docker.compose.project={settings.compose_project}",
        "--filter", "label=com.docker.compose.service=grafana",
    )  # fmt: skip
    return bool(running)


def test_orders_move_the_orders_counter_and_its_graph_is_kept(
    settings: Settings, edge: Edge, prometheus: Prometheus, containers: Containers, record
) -> None:
    """The screenshot proof: orders placed through the edge show in Prometheus as the edge's
    POST /orders answered 201 (infra/README.md's metric contract), grown by exactly the orders
    placed, and its graph (or, with Grafana, the shop dashboard) is kept as a PNG."""
    before = orders_placed(prometheus)
    order_ids = [edge.submit()["id"] for _ in range(ORDERS_PLACED)]
    seen: list[float] = []

    def counted() -> float | None:
        seen[:] = [prometheus.value(f"sum({ORDERS_PLACED_SERIES})")]
        return seen[0] if seen[0] >= before + ORDERS_PLACED else None

    wait_until(
        counted,
        timeout=60,
        interval=1,
        what=f"sum({ORDERS_PLACED_SERIES}) to grow from {before:g} by the {ORDERS_PLACED} orders placed "
        f"({order_ids}); absent means order-service's edge target is not scraped "
        "(infra/prometheus/targets/services.yml)",
        describe=lambda: f"now {seen}",
    )
    after = orders_placed(prometheus)
    assert after - before == ORDERS_PLACED, f"orders placed grew by {after - before:g}, not {ORDERS_PLACED}"
    if grafana_runs(settings, containers):
        shot = shop_dashboard_screenshot(settings, "grafana-shop-dashboard.png")
        record(screenshot=str(shot.relative_to(shot.parents[1])), ui="grafana", orders=len(order_ids))
        return
    shot, version, classic, _ = graph_page_screenshot(
        settings, prometheus, ORDERS_PLACED_GRAPH, "order-service", "prometheus-orders-graph.png"
    )
    record(
        screenshot=str(shot.relative_to(shot.parents[1])),
        prometheus=version,
        ui="classic" if classic else "current",
        orders=len(order_ids),
    )


def shop_dashboard_screenshot(settings: Settings, name: str) -> Path:
    """Grafana's shop dashboard (anonymous viewer) over the last 15 minutes: the orders panel
    draws its chart (a canvas) with its series in the legend and no "No data"."""
    from playwright.sync_api import expect

    url = f"{settings.grafana_url}{SHOP_DASHBOARD}?orgId=1&from=now-15m&to=now"
    with opened_page(url, width=1600, height=1200) as page:
        header = page.get_by_test_id(f"data-testid Panel header {ORDERS_PANEL}")
        expect(header).to_be_visible(timeout=60_000)
        panel = page.locator("[data-viz-panel-key]", has=header).first
        expect(panel.locator("canvas").first).to_be_visible(timeout=60_000)
        expect(panel.get_by_text("orders/s").first).to_be_visible(timeout=30_000)
        expect(panel.get_by_text("No data")).to_have_count(0)
        return screenshot(settings, page, name)

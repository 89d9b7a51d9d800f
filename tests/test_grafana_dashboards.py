"""Grafana's provisioned dashboards (infra/grafana) load, point at the provisioned data source,
and the shop dashboard asks Prometheus only valid PromQL about metrics that exist: those
infra/README.md's contract table lists, which are exactly the ones event-contracts defines.

Grafana needs a registry, so CI (offline) never runs it: these checks are what keeps the files
right. PromQL is parsed by Prometheus's own parser, `promtool` in the Prometheus base image
(the one `make alerts-test` uses; `docker run --network none`, one container for every
expression): `promql label-matchers set` parses an expression and prints it back with a probe
label on every series selector, which names the metrics it reads.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent
GRAFANA = ROOT / "infra/grafana"
DASHBOARDS = GRAFANA / "dashboards"
SHOP_DASHBOARD = DASHBOARDS / "shop.json"
OFFICIAL_PROMETHEUS = "prom/prometheus:v3.14.0"
# Metrics the shop dashboard may read besides the services' contract: the brokers' and Flower's.
FOREIGN_PREFIXES = ("rabbitmq_", "flower_")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
# Grafana's interval macros, replaced by a plain range before Prometheus parses an expression.
GRAFANA_MACRO = re.compile(r"\$\{?(__rate_interval|__interval|__range)\b\}?")
PROBE = "__dashboard_probe__"
SELECTOR = re.compile(r"(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)?\{[^{}]*\b" + PROBE + '="1"')
# Always in the batch: the checks below must reject these.
BROKEN = "sum(rate(shop_handler_outcomes_total[1m])"
UNKNOWN = "sum(rate(shop_no_such_metric_total[1m])) / sum(up)"


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS.rglob("*.json"))


def provisioned_datasources() -> list[dict[str, Any]]:
    files = sorted((GRAFANA / "provisioning/datasources").glob("*.yml"))
    return [ds for f in files for ds in yaml.safe_load(f.read_text())["datasources"]]


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in a document, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def contract_metrics() -> dict[str, str]:
    """metric → type, from the services' metric contract table in infra/README.md."""
    row = re.compile(r"^\| `(shop_[a-z0-9_]+)` \| (counter|gauge|histogram)\b", re.M)
    return dict(row.findall((ROOT / "infra/README.md").read_text()))


def allowed(name: str, contract: dict[str, str]) -> bool:
    if name.startswith(FOREIGN_PREFIXES) or name == "up":
        return True
    if contract.get(name) in ("counter", "gauge"):
        return True
    histograms = {n for n, kind in contract.items() if kind == "histogram"}
    return any(name.removesuffix(s) in histograms for s in HISTOGRAM_SUFFIXES if name.endswith(s))


def prometheus_image() -> str:
    """The Prometheus base image, chosen as the Makefile does: offline.env's when present."""
    if image := os.environ.get("PROMETHEUS_IMAGE"):
        return image
    offline = ROOT / "infra/offline/offline.env"
    if offline.exists():
        for line in offline.read_text().splitlines():
            if line.startswith("PROMETHEUS_IMAGE="):
                return line.split("=", 1)[1].strip()
    return OFFICIAL_PROMETHEUS


def shop_expressions() -> list[str]:
    return [t["expr"] for panel in load(SHOP_DASHBOARD)["panels"] for t in panel.get("targets", [])]


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str]]:
    """expression → (promtool's exit code, its output), for the shop dashboard and the probes."""
    expressions = [*dict.fromkeys(shop_expressions()), BROKEN, UNKNOWN]
    folder = tmp_path_factory.mktemp("promql")
    lines = [" ".join(GRAFANA_MACRO.sub("1m", e).split()) for e in expressions]
    (folder / "expressions").write_text("\n".join(lines) + "\n")
    folder.chmod(0o755)
    (folder / "expressions").chmod(0o644)
    script = (
        'i=0; while IFS= read -r e; do out=$(promtool --experimental promql label-matchers set "$e" '
        f'{PROBE} 1 2>&1); rc=$?; printf "@@@ %s %s\\n%s\\n" "$i" "$rc" "$out"; i=$((i+1)); '
        "done < /in/expressions"
    )
    command = ["docker", "run", "--rm", "--network", "none", "-v", f"{folder}:/in:ro"]
    command += ["--entrypoint", "sh", prometheus_image(), "-c", script]
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    except FileNotFoundError:
        pytest.fail("docker not found: these checks parse PromQL with promtool in the Prometheus image")
    assert run.returncode == 0, f"{' '.join(command[:-1])} ... failed: {run.stderr.strip()}"
    results: dict[str, tuple[int, str]] = {}
    for chunk in run.stdout.split("@@@ ")[1:]:
        head, _, output = chunk.partition("\n")
        index, code = (int(n) for n in head.split())
        results[expressions[index]] = (code, output)
    assert len(results) == len(expressions), run.stdout[-2000:]
    return results


def metric_names(printed: str) -> set[str]:
    """The metrics an expression reads: the series selectors promtool marked with the probe
    (a selector without a metric name, ``{__name__=~...}``, yields "")."""
    return {m["name"] or "" for m in SELECTOR.finditer(printed)}


# --- every provisioned dashboard ------------------------------------------------------------
def test_the_provisioning_points_at_the_mounted_files() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["grafana"]
    mounts = dict(volume.rsplit(":", 2)[:2] for volume in compose["volumes"])
    assert mounts == {
        "./infra/grafana/provisioning": "/etc/grafana/provisioning",
        "./infra/grafana/dashboards": "/var/lib/grafana/dashboards",
    }
    providers = yaml.safe_load((GRAFANA / "provisioning/dashboards/shop.yml").read_text())["providers"]
    assert [p["options"]["path"] for p in providers] == ["/var/lib/grafana/dashboards"]
    home = compose["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == "/var/lib/grafana/dashboards/" + SHOP_DASHBOARD.relative_to(DASHBOARDS).as_posix()
    assert compose["profiles"] == ["grafana"]
    assert compose["ports"] == ["${INFRA_BIND:-127.0.0.1}:${GRAFANA_PORT:-3000}:3000"]


def test_one_default_prometheus_data_source_with_a_fixed_uid() -> None:
    sources = provisioned_datasources()
    assert [(s["type"], s["url"], s.get("isDefault")) for s in sources] == [
        ("prometheus", "http://prometheus:9090", True)
    ]
    assert sources[0]["uid"]


def test_the_expected_dashboards_are_provisioned() -> None:
    titles = {path.relative_to(DASHBOARDS).as_posix(): load(path)["title"] for path in dashboard_files()}
    assert titles == {
        "shop.json": "Shop",
        "rabbitmq/RabbitMQ-Overview.json": "RabbitMQ-Overview",
        "rabbitmq/RabbitMQ-Quorum-Queues-Raft.json": "RabbitMQ-Quorum-Queues-Raft",
    }
    assert (DASHBOARDS / "rabbitmq/SOURCE.md").exists(), "RabbitMQ's dashboards need their SOURCE.md"


@pytest.mark.parametrize("path", dashboard_files(), ids=lambda p: p.relative_to(DASHBOARDS).as_posix())
def test_dashboard_is_valid_json_with_uid_and_title(path: Path) -> None:
    dashboard = load(path)
    assert isinstance(dashboard.get("uid"), str) and re.fullmatch(r"[A-Za-z0-9_-]{1,40}", dashboard["uid"])
    assert isinstance(dashboard.get("title"), str) and dashboard["title"].strip()
    assert dashboard.get("panels"), "a dashboard without panels"


def test_dashboard_uids_are_unique() -> None:
    uids = [load(path)["uid"] for path in dashboard_files()]
    assert len(uids) == len(set(uids)), uids


def unresolved_datasources(dashboard: dict[str, Any], source: dict[str, Any]) -> list[Any]:
    """Data source references that do not lead to ``source``: a reference names its uid, or a
    ``datasource`` variable of the dashboard that picks a data source of its type, or Grafana's
    built-in annotations."""
    variables = {
        v["name"]: v["query"]
        for v in dashboard.get("templating", {}).get("list", [])
        if v.get("type") == "datasource"
    }

    def resolves(ref: Any) -> bool:
        if isinstance(ref, dict):
            uid, kind = ref.get("uid"), ref.get("type")
            if kind in ("datasource", "grafana") and uid in ("grafana", "-- Grafana --"):
                return True
            if kind not in (None, source["type"]):
                return False
        else:
            uid = ref
        if not isinstance(uid, str):
            return False
        variable = re.fullmatch(r"\$\{(\w+)\}|\$(\w+)", uid)
        if variable:
            return variables.get(variable[1] or variable[2]) == source["type"]
        return uid == source["uid"]

    refs = [node["datasource"] for node in walk(dashboard) if "datasource" in node]
    return [ref for ref in refs if not resolves(ref)]


@pytest.mark.parametrize("path", dashboard_files(), ids=lambda p: p.relative_to(DASHBOARDS).as_posix())
def test_every_datasource_reference_resolves_to_the_provisioned_one(path: Path) -> None:
    (source,) = provisioned_datasources()
    dashboard = load(path)
    assert any("datasource" in node for node in walk(dashboard["panels"])), "no panel names a data source"
    assert unresolved_datasources(dashboard, source) == []


def test_a_reference_to_another_data_source_is_caught() -> None:
    (source,) = provisioned_datasources()
    dashboard = {"templating": {"list": [{"type": "datasource", "name": "DS", "query": "loki"}]}}
    dashboard["panels"] = [
        {"datasource": {"type": "prometheus", "uid": "elsewhere"}},
        {"datasource": {"type": "prometheus", "uid": "${DS}"}},
        {"datasource": {"type": "prometheus", "uid": source["uid"]}},
    ]
    assert unresolved_datasources(dashboard, source) == [
        {"type": "prometheus", "uid": "elsewhere"},
        {"type": "prometheus", "uid": "${DS}"},
    ]


# --- the shop dashboard's PromQL ------------------------------------------------------------
def defined_metrics() -> dict[str, str]:
    """metric → type, as event-contracts defines them (the names Prometheus sees: a counter's
    samples end in ``_total``)."""
    import attrs
    from event_contracts.service_defaults.metrics import metrics

    defined: dict[str, str] = {}
    for field in attrs.fields(type(metrics())):
        (family,) = getattr(metrics(), field.name).describe()
        defined[family.name + ("_total" if family.type == "counter" else "")] = family.type
    return defined


def test_the_contract_table_lists_exactly_the_metrics_event_contracts_defines() -> None:
    assert contract_metrics() == defined_metrics()
    assert defined_metrics()["shop_handler_outcomes_total"] == "counter"


def test_every_expression_parses(parsed: dict[str, tuple[int, str]]) -> None:
    failing = {e: out for e, (code, out) in parsed.items() if code != 0 and e != BROKEN}
    assert failing == {}
    assert parsed[BROKEN][0] != 0, "promtool accepted an unbalanced expression: the check checks nothing"


def test_every_expression_reads_only_contract_or_broker_metrics(parsed: dict[str, tuple[int, str]]) -> None:
    contract = contract_metrics()
    read = {e: metric_names(out) for e, (code, out) in parsed.items() if code == 0}
    unknown = {e: sorted(n for n in names if not allowed(n, contract)) for e, names in read.items()}
    assert read[UNKNOWN] == {"shop_no_such_metric_total", "up"}
    assert unknown.pop(UNKNOWN) == ["shop_no_such_metric_total"]
    assert {e: names for e, names in unknown.items() if names} == {}
    assert all(read[e] for e in shop_expressions()), "an expression that reads no metric"


ORDERS_PLACED = 'shop_http_request_duration_seconds_count{method="POST", route="/orders", status="201"}'
"""Orders placed: the edge's POST /orders answered 201 (its route label is the Flask rule)."""


def test_the_shop_dashboard_covers_what_an_operator_needs() -> None:
    read = " ".join(shop_expressions())
    for metric in (
        ORDERS_PLACED,
        "shop_handler_outcomes_total",
        'shop_handler_outcomes_total{outcome="dead-lettered"}',
        "shop_handler_duration_seconds_bucket",
        "rabbitmq_detailed_queue_messages",
        "shop_outbox_oldest_unpublished_age_seconds",
        "shop_outbox_backlog_rows",
        "shop_outbox_parked_rows",
        "shop_relay_publish_duration_seconds_count",
        "shop_http_request_duration_seconds_bucket",
        "shop_rpc_duration_seconds_bucket",
        "shop_rpc_timeouts_total",
        "histogram_quantile(0.5, sum by (le) (rate(shop_order_placed_to_dispatched_seconds_bucket",
        "histogram_quantile(0.99, sum by (le) (rate(shop_order_placed_to_dispatched_seconds_bucket",
    ):
        assert metric in read, metric


def test_the_orders_route_is_the_one_the_edge_labels() -> None:
    """The orders-placed selector names order-service's Flask rule for placing an order."""
    source = (ROOT / "order-service/src/order_service/entrypoints/flask_app.py").read_text()
    assert '@app.post("/orders")' in source

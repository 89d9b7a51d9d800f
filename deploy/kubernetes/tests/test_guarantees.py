"""What the manifests promise, checked on the rendered objects: the same topology, users and
broker settings as compose, exactly one relay and one beat, autoscaling that never drops work,
probes and limits everywhere, credentials only by reference, and the network kept to the
broker and the database."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from event_contracts import TOPOLOGY
from event_contracts.__main__ import render as render_artefact
from event_contracts.kubernetes import as_definitions

from .manifests import HERE, REPO, is_custom, named, of_kind, render, selects

SERVICES = {  # Deployment → (broker user, database)
    "order-service": ("order-service", "order_service"),
    "order-service-relay": ("order-service", "order_service"),
    "order-service-worker": ("order-service", "order_service"),
    "billing-service": ("billing-service", "billing_service"),
    "logistic-service": ("logistic-service", "logistic_service"),
    "logistic-service-beat": ("logistic-service", "logistic_service"),
}
SINGLETONS = {"order-service-relay", "logistic-service-beat"}
WORKERS = {"order-service-worker": "order", "billing-service": "billing", "logistic-service": "logistic"}
APP_COMPONENTS = {"edge", "relay", "worker", "beat"}


def _sorted(defs: dict[str, Any]) -> dict[str, list[str]]:
    return {kind: sorted(json.dumps(i, sort_keys=True) for i in items) for kind, items in defs.items()}


def _workload(objs: tuple[dict[str, Any], ...], name: str) -> dict[str, Any]:
    """The Deployment or StatefulSet running ``name``."""
    (found,) = [
        o for o in objs if o["kind"] in ("Deployment", "StatefulSet") and o["metadata"]["name"] == name
    ]
    return found


def _pod(deployment: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return spec


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


# One source of truth -----------------------------------------------------------------------


def test_committed_topology_is_what_event_contracts_generates() -> None:
    committed = (HERE / "base/rabbitmq/topology.yaml").read_text()
    assert committed == render_artefact("kubernetes"), (
        "stale: python -m event_contracts kubernetes > deploy/kubernetes/base/rabbitmq/topology.yaml"
    )


@pytest.mark.parametrize("overlay", ["base", "dev"])
def test_rendered_topology_equals_definitions_json(overlay: str) -> None:
    generated = [
        o
        for o in render(overlay)
        if o["metadata"].get("labels", {}).get("app.kubernetes.io/managed-by") == "event-contracts"
    ]
    definitions = json.loads((REPO / "infra/rabbitmq/definitions.json").read_text())
    assert _sorted(as_definitions(generated)) == _sorted(definitions)


def _conf(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line.strip() and not line.startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs}


def test_broker_runs_compose_rabbitmq_conf_settings() -> None:
    """infra/rabbitmq/rabbitmq.conf, except what the operator owns (and sets the same)."""
    compose = _conf((REPO / "infra/rabbitmq/rabbitmq.conf").read_text())
    cluster = named(render("base"), "RabbitmqCluster", "shop-rabbitmq")
    kubernetes = _conf(cluster["spec"]["rabbitmq"]["additionalConfig"])
    operator_owned = {  # the operator's StatefulSet and Services use these very ports
        "listeners.tcp.default": "5672",
        "management.tcp.port": "15672",
        "prometheus.tcp.port": "15692",
    }
    for key, value in compose.items():
        if key.startswith("cluster_formation."):
            continue  # the operator forms the cluster through Kubernetes peer discovery
        if key in operator_owned:
            assert value == operator_owned[key], key
            assert key not in kubernetes
            continue
        assert kubernetes.get(key) == value, f"{key} = {value} in rabbitmq.conf, {kubernetes.get(key)} here"
    assert not any(k.startswith("cluster_formation.") for k in kubernetes)
    assert "rabbitmq_prometheus" in cluster["spec"]["rabbitmq"]["additionalPlugins"]


def test_broker_is_three_nodes_one_per_host_with_quorum_members_on_each() -> None:
    cluster = named(render("base"), "RabbitmqCluster", "shop-rabbitmq")
    assert cluster["spec"]["replicas"] == 3
    required = cluster["spec"]["affinity"]["podAntiAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert required[0]["topologyKey"] == "kubernetes.io/hostname"
    conf = _conf(cluster["spec"]["rabbitmq"]["additionalConfig"])
    assert conf["quorum_queue.continuous_membership_reconciliation.enabled"] == "true"
    assert conf["quorum_queue.continuous_membership_reconciliation.target_group_size"] == "3"


# Exactly one relay, one beat; everything else scales ---------------------------------------


@pytest.mark.parametrize("overlay", ["base", "dev"])
def test_relay_and_beat_are_exactly_one(overlay: str) -> None:
    objs = render(overlay)
    scaled = {o["spec"]["scaleTargetRef"]["name"] for o in of_kind(objs, "HorizontalPodAutoscaler")}
    scaled |= {o["spec"]["scaleTargetRef"]["name"] for o in of_kind(objs, "ScaledObject")}
    assert not SINGLETONS & scaled
    # The beat: a StatefulSet, whose one pod is replaced only once the old one is gone.
    beat = named(objs, "StatefulSet", "logistic-service-beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["podManagementPolicy"] == "OrderedReady"
    # The relay: one pod, no rollout overlap (brief overlaps on eviction are safe: SKIP LOCKED).
    relay = named(objs, "Deployment", "order-service-relay")
    assert relay["spec"]["replicas"] == 1
    assert relay["spec"]["strategy"] == {"type": "Recreate"}, "a rollout must not run two"
    deployments = {o["metadata"]["name"] for o in of_kind(objs, "Deployment")}
    assert deployments == set(SERVICES) - {"logistic-service-beat"}


@pytest.mark.parametrize("overlay", ["base", "dev"])
def test_the_edge_scales_on_cpu_and_the_workers_on_queue_depth(overlay: str) -> None:
    objs = render(overlay)
    hpa = named(objs, "HorizontalPodAutoscaler", "order-service")
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert {o["spec"]["scaleTargetRef"]["name"] for o in of_kind(objs, "ScaledObject")} == set(WORKERS)
    for name in {"order-service", *WORKERS}:
        assert "replicas" not in named(objs, "Deployment", name)["spec"], f"{name}: the autoscaler owns it"
    service = named(objs, "Service", "order-service")
    assert service["spec"]["selector"] == {"app.kubernetes.io/name": "order-service"}


def test_keda_reads_queue_depth_from_the_management_api_for_exactly_the_workers_queues() -> None:
    """protocol http: ready + unacknowledged. AMQP counts ready only and would scale busy pods away."""
    objs = render("dev")
    auths = {o["metadata"]["name"] for o in of_kind(objs, "TriggerAuthentication")}
    every_queue = list(TOPOLOGY.iter_queue_names()) + [f"{q}x" for q in TOPOLOGY.iter_queue_names()]
    for scaled in of_kind(objs, "ScaledObject"):
        service = WORKERS[scaled["spec"]["scaleTargetRef"]["name"]]
        (trigger,) = scaled["spec"]["triggers"]
        meta = trigger["metadata"]
        assert trigger["type"] == "rabbitmq"
        assert meta["protocol"] == "http" and meta["mode"] == "QueueLength"
        assert meta.get("excludeUnacknowledged", "false") == "false"
        assert meta["vhostName"] == TOPOLOGY.vhost
        assert "@" not in meta["host"], "credentials belong in the TriggerAuthentication"
        assert trigger["authenticationRef"]["name"] in auths
        assert scaled["spec"]["minReplicaCount"] >= 1, "billing.sync callers wait for an answer"
        if meta.get("useRegex") == "true":
            matched = {q for q in every_queue if re.fullmatch(meta["queueName"], q)}
        else:
            matched = {meta["queueName"]}
        assert matched == set(TOPOLOGY.worker_queues(service)), scaled["metadata"]["name"]


def test_a_scaled_down_worker_finishes_or_returns_its_messages() -> None:
    """SIGTERM → cold shutdown with a soft phase (Celery 5.5+), inside the pod's grace period."""
    objs = render("dev")
    for name in WORKERS:
        pod = _pod(_workload(objs, name))
        env = _env(pod["containers"][0])
        assert env["REMAP_SIGTERM"]["value"] == "SIGQUIT"
        soft = float(env["WORKER_SOFT_SHUTDOWN_TIMEOUT"]["value"])
        assert soft > 0
        assert pod["terminationGracePeriodSeconds"] >= soft + 10, (
            f"{name}: SIGKILL before the soft phase ends"
        )


# Every pod: probes, limits, a disruption budget -------------------------------------------


@pytest.mark.parametrize("overlay", ["base", "dev"])
def test_every_container_has_probes_requests_and_limits(overlay: str) -> None:
    objs = render(overlay)
    for workload in of_kind(objs, "Deployment") + of_kind(objs, "StatefulSet"):
        for container in _pod(workload)["containers"]:
            where = f"{workload['metadata']['name']}/{container['name']}"
            assert "livenessProbe" in container and "readinessProbe" in container, where
            for kind in ("requests", "limits"):
                assert set(container["resources"][kind]) >= {"cpu", "memory"}, f"{where}: {kind}"
    cluster = named(objs, "RabbitmqCluster", "shop-rabbitmq")
    assert set(cluster["spec"]["resources"]["limits"]) >= {"cpu", "memory"}


def test_service_probes_are_the_dockerfiles_health_checks() -> None:
    objs = render("base")
    edge = _pod(named(objs, "Deployment", "order-service"))["containers"][0]
    assert edge["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert edge["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for name in SERVICES.keys() - {"order-service"}:
        container = _pod(_workload(objs, name))["containers"][0]
        command = container["livenessProbe"]["exec"]["command"]
        dockerfile = (REPO / f"{container['image'].split('/')[1]}/Dockerfile").read_text()
        healthcheck = dockerfile[dockerfile.index("HEALTHCHECK") :].split("\n# ")[0]
        if command == ["order-service-healthcheck"]:
            assert "order-service-healthcheck" in healthcheck, name
        else:
            assert command[-1] in healthcheck.replace("\\\n", " "), name


@pytest.mark.parametrize("overlay", ["base", "dev"])
def test_every_workload_has_a_disruption_budget(overlay: str) -> None:
    objs = render(overlay)
    budgets = of_kind(objs, "PodDisruptionBudget")
    for workload in of_kind(objs, "Deployment") + of_kind(objs, "StatefulSet"):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert [b for b in budgets if selects(b["spec"]["selector"], labels)], workload["metadata"]["name"]


# Credentials: referenced, never inlined; each service only its own -------------------------


def test_base_holds_no_secret_and_no_password() -> None:
    objs = render("base")
    assert not of_kind(objs, "Secret")
    text = yaml.safe_dump_all(objs)
    for value in ("order-service-dev", "billing-service-dev", "postgres-dev", "-db-dev", "keda-dev"):
        assert value not in text


def _secret_refs(obj: dict[str, Any]) -> set[str]:
    refs: set[str] = set()

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, dict):
            if key in ("secretKeyRef", "importCredentialsSecret") or "key" in node and "parameter" in node:
                refs.add(node["name"])
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for item in node:
                walk(item, key)

    walk(obj)
    return refs


def test_every_secret_reference_resolves_in_dev_and_passwords_come_only_from_secrets() -> None:
    objs = render("dev")
    secrets = {o["metadata"]["name"]: o for o in of_kind(objs, "Secret")}
    for obj in objs:
        assert _secret_refs(obj) <= set(secrets), obj["metadata"]["name"]
    for workload in of_kind(objs, "Deployment") + of_kind(objs, "StatefulSet"):
        for container in _pod(workload)["containers"]:
            for name, env in _env(container).items():
                if "PASSWORD" in name:
                    assert "secretKeyRef" in env.get("valueFrom", {}), f"{name} is inlined"
    for user in of_kind(objs, "User"):
        secret = secrets[user["spec"]["importCredentialsSecret"]["name"]]
        assert set(secret.get("data", {})) == {"username", "password"}


def test_each_service_reads_only_its_own_credentials() -> None:
    objs = render("dev")
    for name, (user, db) in SERVICES.items():
        deployment = _workload(objs, name)
        assert _secret_refs(deployment) == {f"{user}-broker", f"{user}-db"}, name
        env = _env(_pod(deployment)["containers"][0])
        assert env["BROKER_URLS"]["value"].startswith(f"amqp://{user}:$(BROKER_PASSWORD)@")
        assert env["DATABASE_URL"]["value"].startswith(f"postgresql+psycopg://{db}:$(DATABASE_PASSWORD)@")
        assert env["DATABASE_URL"]["value"].endswith(f":5432/{db}")


# The network: each service reaches the broker and PostgreSQL, nothing else -----------------


def _egress_of(objs: tuple[dict[str, Any], ...], labels: dict[str, str]) -> set[tuple[str, int]]:
    """(peer, port) pairs the policies selecting these labels allow out; '*' = any address."""
    allowed: set[tuple[str, int]] = set()
    for policy in of_kind(objs, "NetworkPolicy"):
        spec = policy["spec"]
        if "Egress" not in spec["policyTypes"] or not selects(spec["podSelector"], labels):
            continue
        for rule in spec.get("egress", []):
            peers = [json.dumps(p, sort_keys=True) for p in rule.get("to", [])] or ["*"]
            ports = [p["port"] for p in rule.get("ports", [])] or [0]
            allowed |= {(peer, port) for peer in peers for port in ports}
    return allowed


def test_services_reach_only_the_broker_the_database_and_dns() -> None:
    objs = render("dev")
    deny = named(objs, "NetworkPolicy", "default-deny")["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    broker = json.dumps({"podSelector": {"matchLabels": {"app.kubernetes.io/name": "shop-rabbitmq"}}})
    database = json.dumps({"podSelector": {"matchLabels": {"app.kubernetes.io/name": "postgres"}}})
    dns = json.dumps(
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        },
        sort_keys=True,
    )
    for name in SERVICES:
        labels = _workload(objs, name)["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/component"] in APP_COMPONENTS
        assert _egress_of(objs, labels) == {(broker, 5672), (database, 5432), (dns, 53)}, name
    postgres = named(objs, "StatefulSet", "postgres")["spec"]["template"]["metadata"]["labels"]
    assert _egress_of(objs, postgres) == {(dns, 53)}


def test_the_broker_and_database_take_connections_from_the_services_only() -> None:
    objs = render("dev")
    for target, port in (("shop-rabbitmq", 5672), ("postgres", 5432)):
        policies = [
            p
            for p in of_kind(objs, "NetworkPolicy")
            if "Ingress" in p["spec"]["policyTypes"]
            and selects(p["spec"]["podSelector"], {"app.kubernetes.io/name": target})
            and p["spec"].get("ingress")
        ]
        rules = [r for p in policies for r in p["spec"]["ingress"] if port in [x["port"] for x in r["ports"]]]
        (rule,) = rules
        (peer,) = rule["from"]
        assert set(peer["podSelector"]["matchExpressions"][0]["values"]) == APP_COMPONENTS


# Metrics and traces: scraped like compose's targets, traces configured by OTEL_* -----------

SCRAPE_CONFIGS = HERE / "prometheus/scrape-configs.yaml"
SCRAPED_COMPONENTS = {"edge", "relay", "worker"}
METRICS_PORT = 9100


def _meta_name(key: str) -> str:
    """A Kubernetes label or annotation key as Prometheus's service discovery names it."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", key)


def _discovered(objs: tuple[dict[str, Any], ...]) -> list[dict[str, str]]:
    """The targets Prometheus's pod discovery (``role: pod``) makes of the rendered workloads:
    one per declared container port, one for a container without ports."""
    targets = []
    for workload in of_kind(objs, "Deployment") + of_kind(objs, "StatefulSet"):
        meta = {"__meta_kubernetes_namespace": workload["metadata"].get("namespace", "")}
        template = workload["spec"]["template"]["metadata"]
        meta["__meta_kubernetes_pod_name"] = f"{workload['metadata']['name']}-0"
        for key, value in template.get("labels", {}).items():
            meta[f"__meta_kubernetes_pod_label_{_meta_name(key)}"] = value
        for key, value in template.get("annotations", {}).items():
            meta[f"__meta_kubernetes_pod_annotation_{_meta_name(key)}"] = value
        for container in _pod(workload)["containers"]:
            for port in container.get("ports") or [{}]:
                target = dict(meta, __meta_kubernetes_pod_container_name=container["name"])
                target["__meta_kubernetes_pod_container_port_name"] = port.get("name", "")
                target["__meta_kubernetes_pod_container_port_number"] = str(port.get("containerPort", ""))
                target["__address__"] = f"10.0.0.1:{port['containerPort']}" if port else "10.0.0.1"
                target["__metrics_path__"] = "/metrics"
                targets.append(target)
    return targets


def _relabel(target: dict[str, str], rules: list[dict[str, Any]]) -> dict[str, str] | None:
    """Prometheus's relabelling (keep, drop, replace; anchored regexes), enough for these rules."""
    labels = dict(target)
    for rule in rules:
        value = rule.get("separator", ";").join(labels.get(s, "") for s in rule.get("source_labels", []))
        match = re.fullmatch(str(rule.get("regex", "(.*)")), value)
        action = rule.get("action", "replace")
        if action == "keep" and not match or action == "drop" and match:
            return None
        if action == "replace" and match:
            template = re.sub(r"\$(\d+)", r"\\g<\1>", str(rule.get("replacement", "$1")))  # $1 → \g<1>
            labels[rule["target_label"]] = match.expand(template)
    return {k: v for k, v in labels.items() if v and not k.startswith("__meta_")}


@pytest.mark.parametrize("overlay", ["base", "dev"])
def test_every_service_process_but_beat_serves_metrics_where_prometheus_looks(overlay: str) -> None:
    objs = render(overlay)
    for name in SERVICES:
        workload = _workload(objs, name)
        template = workload["spec"]["template"]["metadata"]
        container = _pod(workload)["containers"][0]
        ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
        dockerfile = (REPO / f"{container['image'].split('/')[1].split(':')[0]}/Dockerfile").read_text()
        assert f"METRICS_PORT={METRICS_PORT}" in dockerfile  # what the process listens on
        if template["labels"]["app.kubernetes.io/component"] == "beat":
            assert "metrics" not in ports and "annotations" not in template, name
            continue
        assert ports["metrics"] == METRICS_PORT, name
        assert template["annotations"] == {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(METRICS_PORT),
            "prometheus.io/path": "/metrics",
        }, name


@pytest.mark.parametrize("overlay", ["base", "dev"])
def test_the_scrape_job_labels_the_pods_as_compose_labels_its_targets(overlay: str) -> None:
    (job,) = yaml.safe_load(SCRAPE_CONFIGS.read_text())
    assert job["job_name"] == "services"  # the alert rules' job (infra/prometheus/alerts.yml)
    assert 'up{job="services"}' in (REPO / "infra/prometheus/alerts.yml").read_text()
    (sd,) = job["kubernetes_sd_configs"]
    assert sd == {"role": "pod", "namespaces": {"names": ["shop"]}}
    relabelled = [_relabel(t, job["relabel_configs"]) for t in _discovered(render(overlay))]
    scraped = [t for t in relabelled if t is not None]
    compose = yaml.safe_load((REPO / "infra/prometheus/targets/services.yml").read_text())
    want = sorted((g["labels"]["service"], g["labels"]["role"]) for g in compose)
    assert sorted((t["service"], t["role"]) for t in scraped) == want
    assert {(t["__address__"].rsplit(":", 1)[1], t["__metrics_path__"]) for t in scraped} == {
        (str(METRICS_PORT), "/metrics")
    }


def test_the_relabelling_check_drops_what_prometheus_would_drop() -> None:
    (job,) = yaml.safe_load(SCRAPE_CONFIGS.read_text())
    edge = next(t for t in _discovered(render("base")) if t["__address__"].endswith(":8000"))
    assert _relabel(edge, job["relabel_configs"]) is None  # the edge's public port is no target
    quiet = {**edge, "__meta_kubernetes_pod_container_port_name": "metrics"}
    quiet["__meta_kubernetes_pod_annotation_prometheus_io_scrape"] = "false"
    assert _relabel(quiet, job["relabel_configs"]) is None  # a pod that does not ask


def test_metrics_are_reachable_from_prometheus_only() -> None:
    objs = render("dev")
    rules = [
        (policy["metadata"]["name"], rule)
        for policy in of_kind(objs, "NetworkPolicy")
        if "Ingress" in policy["spec"]["policyTypes"]
        for rule in policy["spec"].get("ingress", [])
        if METRICS_PORT in [p["port"] for p in rule.get("ports", [])] or not rule.get("ports")
    ]
    ((name, rule),) = rules
    assert rule["from"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
        }
    ]
    policy = named(objs, "NetworkPolicy", name)
    for service in SERVICES:
        labels = _workload(objs, service)["spec"]["template"]["metadata"]["labels"]
        scraped = labels["app.kubernetes.io/component"] in SCRAPED_COMPONENTS
        assert selects(policy["spec"]["podSelector"], labels) == scraped, service


@pytest.mark.parametrize("overlay", ["base", "dev"])
def test_every_service_process_is_traced_by_the_standard_variables_off_by_default(overlay: str) -> None:
    objs = render(overlay)
    telemetry = named(objs, "ConfigMap", "shop-telemetry")["data"]
    assert telemetry == {
        "OTEL_SDK_DISABLED": "false",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "",  # no export, as compose offline
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",  # never gRPC: not fork-safe
    }
    for name, (user, _) in SERVICES.items():
        container = _pod(_workload(objs, name))["containers"][0]
        assert container["envFrom"] == [{"configMapRef": {"name": "shop-telemetry"}}], name
        assert _env(container)["OTEL_SERVICE_NAME"] == {"name": "OTEL_SERVICE_NAME", "value": user}, name


# PostgreSQL: dev only, the same init script as compose ------------------------------------


def test_postgresql_is_a_dev_statefulset_built_from_compose_image() -> None:
    assert all(o["metadata"]["name"] != "postgres" for o in of_kind(render("base"), "StatefulSet"))
    postgres = named(render("dev"), "StatefulSet", "postgres")
    container = _pod(postgres)["containers"][0]
    assert container["image"].startswith("shop/postgres:")
    env = _env(container)
    for service in ("ORDER_SERVICE", "BILLING_SERVICE", "LOGISTIC_SERVICE"):
        assert f"{service}_DB_PASSWORD" in env  # what infra/postgres/initdb/10-service-databases.sh reads
    assert "initdb/ /docker-entrypoint-initdb.d/" in (REPO / "infra/postgres/Dockerfile").read_text()


def test_no_custom_object_slips_past_validation() -> None:
    kinds = {o["kind"] for o in render("dev") if is_custom(o)}
    assert kinds == {
        "RabbitmqCluster",
        "Vhost",
        "Exchange",
        "Queue",
        "Binding",
        "Policy",
        "User",
        "Permission",
        "ScaledObject",
        "TriggerAuthentication",
    }

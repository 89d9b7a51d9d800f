"""The benchmark's outputs: the table with ratios and target checks, the JSON, the PNG chart."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

TARGET_LAYER_COST = 0.10
TARGET_P99_MS = 50.0
"""p99 publish → handled at half of the platform's max load (issue 19)."""
TARGET_EDGE_RPS = 500.0
TARGET_SEED_RATIO = 1.0
"""Platform fan-out / the seed design's in the same run (issue 19): events handled per second
by both consumers, each side draining a backlog published while its consumers were held."""
DEPLOYED_POOL = "prefork"
"""The services' worker pool (event-contracts' ``run_worker`` default): the fan-out target is
judged on it; a drain with ``--platform-pool`` set otherwise is an experiment, shown but not met."""
TARGET_AUTH_CPU = 0.10
"""The edge's CPU per request may grow by at most this with token verification on (issue 20)."""
TARGET_TELEMETRY_CPU = 0.10
"""The layer's CPU per event and the edge's CPU per request may grow by at most this with
tracing (spans exported over OTLP/HTTP) and metrics on (issue 16)."""
TARGET_ORDER_CPU_FACTOR = 5.0
"""CPU per order dispatched (every container but the edge) / the platform's CPU per fanned-out
event of the layer pairs, both in the same run (issue 19)."""
TARGET_EDGE_CPU_GROWTH = 0.0
"""The edge alone's CPU per request against a baseline edge measured beside it in the run."""


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def _pair_ratios(layer: dict[str, Any]) -> str:
    """The layer phase's platform / raw Celery ratio of each pair, in measurement order."""
    return ", ".join(f"{p['ratio']:.2f}" for p in layer["pairs"] if p["ratio"] is not None)


def max_and_paced(
    add: Callable[[str, str, str, dict[str, Any] | None, str], None],
    key: str,
    phase: dict[str, Any] | None,
    label: str,
    note: str,
    *,
    paced_name: str = "",
    paced_note: str = "open loop",
) -> None:
    """A phase's rows (the platform's, the seed design's): its maximum load, its paced load,
    named by the offered rate, and its drained backlog."""
    phase = phase or {}
    name = paced_name or key
    add(f"{key}_max", label, "event/s", phase.get("max"), note)
    paced = phase.get("paced")
    if paced:
        add(f"{key}_paced", f"{name} at {paced['offered_rate']:.0f}/s offered", "event/s", paced, paced_note)
    drained = phase.get("drain")
    if drained:
        each = ", ".join(f"{c['rate']:.0f}" for c in drained.get("consumers", ()))
        add(
            f"{key}_drain",
            f"{name}: backlog drained",
            "event/s",
            drained,
            f"{drained['published']} events published with the consumers held, then drained; "
            f"each consumer {each}/s",
        )


def rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per measurement, in the order they are shown."""
    out: list[dict[str, Any]] = []

    def add(key: str, label: str, unit: str, data: dict[str, Any] | None, note: str = "") -> None:
        if data:
            runs = data.get("runs")
            if runs:
                rates = sorted(r["throughput"] for r in runs)
                p99s = sorted(r["p99_ms"] for r in runs)
                spread = (
                    f"{len(runs)} runs: {rates[0]:.0f}-{rates[-1]:.0f}/s, p99 {p99s[0]:.0f}-{p99s[-1]:.0f} ms"
                )
                note = f"{note}; {spread}" if note else spread
            out.append({"key": key, "label": label, "unit": unit, "note": note, **data})

    add("kombu", "raw kombu: confirm, 1 quorum queue", "msg/s", results.get("kombu"))
    add(
        "celery_stock",
        "raw Celery stock: 1 quorum queue",
        "task/s",
        results.get("celery_stock"),
        "no confirms, acks early",
    )
    add(
        "celery_same",
        "raw Celery: confirm, fan-out 2",
        "event/s",
        results.get("celery_same"),
        "acks late, 2 workers",
    )
    layer = results.get("layer") or {}
    if layer.get("pairs"):
        add(
            "celery_like",
            "raw Celery: like platform (-E), paired",
            "event/s",
            layer.get("celery"),
            "confirm, fan-out 2, acks late, task events",
        )
        add(
            "platform_paired",
            "platform: paired with the row above",
            "event/s",
            layer.get("platform"),
            f"ratio per pair {_pair_ratios(layer)}; median {_fmt(layer['ratio_median'], 2)}",
        )
    telemetry = layer.get("telemetry") or {}
    if telemetry.get("pairs"):
        each = ", ".join(_fmt(p["cpu_ratio"], 2) for p in telemetry["pairs"])
        add(
            "telemetry_off",
            "platform, telemetry off, paired",
            "event/s",
            telemetry.get("off"),
            "OTEL_SDK_DISABLED, no metrics listener",
        )
        add(
            "telemetry_on",
            "platform, telemetry on: paired",
            "event/s",
            telemetry.get("on"),
            f"spans over OTLP/HTTP to the bench's sink, metrics multiprocess; CPU on/off per pair {each}",
        )
    max_and_paced(
        add,
        "platform",
        results.get("platform"),
        "platform: order.submit, fan-out 2, max load",
        "publishers and consumers together",
    )
    add(
        "platform_no_events",
        "platform, task events off",
        "event/s",
        results.get("platform_no_events"),
        "experiment: workers without -E",
    )
    add(
        "platform_no_events_drain",
        "platform, task events off: backlog drained",
        "event/s",
        results.get("platform_no_events_drain"),
        "experiment: workers without -E; compare with the platform's and the seed's drained backlogs",
    )
    max_and_paced(
        add,
        "seed",
        results.get("seed"),
        "seed design: Celery only, fan-out 2, max load",
        "task per routing key, no confirms, acks early; publishers and consumers together",
        paced_name="seed design",
        paced_note="open loop, the platform's offered load",
    )
    edge = results.get("edge") or {}
    add(
        "edge_alone",
        "edge: POST /orders, relay held",
        "req/s",
        edge.get("post_alone"),
        "gunicorn + PostgreSQL alone; events wait in the outbox",
    )
    add(
        "edge_alone_unverified",
        "edge: same, token verification off",
        "req/s",
        edge.get("post_alone_unverified"),
        "rounds alternating with the row above; bench/edge_unverified.py",
    )
    add(
        "edge_alone_telemetry_off",
        "edge: same, telemetry off",
        "req/s",
        edge.get("post_alone_telemetry_off"),
        "a throwaway edge: OTEL_SDK_DISABLED, no metrics listener",
    )
    add(
        "edge_alone_telemetry_on",
        "edge: same, telemetry on",
        "req/s",
        edge.get("post_alone_telemetry_on"),
        "a throwaway edge: spans over OTLP/HTTP to the bench's sink, metrics",
    )
    add(
        "edge_post",
        "edge: POST /orders, pipeline busy",
        "req/s",
        edge.get("post"),
        f"{(edge.get('post') or {}).get('connections', '')} connections; relay + consumers on the same cores",
    )
    add(
        "edge_dispatched",
        "edge: POST → order dispatched",
        "order/s",
        edge.get("dispatched"),
        "relay, billing, logistic chain, facts",
    )
    return out


def ratios(results: dict[str, Any]) -> dict[str, float | None]:
    platform = ((results.get("platform") or {}).get("max") or {}).get("throughput")
    paired: float | None = (results.get("fanout_pairs") or {}).get("ratio")

    def get(key: str) -> float | None:
        value: float | None = (results.get(key) or {}).get("throughput")
        return value

    return {
        "platform/celery_like_platform_paired_median": (results.get("layer") or {}).get("ratio_median"),
        "platform/celery_stock": _ratio(platform, get("celery_stock")),
        "platform/celery_same_guarantees": _ratio(platform, get("celery_same")),
        "platform/kombu": _ratio(platform, get("kombu")),
        "platform_without_task_events/celery_same_guarantees": _ratio(
            get("platform_no_events"), get("celery_same")
        ),
        "platform/seed_design": paired
        if paired is not None
        else _ratio(_drained(results, "platform"), _drained(results, "seed")),
        "platform/seed_design_max_load": _ratio(
            platform, ((results.get("seed") or {}).get("max") or {}).get("throughput")
        ),
    }


def _seed_check(results: dict[str, Any], ratio: float | None, at_max: float | None) -> dict[str, Any] | None:
    """The fan-out against the seed design: the alternating drains' median when they ran, else
    the two phases' single drains; with the paced latencies and the max-load ratio beside it."""
    if ratio is None:
        return None
    seed = results.get("seed") or {}
    platform = results.get("platform") or {}
    paired = results.get("fanout_pairs") or {}
    if paired.get("pairs"):
        count = len(paired["pairs"])
        drained = (
            f"median of {count} pair{'' if count == 1 else 's'} of alternating drains: "
            + ", ".join(f"{p['ratio']:.2f}" for p in paired["pairs"])
            + f"; {paired['platform']:.0f} against {paired['seed']:.0f}/s"
        )
    else:
        drained = f"{platform['drain']['throughput']:.0f} against {seed['drain']['throughput']:.0f}/s"
    pool = paired.get("platform_pool") or DEPLOYED_POOL
    if pool != DEPLOYED_POOL:
        drained += f"; the platform's consumers on the {pool} pool, not the services' {DEPLOYED_POOL}"
    latency = ""
    if seed.get("paced") and platform.get("paced"):
        latency = (
            f"; p99 at {platform['paced']['offered_rate']:.0f}/s offered: platform "
            f"{platform['paced']['p99_ms']:.1f} ms, seed {seed['paced']['p99_ms']:.1f} ms"
        )
    if at_max is not None and platform.get("max") and seed.get("max"):
        latency += (
            f"; at max load, publishers and consumers together: {at_max:.2f}x "
            f"({platform['max']['throughput']:.0f} against {seed['max']['throughput']:.0f}/s)"
        )
    return {
        "target": f"platform fan-out >= {TARGET_SEED_RATIO:.1f}x the seed design's (events "
        "handled/s by both consumers, each side draining a backlog published while they were held)",
        "value": f"{ratio:.2f}x ({drained}){latency}",
        "met": ratio >= TARGET_SEED_RATIO and pool == DEPLOYED_POOL,
    }


def _drained(results: dict[str, Any], phase: str) -> float | None:
    """A phase's fan-out rate draining its backlog (events handled/s by both consumers)."""
    value: float | None = (((results.get(phase) or {}).get("drain")) or {}).get("throughput")
    return value


def _split_note(measured: dict[str, Any]) -> str:
    """The p99 of each part of a measurement's latency (``latency_split`` in the JSON)."""
    split = measured.get("latency_split") or {}
    if not split:
        return ""
    consumers = ", ".join(_fmt(c["p99_ms"]) for c in split.get("consumers", ()))
    return (
        f" (p99 of its parts: schedule→call {_fmt(split['schedule_to_call']['p99_ms'])}, publish call "
        f"{_fmt(split['publish_call']['p99_ms'])}, call→handled {_fmt(split['call_to_handled']['p99_ms'])}"
        + (f", each consumer {consumers}" if consumers else "")
        + " ms)"
    )


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    checks = []
    r = ratios(results)
    paired = r["platform/celery_like_platform_paired_median"]
    if paired is not None:
        checks.append(
            {
                "target": "event-contracts layer costs <= 10% of raw Celery (like for like, paired)",
                "value": f"costs {100 * (1 - paired):.1f}% (platform/raw: median {paired:.2f} of pairs "
                f"{_pair_ratios(results['layer'])})",
                "met": paired >= 1 - TARGET_LAYER_COST,
            }
        )
    layer = results.get("layer") or {}
    cpu_ratio = layer.get("cpu_ratio_median")
    if cpu_ratio:
        each = ", ".join(f"{p['cpu_ratio']:.2f}" for p in layer["pairs"] if p.get("cpu_ratio"))
        checks.append(
            {
                "target": "... the same measured as CPU per event (publishers + consumers + broker, paired)",
                "value": f"platform / raw = {cpu_ratio:.2f} (pairs {each}): costs "
                f"{100 * (1 - 1 / cpu_ratio):.1f}% of the throughput a CPU-bound host gives",
                "met": 1 / cpu_ratio >= 1 - TARGET_LAYER_COST,
            }
        )
    for key, target in (
        (
            "platform/celery_same_guarantees",
            "... platform (task events on) against raw Celery without task events, sequential",
        ),
        (
            "platform_without_task_events/celery_same_guarantees",
            "... the same with the consumers' task events (-E, for Flower) off (experiment)",
        ),
        ("platform/celery_stock", "... and against stock Celery (no confirms, 1 queue, no fan-out)"),
    ):
        ratio = r[key]
        if ratio is not None:
            checks.append(
                {
                    "target": target,
                    "value": f"costs {100 * (1 - ratio):.1f}% (platform/raw = {ratio:.2f})",
                    "met": ratio >= 1 - TARGET_LAYER_COST,
                }
            )
    seed_check = _seed_check(results, r["platform/seed_design"], r["platform/seed_design_max_load"])
    if seed_check:
        checks.append(seed_check)
    paced = (results.get("platform") or {}).get("paced")
    if paced:
        checks.append(
            {
                "target": f"p99 publish→handled < {TARGET_P99_MS:.0f} ms at half of max load",
                "value": f"p99 {paced['p99_ms']:.1f} ms at {paced['offered_rate']:.0f}/s{_split_note(paced)}",
                "met": paced["p99_ms"] < TARGET_P99_MS,
            }
        )
    edge = results.get("edge") or {}
    alone = edge.get("post_alone")
    if alone:
        rounds = ", ".join(f"{r['throughput']:.0f}" for r in alone.get("runs", ()))
        checks.append(
            {
                "target": f"edge sustains >= {TARGET_EDGE_RPS:.0f} POST /orders per s (gunicorn + its "
                "PostgreSQL; the outbox decouples the pipeline)",
                "value": f"{alone['throughput']:.0f} req/s, median of rounds {rounds or '-'}",
                "met": alone["throughput"] >= TARGET_EDGE_RPS,
            }
        )
    verification = edge.get("verification") or {}
    if verification.get("growth") is not None:
        host = ""
        if verification.get("host_ms_verified") and verification.get("host_ms_unverified"):
            host = (
                f"; whole host {verification['host_ms_verified']:.2f} against "
                f"{verification['host_ms_unverified']:.2f} ms"
            )
        checks.append(
            {
                "target": f"token verification costs <= {100 * TARGET_AUTH_CPU:.0f}% of the edge's CPU per "
                "request (edge alone, on against off)",
                "value": f"{100 * verification['growth']:+.1f}% ({verification['edge_ms_verified']:.2f} "
                f"against {verification['edge_ms_unverified']:.2f} ms in the edge's container){host}",
                "met": verification["growth"] <= TARGET_AUTH_CPU,
            }
        )
    checks.extend(telemetry_targets(results))
    busy, pipeline = edge.get("post"), edge.get("cpu_pipeline")
    if busy:
        why = (
            f"; the pipeline costs {pipeline['total_ms']:.0f} ms CPU per order, at most "
            f"{pipeline['ceiling_per_s']:.0f} orders/s on {pipeline['cores']} cores"
            if pipeline
            else ""
        )
        checks.append(
            {
                "target": "(context) the edge while the pipeline works off the backlog on the same cores",
                "value": f"{busy['throughput']:.0f} req/s{why}",
                "met": None,
            }
        )
    checks.extend(cpu_targets(results))
    return checks


def platform_cpu_per_event(results: dict[str, Any]) -> float | None:
    """The platform's CPU ms per fanned-out event: the median of the layer pairs' totals
    (publishers, both consumers, the broker nodes)."""
    pairs = (results.get("layer") or {}).get("pairs") or []
    totals = [
        p["platform_cpu_ms"]["total_ms"] for p in pairs if (p.get("platform_cpu_ms") or {}).get("total_ms")
    ]
    return statistics.median(totals) if totals else None


def cpu_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The CPU targets of issue 19: an order's against an event's, and the edge's per request.

    Ratios within one run, since hosts differ by 2-3x in speed. The edge's target needs a baseline
    edge measured beside it in the run (``edge.cpu_alone_baseline``); without one its figure is
    shown for information."""
    checks: list[dict[str, Any]] = []
    edge = results.get("edge") or {}
    pipeline, per_event = edge.get("cpu_pipeline"), platform_cpu_per_event(results)
    if pipeline and pipeline.get("total_ms"):
        top = ", ".join(f"{k} {v:.1f}" for k, v in list(pipeline["ms_per_unit"].items())[:5])
        factor = pipeline["total_ms"] / per_event if per_event else None
        value = f"{pipeline['total_ms']:.1f} ms per order ({top})"
        value += (
            f" = {factor:.1f}x the platform's {per_event:.2f} ms per event"
            if factor
            else "; no layer phase in this run, so no CPU per event to set it against"
        )
        checks.append(
            {
                "target": f"CPU per order (relay -> dispatched, every container but the edge) <= "
                f"{TARGET_ORDER_CPU_FACTOR:.0f}x the platform's CPU per fanned-out event (layer pairs)",
                "value": value,
                "met": None if factor is None else factor <= TARGET_ORDER_CPU_FACTOR,
            }
        )
    alone, baseline = edge.get("cpu_alone"), edge.get("cpu_alone_baseline")
    if alone and alone.get("total_ms"):
        value = f"{alone['total_ms']:.2f} ms per request in containers"
        met = None
        if baseline and baseline.get("total_ms"):
            growth = alone["total_ms"] / baseline["total_ms"] - 1
            value += f", baseline beside it {baseline['total_ms']:.2f} ms ({100 * growth:+.1f}%)"
            met = growth <= TARGET_EDGE_CPU_GROWTH
        else:
            value += " (no baseline edge measured beside it in this run)"
        checks.append(
            {
                "target": "edge alone: CPU per request no worse than the baseline's (relay held)",
                "value": value,
                "met": met,
            }
        )
    return checks


def telemetry_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Tracing and metrics on against off: the layer's CPU per event, the edge's per request."""
    checks = []
    layer = (results.get("layer") or {}).get("telemetry") or {}
    ratio = layer.get("cpu_ratio_median")
    if ratio:
        off = statistics.median(p["off_cpu_ms"]["total_ms"] for p in layer["pairs"] if p.get("cpu_ratio"))
        on = statistics.median(p["on_cpu_ms"]["total_ms"] for p in layer["pairs"] if p.get("cpu_ratio"))
        each = ", ".join(f"{p['cpu_ratio']:.2f}" for p in layer["pairs"] if p.get("cpu_ratio"))
        checks.append(
            {
                "target": f"telemetry costs <= {100 * TARGET_TELEMETRY_CPU:.0f}% of the layer's CPU per "
                "event (publisher + consumers + broker, on against off, paired)",
                "value": f"{100 * (ratio - 1):+.1f}% (median of pairs {each}; {on:.2f} against {off:.2f} ms)",
                "met": round(ratio - 1, 6) <= TARGET_TELEMETRY_CPU,
            }
        )
    edge = (results.get("edge") or {}).get("telemetry") or {}
    if edge.get("growth") is not None:
        checks.append(
            {
                "target": f"telemetry costs <= {100 * TARGET_TELEMETRY_CPU:.0f}% of the edge's CPU per "
                "request (edge alone, on against off, paired rounds)",
                "value": f"{100 * edge['growth']:+.1f}% (median of rounds "
                + ", ".join(f"{r['cpu_ratio']:.2f}" for r in edge.get("rounds", ()) if r.get("cpu_ratio"))
                + f"; {edge['edge_ms_on']:.2f} against {edge['edge_ms_off']:.2f} ms in the edge's "
                f"container; {edge['spans_exported']} spans exported)",
                "met": edge["growth"] <= TARGET_TELEMETRY_CPU,
            }
        )
    return checks


def telemetry_problems(results: dict[str, Any]) -> list[str]:
    """A telemetry comparison that did not run, or whose "on" side exported no span or served
    no metrics: its figures would compare nothing."""
    found = []
    layer = (results.get("layer") or {}).get("telemetry")
    edge = (results.get("edge") or {}).get("telemetry")
    for where, data in (("layer", layer), ("edge", edge)):
        if data is None:
            continue
        if "skipped" in data:
            found.append(f"telemetry ({where}): not measured: {data['skipped']}")
            continue
        if not data.get("spans_exported") and not any(p.get("spans_exported") for p in data.get("pairs", ())):
            found.append(f"telemetry ({where}): the sink received no spans from the side with telemetry on")
        elif any(not p.get("spans_exported") for p in data.get("pairs", ())):
            found.append(f"telemetry ({where}): a measurement with telemetry on exported no spans")
        silent = [service for service, ok in (data.get("metrics_served") or {}).items() if not ok]
        if silent:
            found.append(f"telemetry ({where}): no metrics served by {', '.join(silent)}")
        if data.get("pairs") is not None and data.get("cpu_ratio_median") is None:
            found.append(f"telemetry ({where}): no CPU figures")
        if "growth" in data and data["growth"] is None:
            found.append(f"telemetry ({where}): no CPU figures")
    return found


def cpu_lines(results: dict[str, Any]) -> list[str]:
    """Where the cores went: CPU ms per event (layer pairs), per request (edge) and per order
    dispatched (pipeline)."""
    lines = []
    pairs = (results.get("layer") or {}).get("pairs") or []
    for side, name in (("celery", "raw Celery like platform"), ("platform", "platform")):
        costs = [p[f"{side}_cpu_ms"] for p in pairs if p.get(f"{side}_cpu_ms")]
        if costs:
            parts = ", ".join(
                f"{part} {statistics.median(c['ms_per_unit'][part] for c in costs):.2f}"
                for part in costs[0]["ms_per_unit"]
            )
            total = statistics.median(c["total_ms"] for c in costs)
            lines.append(f"CPU ms per event, {name} (median of pairs): {total:.2f} ({parts})")
    telemetry_pairs = ((results.get("layer") or {}).get("telemetry") or {}).get("pairs") or []
    for side in ("off", "on"):
        costs = [p[f"{side}_cpu_ms"] for p in telemetry_pairs if p.get(f"{side}_cpu_ms")]
        if costs:
            parts = ", ".join(
                f"{part} {statistics.median(c['ms_per_unit'][part] for c in costs):.2f}"
                for part in costs[0]["ms_per_unit"]
            )
            total = statistics.median(c["total_ms"] for c in costs)
            lines.append(
                f"CPU ms per event, platform with telemetry {side} (median of pairs): {total:.2f} ({parts})"
            )
    edge = results.get("edge") or {}
    for key, what in (
        ("cpu_alone", "edge alone"),
        ("cpu_alone_unverified", "edge alone, token verification off"),
        ("cpu_busy", "edge, pipeline busy"),
        ("cpu_pipeline", "pipeline (all but the edge's container)"),
    ):
        cost = edge.get(key)
        if not cost:
            continue
        top = ", ".join(f"{k} {v:.2f}" for k, v in list(cost["ms_per_unit"].items())[:6])
        host = f"; whole host {cost['host_ms']:.2f}" if "host_ms" in cost else ""
        if key == "cpu_busy":  # the edge's container only, to set beside its figure alone
            lines.append(f"CPU ms per request, {what}: {top}")
            continue
        limit = cost.get("host_ms") or cost["total_ms"]
        lines.append(
            f"CPU ms per {cost['per']}, {what}: {cost['total_ms']:.2f} in containers ({top}){host} "
            f"-> at most {cost['cores'] * 1000 / limit:,.0f}/s on {cost['cores']} cores"
        )
    return lines


PHASE_ROWS = {
    "kombu": ("kombu",),
    "celery": ("celery_stock", "celery_same"),
    "layer": ("celery_like", "platform_paired"),
    "platform": ("platform_max", "platform_paced"),
    "seed": ("seed_max", "seed_paced"),
    "edge": ("edge_post", "edge_dispatched"),
}


def problems(results: dict[str, Any], phases: list[str]) -> list[str]:
    """What makes a run unusable, whatever the host's speed: a phase without its measurements,
    a message lost, a failed request, an order never dispatched (``--check`` exits 1 on these;
    targets are speed and stay informational)."""
    found: list[str] = []
    shown = {row["key"]: row for row in rows(results)}
    for phase in phases:
        missing = [key for key in PHASE_ROWS.get(phase, ()) if key not in shown]
        if missing:
            found.append(f"phase {phase}: no measurement {', '.join(missing)}")
    found.extend(telemetry_problems(results))
    if (results.get("fanout_pairs") or {}).get("lost"):
        found.append(f"alternating drains: lost {results['fanout_pairs']['lost']}")
    edge = results.get("edge") or {}
    if edge.get("baseline_skipped"):
        found.append(f"edge: no baseline edge ({edge['baseline_skipped']})")
    elif edge.get("baseline_image") and not (edge.get("cpu_alone_baseline") or {}).get("total_ms"):
        found.append(f"edge: the baseline edge of {edge['baseline_image']} measured no CPU per request")
    for row in shown.values():
        for field in ("lost", "errors", "not_dispatched"):
            if row.get(field):
                found.append(f"{row['label']}: {field} {row[field]}")
        refused = {code: n for code, n in (row.get("statuses") or {}).items() if code != "201"}
        if refused:
            found.append(f"{row['label']}: answers other than 201: {refused}")
        if not row.get("throughput"):
            found.append(f"{row['label']}: nothing measured")
    return found


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def table(results: dict[str, Any]) -> str:
    all_rows = rows(results)
    kombu = (results.get("kombu") or {}).get("throughput")
    stock = (results.get("celery_stock") or {}).get("throughput")
    same = (results.get("celery_same") or {}).get("throughput")
    header = [
        "measurement",
        "rate",
        "unit",
        "/kombu",
        "/Celery",
        "/Celery=",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "lost",
        "note",
    ]
    lines = [header]
    for row in all_rows:
        broker = row["key"].startswith(("kombu", "celery", "platform", "seed", "telemetry"))
        lost = row.get("lost", row.get("not_dispatched", row.get("errors")))
        lines.append(
            [
                row["label"],
                _fmt(row.get("throughput")),
                row["unit"],
                _fmt(_ratio(row.get("throughput"), kombu), 2) if broker else "",
                _fmt(_ratio(row.get("throughput"), stock), 2) if broker else "",
                _fmt(_ratio(row.get("throughput"), same), 2) if broker else "",
                _fmt(row.get("p50_ms")),
                _fmt(row.get("p95_ms")),
                _fmt(row.get("p99_ms")),
                _fmt(lost),
                row["note"],
            ]
        )
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    numeric = {1, 3, 4, 5, 6, 7, 8, 9}
    text = []
    for n, line in enumerate(lines):
        cells = [
            str(c).rjust(widths[i]) if i in numeric else str(c).ljust(widths[i]) for i, c in enumerate(line)
        ]
        text.append("  ".join(cells).rstrip())
        if n == 0:
            text.append("  ".join("-" * w for w in widths))
    text.append(
        "/kombu, /Celery, /Celery=: rate divided by raw kombu's, stock Celery's, and Celery's with the "
        "platform's guarantees (confirm, fan-out 2, acks late)"
    )
    for check in targets(results):
        verdict = "info" if check["met"] is None else "met" if check["met"] else "MISSED"
        text.append(f"[{verdict}] {check['target']}: {check['value']}")
    text.extend(cpu_lines(results))
    return "\n".join(text)


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")


def chart(path: Path, results: dict[str, Any], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = [r for r in rows(results) if r.get("throughput")]
    if not data:
        return
    labels = [r["label"].replace(": ", ":\n", 1) for r in data]
    fig, (left, right) = plt.subplots(1, 2, figsize=(15, 0.7 * len(data) + 2.8))
    colors = [
        "#4c72b0"
        if r["key"].startswith(("kombu", "celery", "seed"))
        else "#dd8452"
        if r["key"].startswith("platform")
        else "#55a868"
        for r in data
    ]
    ys = range(len(data))
    left.barh(ys, [r["throughput"] for r in data], color=colors)
    for y, r in zip(ys, data, strict=True):
        left.text(r["throughput"], y, f" {r['throughput']:,.0f} {r['unit']}", va="center", fontsize=8)
    left.set_yticks(list(ys), labels, fontsize=8)
    left.invert_yaxis()
    left.set_xlabel("throughput (per second)")
    left.set_title("throughput")
    left.margins(x=0.25)
    width = 0.27
    for i, (pct, shade) in enumerate((("p50_ms", "#a1c9f4"), ("p95_ms", "#4c72b0"), ("p99_ms", "#1b2a49"))):
        values = [max(r.get(pct) or 0.0, 0.01) for r in data]
        right.barh([y + (i - 1) * width for y in ys], values, height=width, color=shade, label=pct[:3])
    right.axvline(
        TARGET_P99_MS, color="red", linestyle="--", linewidth=1, label=f"{TARGET_P99_MS:.0f} ms target"
    )
    right.set_xscale("log")
    right.set_yticks(list(ys), labels, fontsize=8)
    right.invert_yaxis()
    right.set_xlabel("latency (ms, log scale): publish → handled; request; POST → dispatched")
    right.set_title("latency percentiles")
    right.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=4)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)

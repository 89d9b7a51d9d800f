"""The benchmark's verdicts for the seed design and token verification (bench/report.py).

``python -m bench`` prints each target with ``[met]`` or ``[MISSED]``; these check that the
verdicts follow the figures, and that ``--check`` catches a seed-design row that lost events.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

pytestmark = pytest.mark.unit

REPORT = Path(__file__).resolve().parent.parent / "bench" / "report.py"


def load_report() -> ModuleType:
    """bench/report.py alone (standard library only), without the benchmark's venv."""
    spec = importlib.util.spec_from_file_location("bench_report", REPORT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


report = load_report()


def measured(throughput: float, **extra: Any) -> dict[str, Any]:
    return {"throughput": throughput, "published": 10, "delivered": 10, "lost": 0, "p50_ms": 1.0,
            "p95_ms": 2.0, "p99_ms": 3.0, **extra}  # fmt: skip


def broker_results(
    platform: float, seed: float, *, at_max: tuple[float, float] = (30.0, 90.0)
) -> dict[str, Any]:
    """Both phases: ``platform`` and ``seed`` events/s draining a backlog; ``at_max``: their
    rates at max load (publishers and consumers together)."""

    def drained(rate: float) -> dict[str, Any]:
        return {**measured(rate), "consumers": [{"handled": 10, "rate": rate}] * 2}

    return {
        "platform": {"max": measured(at_max[0]), "paced": {"offered_rate": 40.0, **measured(40.0)},
                     "drain": drained(platform)},
        "seed": {"max": measured(at_max[1]), "paced": {"offered_rate": 40.0, **measured(40.0, p99_ms=9.0)},
                 "drain": drained(seed)},
    }  # fmt: skip


def target(results: dict[str, Any], starts: str) -> dict[str, Any]:
    found = [t for t in report.targets(results) if t["target"].startswith(starts)]
    assert len(found) == 1, report.targets(results)
    return found[0]


@pytest.mark.parametrize(("platform", "seed", "met"), [(50.0, 100.0, False), (100.0, 100.0, True)])
def test_the_seed_target_is_platform_over_seed_draining_a_backlog(
    platform: float, seed: float, met: bool
) -> None:
    check = target(broker_results(platform, seed, at_max=(30.0, 90.0)), "platform fan-out")

    assert check["met"] is met
    assert check["value"].startswith(f"{platform / seed:.2f}x")
    assert "platform 3.0 ms, seed 9.0 ms" in check["value"]
    assert "at max load, publishers and consumers together: 0.33x (30 against 90/s)" in check["value"]


def alternating_drains(
    ratios: list[float], median: float, rates: tuple[float, float], **extra: Any
) -> dict[str, Any]:
    """``fanout_pairs`` as bench/fanout_pairs.py records it: the pairs' ratios and medians."""
    platform, seed = rates
    return {
        "pairs": [{"ratio": r} for r in ratios],
        "ratio": median,
        "platform": platform,
        "seed": seed,
        **extra,
    }


def test_alternating_drains_decide_the_seed_target_over_the_single_drains() -> None:
    results = broker_results(100.0, 100.0)  # the single drains alone would meet it
    results["fanout_pairs"] = alternating_drains([0.7, 0.8, 0.75], 0.75, (300.0, 400.0), lost=0)

    check = target(results, "platform fan-out")

    assert not check["met"]
    assert check["value"].startswith(
        "0.75x (median of 3 pairs of alternating drains: 0.70, 0.80, 0.75; 300 against 400/s)"
    )


def test_drains_on_another_pool_than_the_services_are_shown_but_do_not_meet_the_seed_target() -> None:
    results = broker_results(100.0, 100.0)
    results["fanout_pairs"] = alternating_drains([1.3], 1.3, (520.0, 400.0), lost=0, platform_pool="threads")

    check = target(results, "platform fan-out")

    assert not check["met"]
    assert "the platform's consumers on the threads pool, not the services' prefork" in check["value"]


def test_check_flags_alternating_drains_that_lost_events() -> None:
    results = broker_results(100.0, 100.0)
    results["fanout_pairs"] = alternating_drains([1.0], 1.0, (1.0, 1.0), lost=4)

    assert "alternating drains: lost 4" in report.problems(results, ["platform", "seed"])


def test_the_drained_backlogs_are_rows_of_the_table_and_their_losses_are_flagged() -> None:
    results = broker_results(50.0, 100.0)
    results["platform"]["drain"]["lost"] = 2

    keys = [row["key"] for row in report.rows(results)]
    found = report.problems(results, ["platform", "seed"])

    assert {"platform_drain", "seed_drain"} <= set(keys)
    assert report.ratios(results)["platform/seed_design"] == 0.5
    assert report.ratios(results)["platform/seed_design_max_load"] == round(30 / 90, 3)
    assert any(p.startswith("platform: backlog drained") and "lost 2" in p for p in found), found


@pytest.mark.parametrize(("growth", "met"), [(0.10, True), (0.11, False)])
def test_the_verification_target_allows_ten_percent(growth: float, met: bool) -> None:
    verification = {"edge_ms_verified": 2.2, "edge_ms_unverified": 2.0, "growth": growth}
    check = target({"edge": {"verification": verification}}, "token verification")

    assert check["met"] is met


def test_check_flags_a_seed_row_that_lost_events_and_a_refused_unverified_request() -> None:
    results = broker_results(100.0, 100.0)
    results["seed"]["max"]["lost"] = 3
    results["edge"] = {"post_alone_unverified": {**measured(90.0), "statuses": {"201": 5, "401": 1}}}

    found = report.problems(results, ["platform", "seed"])

    assert any(p.startswith("seed design") and "lost 3" in p for p in found), found
    assert any("verification off" in p and "401" in p for p in found), found


def telemetry_pair(off_ms: float, on_ms: float, spans: int = 40) -> dict[str, Any]:
    return {"off": 50.0, "on": 48.0, "off_cpu_ms": {"total_ms": off_ms}, "on_cpu_ms": {"total_ms": on_ms},
            "cpu_ratio": round(on_ms / off_ms, 3), "spans_exported": spans}  # fmt: skip


def layer_telemetry(ratio: float, *, spans: int = 40, served: bool = True) -> dict[str, Any]:
    pairs = [telemetry_pair(10.0, 10.0 * ratio, spans) for _ in range(3)]
    return {"layer": {"telemetry": {
        "off": measured(50.0), "on": {**measured(48.0), "spans_exported": spans}, "pairs": pairs,
        "cpu_ratio_median": ratio, "metrics_served": {"billing": served, "logistic": True},
    }}}  # fmt: skip


def edge_telemetry(growth: float | None, spans: int = 900) -> dict[str, Any]:
    on = None if growth is None else round(2.0 * (1 + growth), 3)
    rounds = [] if on is None else [{"off_ms": 2.0, "on_ms": on, "cpu_ratio": on / 2.0}]
    telemetry = {
        "edge_ms_off": 2.0,
        "edge_ms_on": on,
        "rounds": rounds,
        "growth": growth,
        "spans_exported": spans,
    }
    return {"edge": {"telemetry": telemetry}}


@pytest.mark.parametrize(("ratio", "met"), [(1.10, True), (1.11, False), (0.97, True)])
def test_the_layer_telemetry_target_allows_ten_percent_more_cpu_per_event(ratio: float, met: bool) -> None:
    check = target(layer_telemetry(ratio), "telemetry costs <= 10% of the layer's CPU per event")

    assert check["met"] is met
    assert check["value"].startswith(f"{100 * (ratio - 1):+.1f}%")


@pytest.mark.parametrize(("growth", "met"), [(0.10, True), (0.11, False), (-0.02, True)])
def test_the_edge_telemetry_target_allows_ten_percent_more_cpu_per_request(growth: float, met: bool) -> None:
    check = target(edge_telemetry(growth), "telemetry costs <= 10% of the edge's CPU per request")

    assert check["met"] is met
    assert "900 spans exported" in check["value"]


def test_check_passes_telemetry_that_exported_spans_and_served_metrics() -> None:
    results = {**layer_telemetry(1.05), **edge_telemetry(0.03)}

    assert report.telemetry_problems(results) == []


def test_check_flags_telemetry_on_that_exported_no_spans() -> None:
    results = {**layer_telemetry(1.0, spans=0), **edge_telemetry(0.0, spans=0)}

    found = report.telemetry_problems(results)

    assert any(p.startswith("telemetry (layer)") and "no spans" in p for p in found), found
    assert any(p.startswith("telemetry (edge)") and "no spans" in p for p in found), found


def test_check_flags_one_on_measurement_without_spans_and_silent_metrics() -> None:
    results = layer_telemetry(1.0, served=False)
    results["layer"]["telemetry"]["pairs"][1]["spans_exported"] = 0

    found = report.problems(results, [])

    assert any("a measurement with telemetry on exported no spans" in p for p in found), found
    assert any("no metrics served by billing" in p for p in found), found


def test_check_flags_a_telemetry_comparison_that_did_not_run_or_has_no_cpu_figures() -> None:
    results = {"layer": {"telemetry": {"skipped": "RuntimeError('no sink')"}}, **edge_telemetry(None)}

    found = report.telemetry_problems(results)

    assert any("layer" in p and "not measured" in p and "no sink" in p for p in found), found
    assert any("edge" in p and "no CPU figures" in p for p in found), found


def cpu(total: float, **parts: float) -> dict[str, Any]:
    return {"total_ms": total, "ms_per_unit": parts or {"all": total}}


def pipeline_results(order_ms: float, event_ms: list[float]) -> dict[str, Any]:
    pairs = [{"platform_cpu_ms": cpu(ms), "celery_cpu_ms": cpu(ms), "ratio": 1.0} for ms in event_ms]
    order = cpu(order_ms, **{"logistic-service": order_ms / 2, "rabbit1": order_ms / 2})
    return {"layer": {"pairs": pairs}, "edge": {"cpu_pipeline": {**order, "cores": 2, "ceiling_per_s": 1.0}}}


@pytest.mark.parametrize(("order_ms", "met"), [(50.0, True), (50.1, False)])
def test_cpu_per_order_is_held_to_five_events_of_the_median_pair(order_ms: float, met: bool) -> None:
    check = target(pipeline_results(order_ms, [9.0, 10.0, 30.0]), "CPU per order")

    assert check["met"] is met
    assert "the platform's 10.00 ms per event" in check["value"]
    assert "logistic-service" in check["value"]


def test_cpu_per_order_without_a_layer_phase_is_information_only() -> None:
    results = pipeline_results(120.0, [])

    check = target(results, "CPU per order")

    assert check["met"] is None
    assert check["value"].startswith("120.0 ms per order")


@pytest.mark.parametrize(("baseline_ms", "met"), [(None, None), (3.0, True), (2.9, False)])
def test_the_edge_alone_is_held_to_a_baseline_only_when_one_ran_beside_it(
    baseline_ms: float | None, met: bool | None
) -> None:
    edge: dict[str, Any] = {"cpu_alone": cpu(3.0)}
    if baseline_ms is not None:
        edge["cpu_alone_baseline"] = cpu(baseline_ms)

    check = target({"edge": edge}, "edge alone: CPU per request")

    assert check["met"] is met
    assert check["value"].startswith("3.00 ms per request")


@pytest.mark.parametrize(
    ("edge", "problem"),
    [
        ({"baseline_skipped": "img: NotFound()"}, "edge: no baseline edge (img: NotFound())"),
        ({"baseline_image": "img"}, "edge: the baseline edge of img measured no CPU per request"),
        ({"baseline_image": "img", "cpu_alone_baseline": {"total_ms": 2.5}}, None),
        ({}, None),
    ],
)
def test_check_fails_when_a_baseline_edge_was_asked_for_and_not_measured(
    edge: dict[str, Any], problem: str | None
) -> None:
    found = report.problems({"edge": edge}, [])

    assert found == ([problem] if problem else [])


@pytest.mark.parametrize(("p99_ms", "met"), [(49.9, True), (50.0, False)])
def test_p99_at_half_load_must_stay_under_fifty_ms(p99_ms: float, met: bool) -> None:
    paced = {"offered_rate": 40.0, **measured(40.0, p99_ms=p99_ms)}

    check = target({"platform": {"max": measured(80.0), "paced": paced}}, "p99 publish")

    assert check["met"] is met

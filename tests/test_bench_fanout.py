"""The benchmark's fan-out and latency arithmetic (bench/drain.py, bench/harness.py).

The fan-out rate compared with the seed design is a drained backlog: events handled by every
consumer per second, from the instant the held consumers were released to the last consumer's
last event. The paced latency is split into the publisher's own queueing, the publish call and
the rest, so a tail can be traced to its part.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.unit

BENCH = Path(__file__).resolve().parent.parent / "bench"


def load(name: str) -> ModuleType:
    """A bench module alone (no celery/kombu/tqdm at import), without the benchmark's venv."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


drain = load("drain")
harness = load("harness")


def test_the_drain_rate_counts_events_handled_by_every_consumer_from_the_release() -> None:
    keys = ["a", "b", "c", "d"]
    billing = {"a": 10.5, "b": 11.0, "c": 11.5, "d": 12.0}
    logistic = {"a": 10.2, "b": 10.4, "c": 10.6, "d": 10.8, "earlier": 3.0}

    summary = drain.drain_summary(keys, 10.0, [billing, logistic], publish_seconds=2.0, cpu_seconds=0.02)

    assert summary["delivered"] == 4
    assert summary["lost"] == 0
    assert summary["seconds"] == 2.0  # released at 10.0, the slower consumer done at 12.0
    assert summary["throughput"] == 2.0  # 4 events handled by both in 2 s, not 4 / 1.5 s
    assert summary["consumers"] == [{"handled": 4, "rate": 2.0}, {"handled": 4, "rate": 5.0}]
    assert summary["publish_rate"] == 2.0
    assert summary["consumer_cpu_ms_per_event"] == 5.0


def test_an_event_one_consumer_never_handled_is_lost_and_not_counted() -> None:
    summary = drain.drain_summary(["a", "b"], 0.0, [{"a": 1.0, "b": 2.0}, {"a": 1.0}])

    assert summary["delivered"] == 1
    assert summary["lost"] == 1
    assert summary["throughput"] == 0.5  # 1 event by both, over the 2 s until the last handled
    assert summary["consumer_cpu_ms_per_event"] is None


def test_nothing_handled_is_a_rate_of_zero_not_an_error() -> None:
    summary = drain.drain_summary(["a"], 5.0, [{}, {}])

    assert summary["throughput"] == 0.0
    assert summary["lost"] == 1


def paced(due: float, call: float, returned: float) -> dict[str, float]:
    return {"due": due, "call": call, "returned": returned}


def test_the_latency_split_separates_publisher_queueing_from_the_publish_and_the_consumers() -> None:
    run = harness.Load()
    events = {"a": paced(0.000, 0.000, 0.004), "b": paced(0.010, 0.030, 0.034)}
    for key, instants in events.items():
        run.started[key] = instants["due"]
        run.called[key] = instants["call"]
        run.returned[key] = instants["returned"]
    billing = {"a": 0.006, "b": 0.036}
    logistic = {"a": 0.008, "b": 0.040}
    done = {k: max(billing[k], logistic[k]) for k in events}

    summary = harness.summarize(run, done, [billing, logistic])
    split = summary["latency_split"]

    assert summary["max_ms"] == 30.0  # from b's due instant: its 20 ms in the publisher counts
    assert split["schedule_to_call"]["max_ms"] == 20.0
    assert split["publish_call"]["max_ms"] == 4.0
    assert split["call_to_handled"]["max_ms"] == 10.0
    assert [c["max_ms"] for c in split["consumers"]] == [6.0, 10.0]


def test_at_max_load_latency_counts_from_the_call_and_nothing_queues_in_the_publisher() -> None:
    run = harness.Load()
    run.started["a"] = run.called["a"] = 1.0
    run.returned["a"] = 1.002

    split = harness.summarize(run, {"a": 1.005}, [{"a": 1.005}])["latency_split"]

    assert split["schedule_to_call"]["max_ms"] == 0.0
    assert split["call_to_handled"]["max_ms"] == 5.0


def _drained(throughput: float, lost: int = 0) -> dict[str, float | int]:
    return {"throughput": throughput, "lost": lost, "consumer_cpu_ms_per_event": 2.0}


def test_alternating_drains_are_judged_by_the_median_of_their_pairs_ratios() -> None:
    pairs = [
        {"platform": _drained(300.0), "seed": _drained(400.0)},  # 0.75
        {"seed": _drained(500.0), "platform": _drained(450.0)},  # 0.90
        {"platform": _drained(100.0), "seed": _drained(500.0, lost=2)},  # 0.20: one slow round
    ]

    summary = drain.pairs_summary(pairs)

    assert [p["ratio"] for p in summary["pairs"]] == [0.75, 0.9, 0.2]
    assert summary["ratio"] == 0.75  # one outlier round does not decide the verdict
    assert (summary["platform"], summary["seed"]) == (300.0, 500.0)
    assert summary["lost"] == 2


def test_no_pairs_give_no_ratio() -> None:
    assert drain.pairs_summary([])["ratio"] is None

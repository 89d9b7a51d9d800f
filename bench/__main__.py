"""``python -m bench``: end-to-end throughput and latency of the shop platform, side by side with
raw Celery and raw kombu, in one run against the live compose stack. See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import report
from bench.broker import Management, bench_vhost
from bench.harness import REPO
from bench.stack_cpu import StackCpu

PHASES = ("kombu", "celery", "layer", "platform", "seed", "edge")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--phases", default=",".join(PHASES), help="comma-separated subset of " + ", ".join(PHASES)
    )
    load = parser.add_argument_group("broker phases (kombu, celery, layer, platform, seed)")
    load.add_argument(
        "--seconds", type=float, default=15, help="publishing time of each maximum-load measurement"
    )
    load.add_argument(
        "--paced-seconds", type=float, default=20, help="publishing time at the fixed offered load"
    )
    load.add_argument(
        "--fraction", type=float, default=0.5, help="offered load as a fraction of the platform's max"
    )
    load.add_argument("--rate", type=float, help="offered load in events/s (instead of --fraction)")
    load.add_argument("--publishers", type=int, default=2, help="publishing threads (each its own channel)")
    load.add_argument(
        "--paced-publishers",
        type=int,
        help="publishing threads of the paced loads (platform and seed alike); default: --publishers",
    )
    load.add_argument(
        "--warmup", type=float, default=2, help="seconds of unmeasured load before each measurement"
    )
    load.add_argument(
        "--repeat", type=int, default=1, help="runs of each measurement (same consumers); the median is shown"
    )
    load.add_argument(
        "--pairs",
        type=int,
        default=5,
        help="layer phase: alternating pairs of raw Celery and platform measurements (median ratio)",
    )
    load.add_argument(
        "--telemetry-pairs",
        type=int,
        help="layer phase: alternating pairs of the platform with tracing and metrics off and on "
        "(spans exported to the bench's OTLP sink); default: --pairs; 0: skip",
    )
    load.add_argument(
        "--backlog",
        type=int,
        default=2000,
        help="platform and seed phases: events published while their consumers are held, then "
        "drained: the fan-out rate compared (bench/drain.py); 0: skip",
    )
    load.add_argument(
        "--drain-pairs",
        type=int,
        default=5,
        help="with the platform and seed phases: alternating drains of --backlog events, platform "
        "and seed design, both sides' consumers up at once; the fan-out verdict is their median "
        "ratio (bench/fanout_pairs.py); 0: the two phases' single drains decide",
    )
    load.add_argument(
        "--drain", type=float, default=90, help="max seconds to wait for consumers after publishing"
    )
    load.add_argument("--pool", default="prefork", help="worker pool of Celery and platform consumers")
    load.add_argument(
        "--platform-pool",
        help="the platform's consumers only (platform phase and the alternating drains; the seed design "
        "keeps --pool): another pool for them, e.g. threads; default: --pool",
    )
    load.add_argument(
        "--concurrency", type=int, default=2, help="worker concurrency (the services' default: 2)"
    )
    edge = parser.add_argument_group("edge phase")
    edge.add_argument("--edge-url", default="http://127.0.0.1:8000")
    edge.add_argument(
        "--issuer-url",
        default="http://127.0.0.1:8001",
        help="the dev token issuer (compose's order-service-dev-issuer): the edge needs a bearer token",
    )
    edge.add_argument("--edge-seconds", type=float, default=10)
    edge.add_argument("--edge-connections", type=int, default=16)
    edge.add_argument(
        "--edge-alone-seconds",
        type=float,
        default=3,
        help="first POST this long per round with the outbox relay paused (the edge alone; 0: skip)",
    )
    edge.add_argument(
        "--edge-alone-rounds",
        type=int,
        default=3,
        help="rounds of the held-relay POSTs (the median is the edge's figure; the host drifts)",
    )
    edge.add_argument(
        "--no-unverified-edge",
        dest="unverified_edge",
        action="store_false",
        help="skip the held-relay rounds of an edge without token verification (a throwaway container "
        "of the stack's image, bench/edge_unverified.py) beside the stack's: verification's CPU cost",
    )
    edge.add_argument(
        "--no-telemetry-edge",
        dest="telemetry_edge",
        action="store_false",
        help="skip the held-relay rounds of two throwaway edges of the stack's image with tracing and "
        "metrics off and on (spans exported to the bench's OTLP sink): telemetry's CPU cost",
    )
    edge.add_argument(
        "--edge-baseline-image",
        default="",
        metavar="IMAGE",
        help="another order-service image (e.g. `make bench-baseline-image REF=<commit>`: "
        "shop/order-service:baseline) run as a throwaway edge beside the stack's in the held-relay "
        "rounds: the edge-alone target's baseline",
    )
    edge.add_argument(
        "--compose-project",
        default=os.environ.get("COMPOSE_PROJECT_NAME", "shop"),
        help="the stack's compose project (to find and pause its relay container)",
    )
    edge.add_argument(
        "--order-db",
        default="postgresql://order_service:order-service-db-dev@127.0.0.1:5432/order_service",
        help="order-service's database, read (only) to see the orders dispatched; '' to read over HTTP",
    )
    edge.add_argument(
        "--idle-timeout",
        type=float,
        default=300,
        help="max seconds to wait for the shop's queues to empty first",
    )
    edge.add_argument(
        "--dispatch-timeout",
        type=float,
        default=900,
        help="max seconds to wait until the edge's orders are dispatched",
    )
    broker = parser.add_argument_group("broker")
    broker.add_argument("--management", default="http://127.0.0.1:15672")
    broker.add_argument("--admin", default="admin:admin-dev", help="management API user:password")
    broker.add_argument("--amqp-ports", default="5672,5673,5674", help="one AMQP port per cluster node")
    load.add_argument(
        "--also-without-task-events",
        action="store_true",
        help="an extra platform measurement with the consumers' task events (-E) off: what Flower costs",
    )
    out = parser.add_argument_group("output")
    out.add_argument("--out", type=Path, default=REPO / "artifacts", help="where bench.json and bench.png go")
    out.add_argument("--label", default="", help="a note stored with the figures (e.g. 'before')")
    out.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if a phase measured nothing, lost a message, failed a request or left an "
        "order undispatched (CI's smoke run; the speed targets stay informational)",
    )
    out.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the publisher and both consumers during the platform's max load "
        "(collapsed stacks in OUT/profile/)",
    )
    args = parser.parse_args(argv)
    args.phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    args.platform_pool = args.platform_pool or args.pool
    unknown = set(args.phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases {sorted(unknown)}")
    return args


def _docker_ps() -> list[str]:
    if not shutil.which("docker"):
        return []
    result = subprocess.run(
        ["docker", "ps", "--format", "{{.Names}}"], capture_output=True, text=True, check=False
    )
    return sorted(result.stdout.split())


def _git(*args: str) -> str:
    result = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
    return result.stdout.strip()


def conditions(management: Management) -> dict[str, Any]:
    import celery
    import event_contracts
    import kombu

    try:
        overview = management.get("overview")
        nodes = [n["name"] for n in management.get("nodes") if n.get("running")]
    except OSError:
        overview, nodes = {}, []
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "containers": _docker_ps(),
        "rabbitmq": overview.get("rabbitmq_version"),
        "erlang": overview.get("erlang_version"),
        "cluster_nodes": nodes,
        "python": platform.python_version(),
        "celery": celery.__version__,
        "kombu": kombu.__version__,
        "event_contracts": event_contracts.__version__,
        "git": _git("rev-parse", "--short", "HEAD"),
        "event_contracts_dirty": bool(_git("status", "--porcelain", "--", "event-contracts/src")),
    }


def broker_phases(
    args: argparse.Namespace,
    *,
    management: Management,
    ports: list[int],
    results: dict[str, Any],
    loads: dict[str, list[float]],
    profile_dir: Path | None,
) -> None:
    """kombu, Celery, layer and platform phases, in one throwaway vhost."""
    from bench import celery_phase, kombu_phase, layer_phase, platform_phase

    common = {
        "seconds": args.seconds,
        "publishers": args.publishers,
        "warmup": args.warmup,
        "repeat": args.repeat,
        "drain": args.drain,
    }
    common_once = {k: v for k, v in common.items() if k != "repeat"}
    workers = {"pool": args.pool, "concurrency": args.concurrency}
    platform_workers = {"pool": args.platform_pool, "concurrency": args.concurrency}
    with bench_vhost(management, ports) as vhost:
        print(f"bench: vhost {vhost.name} (generated topology, service users' permissions; deleted after)")
        if "kombu" in args.phases:
            results["kombu"] = kombu_phase.run(vhost, **common)
            loads["kombu"] = list(os.getloadavg())
        if "celery" in args.phases:
            results["celery_stock"] = celery_phase.run_stock(vhost, **common, **workers)
            results["celery_same"] = celery_phase.run_same_guarantees(vhost, **common, **workers)
            loads["celery"] = list(os.getloadavg())
        if "layer" in args.phases:
            results["layer"] = layer_phase.run(
                vhost,
                **common_once,
                **workers,
                pairs=args.pairs,
                stack=_stack_cpu(args.compose_project),
                telemetry_pairs=args.pairs if args.telemetry_pairs is None else args.telemetry_pairs,
                new_vhost=lambda: bench_vhost(management, ports),
            )
            loads["layer"] = list(os.getloadavg())
        if "platform" in args.phases:
            results["platform"] = platform_phase.run(
                vhost,
                **common,
                **platform_workers,
                paced_seconds=args.paced_seconds,
                fraction=args.fraction,
                rate=args.rate,
                profile=profile_dir,
                backlog=args.backlog,
                paced_publishers=args.paced_publishers,
            )
            loads["platform"] = list(os.getloadavg())
        if args.also_without_task_events:
            experiment = platform_phase.run(
                vhost,
                **common,
                **workers,
                paced_seconds=0,
                fraction=0,
                without_task_events=True,
                backlog=args.backlog,
            )
            results["platform_no_events"] = experiment.get("max")
            results["platform_no_events_drain"] = experiment.get("drain")


def seed(
    args: argparse.Namespace,
    *,
    management: Management,
    ports: list[int],
    results: dict[str, Any],
    loads: dict[str, list[float]],
) -> None:
    """The seed design (bench/seed_phase.py) in its own vhost, at the platform's offered load."""
    from bench import seed_phase

    platform_paced = (results.get("platform") or {}).get("paced") or {}
    results["seed"] = seed_phase.run(
        management,
        ports,
        seconds=args.seconds,
        paced_seconds=args.paced_seconds,
        publishers=args.publishers,
        warmup=args.warmup,
        drain=args.drain,
        pool=args.pool,
        concurrency=args.concurrency,
        repeat=args.repeat,
        offered=platform_paced.get("offered_rate") or args.rate,
        fraction=args.fraction,
        backlog=args.backlog,
        paced_publishers=args.paced_publishers,
    )
    loads["seed"] = list(os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    user, _, password = args.admin.partition(":")
    management = Management(args.management, user, password)
    ports = [int(p) for p in args.amqp_ports.split(",")]
    host = conditions(management)
    print(
        f"bench: {host['cpus']} CPUs, load average {host['loadavg_at_start']}, RabbitMQ {host['rabbitmq']} "
        f"({len(host['cluster_nodes'])} nodes), {len(host['containers'])} containers running; "
        f"phases {', '.join(args.phases)}"
    )
    results: dict[str, Any] = {}
    loads: dict[str, list[float]] = {}
    profile_dir = args.out / "profile" if args.profile else None
    started = time.monotonic()
    if set(args.phases) & {"kombu", "celery", "layer", "platform"} or args.also_without_task_events:
        broker_phases(
            args, management=management, ports=ports, results=results, loads=loads, profile_dir=profile_dir
        )
    if "seed" in args.phases:
        seed(args, management=management, ports=ports, results=results, loads=loads)
    if {"platform", "seed"} <= set(args.phases) and args.drain_pairs > 0 and args.backlog > 0:
        from bench import fanout_pairs

        results["fanout_pairs"] = fanout_pairs.run(
            management,
            ports,
            pairs=args.drain_pairs,
            backlog=args.backlog,
            publishers=args.publishers,
            warmup=args.warmup,
            drain=args.drain,
            pool=args.pool,
            platform_pool=args.platform_pool,
            concurrency=args.concurrency,
        )
        loads["fanout_pairs"] = list(os.getloadavg())
    if "edge" in args.phases:
        edge(args, management=management, results=results, loads=loads)
    host["loadavg_after_phase"] = {k: [round(x, 2) for x in v] for k, v in loads.items()}
    host["seconds"] = round(time.monotonic() - started, 1)
    document = {
        "label": args.label,
        "conditions": host,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "results": results,
        "ratios": report.ratios(results),
        "targets": report.targets(results),
    }
    text = report.table(results)
    print()
    print(text)
    report.write_json(args.out / "bench.json", document)
    title = (
        f"python -m bench {host['when']} {args.label} — {host['cpus']} CPUs, RabbitMQ {host['rabbitmq']} "
        f"x{len(host['cluster_nodes'])}, {args.publishers} publisher threads, "
        f"{args.pool} -c{args.concurrency}"
    )
    report.chart(args.out / "bench.png", results, title)
    print(f"\nbench: {args.out / 'bench.json'}, {args.out / 'bench.png'} ({host['seconds']:.0f} s in all)")
    if profile_dir:
        from bench.profile_report import summarize

        for name in ("publisher", "billing", "logistic"):
            path = profile_dir / f"{name}.txt"
            if path.exists():
                print(summarize(path, top=15, match=""))
    if args.check:
        found = report.problems(results, args.phases)
        for problem in found:
            print(f"bench --check: {problem}")
        if found:
            return 1
        print(
            "bench --check: every phase measured; nothing lost, failed or left undispatched "
            "(the speed targets above are informational)"
        )
    return 0


def edge(
    args: argparse.Namespace,
    *,
    management: Management,
    results: dict[str, Any],
    loads: dict[str, list[float]],
) -> None:
    """The edge phase (bench/edge_phase.py), once the shop is idle and its containers quiet."""
    from bench import edge_phase

    why_not, token = edge_phase.reachable(args.edge_url), None
    if not why_not:
        try:
            token = edge_phase.mint_token(args.issuer_url)
        except (OSError, ValueError, KeyError) as exc:
            why_not = f"no bearer token from the dev issuer at {args.issuer_url} ({exc!r})"
    if why_not:
        print(f"bench: edge phase skipped: {why_not}")
        results["edge"] = {"skipped": why_not}
    else:
        backlog = edge_phase.wait_until_idle(management, "shop", args.idle_timeout)
        if backlog:
            print(f"bench: the shop still has {backlog} messages queued; the edge figures include them")
        relays = edge_phase.relay_containers(args.compose_project) if args.edge_alone_seconds else []
        if args.edge_alone_seconds and not relays:
            print(
                f"bench: no order-service-relay container in project {args.compose_project}: "
                "no held-relay run"
            )
        stack = _stack_cpu(args.compose_project)
        if stack:
            waited = stack.wait_until_quiet()
            print(f"bench: the stack was quiet after {waited:.0f} s")
        results["edge"] = edge_phase.run(
            args.edge_url,
            seconds=args.edge_seconds,
            connections=args.edge_connections,
            dispatch_timeout=args.dispatch_timeout,
            database_url=args.order_db or None,
            alone_seconds=args.edge_alone_seconds,
            relays=relays,
            alone_rounds=args.edge_alone_rounds,
            stack=stack,
            token=token,
            unverified=args.compose_project if args.unverified_edge else "",
            telemetry=args.compose_project if args.telemetry_edge else "",
            baseline=(args.compose_project, args.edge_baseline_image) if args.edge_baseline_image else None,
        )
        results["edge"]["backlog_at_start"] = backlog
        loads["edge"] = list(os.getloadavg())


def _stack_cpu(project: str) -> StackCpu | None:
    """The stack's CPU counters, or None (no Docker engine reachable: figures left out)."""
    try:
        return StackCpu(project)
    except Exception as exc:  # docker SDK missing, no socket, no permission
        print(f"bench: no CPU figures per container ({exc!r})")
        return None


if __name__ == "__main__":
    sys.exit(main())

"""``event-contracts dlq``: look at dead letters, replay them to the consumer that failed, or drop them."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import click

from event_contracts.dlq import service
from event_contracts.dlq.broker import Broker, DlqError
from event_contracts.dlq.model import (
    DEFAULT_MAX_REPLAYS,
    NotADeadLetterQueue,
    ReplayRules,
    Selection,
    format_age,
    format_letter,
)
from event_contracts.inbox import DEFAULT_RETENTION, RETENTION_ENV, retention_from_env

URL_ENV = "SHOP_ADMIN_AMQP_URL"

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3
EXIT_NO_QUEUE, EXIT_NO_PERMISSION, EXIT_UNREACHABLE, EXIT_BUSY = 4, 5, 6, 7
EXIT_CODES = f"""\b
Exit codes:
  {EXIT_OK}  done
  {EXIT_FAILED}  unexpected failure (the message being handled stays in the DLQ)
  {EXIT_USAGE}  bad usage (unknown option, missing --yes, no broker URL)
  {EXIT_REFUSED}  some selected messages were refused (replay bound or dedupe window); they stay
  {EXIT_NO_QUEUE}  no such queue, or the queue is not a dead-letter queue (<queue>.dlq)
  {EXIT_NO_PERMISSION}  login refused, or the user may not read/write that queue or vhost
  {EXIT_UNREACHABLE}  broker unreachable, or the connection was lost (nothing is lost with it)
  {EXIT_BUSY}  another consumer (another dlq command?) is reading the queue
"""


def _url_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--url",
        envvar=URL_ENV,
        required=True,
        metavar="AMQP_URL",
        help=f"Operator's broker URL, e.g. amqp://admin:admin-dev@127.0.0.1:5672/shop (env {URL_ENV}).",
    )(command)


def _selection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option(
        "--reason",
        "reasons",
        multiple=True,
        metavar="R",
        help="Only messages dead-lettered for R (repeatable).",
    )(command)
    return command


@contextmanager
def _reported() -> Iterator[None]:
    """A :class:`DlqError` becomes one line on stderr and its exit code."""
    try:
        yield
    except NotADeadLetterQueue as exc:
        click.echo(f"dlq: {exc}", err=True)
        sys.exit(EXIT_NO_QUEUE)
    except DlqError as exc:
        click.echo(f"dlq: {exc}", err=True)
        sys.exit(exc.exit_code)


@click.group(name="dlq", epilog=EXIT_CODES)
def dlq() -> None:
    """Dead letters: see what is in <queue>.dlq and why, replay to the consumer that failed, or drop.

    Reading never consumes or reorders a dead-letter queue: each message is copied to the
    queue's tail (confirmed) before the original is acknowledged, so a quorum queue's delivery
    limit never counts a look. The broker URL is an operator's (env SHOP_ADMIN_AMQP_URL).
    """


@dlq.command(name="list", epilog=EXIT_CODES)
@_url_option
def list_command(url: str) -> None:
    """Every dead-letter queue of the vhost: messages, counts by reason, oldest message's age."""
    with _reported(), Broker(url) as broker:
        for report in service.list_queues(broker):
            if not report.exists:
                click.echo(f"{report.queue:32} missing (not declared on this vhost)")
            elif report.messages == 0:
                click.echo(f"{report.queue:32} empty")
            else:
                reasons = ", ".join(f"{r}={n}" for r, n in sorted(report.reasons.items()))
                click.echo(
                    f"{report.queue:32} {report.messages} message(s), oldest {format_age(report.oldest)}"
                    f", by reason: {reasons}"
                )


@dlq.command(epilog=EXIT_CODES)
@click.argument("queue")
@click.option("--limit", type=click.IntRange(min=1), help="Show at most N messages (the first, in order).")
@_selection_options
@click.option("--json", "as_json", is_flag=True, help="One JSON document (a list), for tools.")
@_url_option
def show(queue: str, limit: int | None, reasons: tuple[str, ...], as_json: bool, url: str) -> None:
    """Each message of QUEUE: routing key, event and version, ids, reason, death history, payload.

    Nothing is consumed or reordered, and looking never costs a message.
    """
    selection = Selection(reasons=reasons, limit=limit)
    with _reported(), Broker(url) as broker:
        letters = service.show(broker, queue, selection)
    now = service.utc_now()
    if as_json:
        click.echo(json.dumps([letter.summary() for letter in letters], indent=2, default=str))
        return
    for letter in letters:
        click.echo(format_letter(letter, now))
        click.echo()
    click.echo(f"{len(letters)} message(s) shown ({selection.describe()})")


def _dedupe_window_default() -> int:
    """The consumers' own setting: their inbox forgets an event after this many seconds."""
    try:
        return int(retention_from_env().total_seconds())
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--dedupe-window") from exc


def _outcome_line(outcome: service.Outcome) -> str:
    letter = outcome.letter
    head = f"{outcome.verdict:12} #{letter.position} {letter.routing_key or '?'} event-id={letter.event_id}"
    return f"{head}: {outcome.note}" if outcome.note else head


@dlq.command(name="replay", epilog=EXIT_CODES)
@click.argument("queue")
@_selection_options
@click.option("--event-id", "event_ids", multiple=True, metavar="ID", help="Only these events (repeatable).")
@click.option("--routing-key", "routing_keys", multiple=True, metavar="K", help="Only this routing key.")
@click.option("--limit", type=click.IntRange(min=1), help="At most N messages (the first selected).")
@click.option("--dry-run", is_flag=True, help="Print what would be replayed; change nothing.")
@click.option(
    "--max-replays",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_REPLAYS,
    show_default=True,
    help="Refuse a message already replayed this many times.",
)
@click.option(
    "--dedupe-window",
    type=click.IntRange(min=0),
    default=_dedupe_window_default,
    show_default=f"env {RETENTION_ENV}, else {int(DEFAULT_RETENTION.total_seconds())}",
    metavar="SECONDS",
    help="How long the consumers' inbox remembers an event; older messages are refused.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replay messages older than the dedupe window too: the consumer may then run one twice.",
)
@_url_option
def replay_command(
    *,
    queue: str,
    reasons: tuple[str, ...],
    event_ids: tuple[str, ...],
    routing_keys: tuple[str, ...],
    limit: int | None,
    dry_run: bool,
    max_replays: int,
    dedupe_window: int,
    force: bool,
    url: str,
) -> None:
    """Republish selected messages of QUEUE (<queue>.dlq) to <queue> only, never the topic exchange.

    Properties and headers are kept and x-replay-count is incremented. Each copy is confirmed
    by the broker before the dead letter is acknowledged: an interrupted replay loses nothing
    (at worst a message is in both queues, and the consumer's inbox drops the second).
    Unselected and refused messages stay in the DLQ, in order.
    """
    selection = Selection(reasons=reasons, event_ids=event_ids, routing_keys=routing_keys, limit=limit)
    rules = ReplayRules(max_replays=max_replays, dedupe_window=timedelta(seconds=dedupe_window), force=force)
    with _reported(), Broker(url) as broker:
        depth = broker.depth(queue)
        label = f"{'reading' if dry_run else 'replaying from'} {queue}"
        with click.progressbar(length=depth, label=label, file=sys.stderr) as bar:
            tally = service.replay(
                broker,
                queue,
                selection,
                rules,
                dry_run=dry_run,
                on_outcome=lambda outcome: click.echo(_outcome_line(outcome)),
                on_step=lambda: bar.update(1),
            )
    left = tally.visited - tally.count("replayed")
    verb = "would replay" if dry_run else "replayed"
    done = tally.count("would-replay" if dry_run else "replayed")
    refused = tally.count("refused")
    click.echo(
        f"{verb} {done}, refused {refused}, {left} message(s) left in {queue} ({selection.describe()})"
    )
    if refused:
        sys.exit(EXIT_REFUSED)


@dlq.command(epilog=EXIT_CODES)
@click.argument("queue")
@_selection_options
@click.option("--yes", is_flag=True, help="Required: purging drops messages for good.")
@_url_option
def purge(queue: str, reasons: tuple[str, ...], yes: bool, url: str) -> None:
    """Drop the selected messages of QUEUE (all, without --reason), printing each one dropped."""
    if not yes:
        raise click.UsageError("purge drops messages for good: add --yes (and --reason R to pick some)")
    selection = Selection(reasons=reasons)
    with _reported(), Broker(url) as broker:
        depth = broker.depth(queue)
        with click.progressbar(length=depth, label=f"purging {queue}", file=sys.stderr) as bar:
            tally = service.purge(
                broker,
                queue,
                selection,
                on_outcome=lambda outcome: click.echo(_outcome_line(outcome)),
                on_step=lambda: bar.update(1),
            )
    left = tally.visited - tally.count("purged")
    click.echo(f"purged {tally.count('purged')}, {left} message(s) left in {queue} ({selection.describe()})")


def main(argv: list[str] | None = None) -> int:
    """``event-contracts dlq ...``; returns the exit code."""
    try:
        dlq.main(args=argv, prog_name="event-contracts dlq", standalone_mode=True)
    except SystemExit as exit_:
        return int(exit_.code or 0) if not isinstance(exit_.code, str) else EXIT_FAILED
    return EXIT_OK

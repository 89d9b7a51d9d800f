"""``list`` / ``show`` / ``replay`` / ``purge``: one walk over a DLQ each, deciding per message."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import attrs

from event_contracts.dlq.broker import Action, Broker, Drop, Keep, Move, QueueNotFound
from event_contracts.dlq.model import DeadLetter, ReplayRules, Selection, consumer_queue_of
from event_contracts.topology import TOPOLOGY, Topology

Step = Callable[[], None]


def utc_now() -> datetime:
    return datetime.now(UTC)


@attrs.frozen
class QueueReport:
    """One DLQ in ``list``: depth, counts by reason, the oldest message's age."""

    queue: str
    exists: bool
    messages: int = 0
    reasons: dict[str, int] = attrs.field(factory=dict)
    oldest: timedelta | None = None


def dead_letter_queues(topology: Topology = TOPOLOGY) -> Iterator[str]:
    return (name for name in topology.iter_queue_names() if name.endswith(".dlq"))


def list_queues(broker: Broker, topology: Topology = TOPOLOGY) -> list[QueueReport]:
    """Every DLQ the topology declares, read without consuming (a walk keeping every message)."""
    reports = []
    for queue in dead_letter_queues(topology):
        try:
            depth = broker.depth(queue)
        except QueueNotFound:
            reports.append(QueueReport(queue, exists=False))
            continue
        if depth == 0:
            reports.append(QueueReport(queue, exists=True))
            continue
        reports.append(_tally(broker, queue))
    return reports


def _tally(broker: Broker, queue: str) -> QueueReport:
    reasons: Counter[str] = Counter()
    ages: list[timedelta] = []
    now = utc_now()

    def count(letter: DeadLetter) -> Action:
        reasons[letter.reason] += 1
        age = letter.age(now)
        if age is not None:
            ages.append(age)
        return Keep()

    seen = broker.walk(queue, count)
    return QueueReport(queue, True, seen, dict(reasons), max(ages) if ages else None)


def show(broker: Broker, queue: str, selection: Selection) -> list[DeadLetter]:
    """The selected messages of ``queue``; every message stays, in order."""
    consumer_queue_of(queue)
    shown: list[DeadLetter] = []

    def look(letter: DeadLetter) -> Action:
        if selection.matches(letter) and (selection.limit is None or len(shown) < selection.limit):
            shown.append(letter)
        return Keep()

    broker.walk(queue, look)
    return shown


@attrs.frozen
class Outcome:
    """What happened to one selected message."""

    letter: DeadLetter
    verdict: str
    """``replayed``, ``would-replay``, ``refused``, ``purged``, ``would-purge``."""
    note: str = ""


@attrs.define
class Tally:
    outcomes: list[Outcome] = attrs.field(factory=list)
    visited: int = 0

    def count(self, verdict: str) -> int:
        return sum(1 for o in self.outcomes if o.verdict == verdict)


def replay(
    broker: Broker,
    queue: str,
    selection: Selection,
    rules: ReplayRules,
    *,
    dry_run: bool = False,
    on_outcome: Callable[[Outcome], None] | None = None,
    on_step: Step | None = None,
) -> Tally:
    """Each selected, allowed message to ``queue``'s consumer queue (confirmed, then acked here).

    Refused and unselected messages go back to the DLQ's tail, so they stay in order.
    ``on_outcome`` hears of a replay only once its copy is confirmed and the original acked.
    """
    target = consumer_queue_of(queue)
    broker.depth(target)  # a clear "no such queue" before anything moves
    tally = Tally()
    pending: dict[int, Outcome] = {}
    now = utc_now()

    def decide(letter: DeadLetter) -> Action:
        if not selection.matches(letter) or (
            selection.limit is not None and len(tally.outcomes) + len(pending) >= selection.limit
        ):
            return Keep()
        refusal = rules.refusal(letter, now)
        if refusal is not None:
            pending[letter.position] = Outcome(letter, "refused", refusal)
            return Keep()
        if dry_run:
            pending[letter.position] = Outcome(letter, "would-replay", f"to {target}")
            return Keep()
        pending[letter.position] = Outcome(
            letter, "replayed", f"to {target} (replay {letter.replay_count + 1})"
        )
        return Move(target, letter.replay_headers(utc_now()))

    def done(letter: DeadLetter, action: Action) -> None:
        outcome = pending.pop(letter.position, None)
        if outcome is not None:
            tally.outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
        if on_step is not None:
            on_step()

    tally.visited = broker.walk(queue, decide, on_done=done)
    return tally


def purge(
    broker: Broker,
    queue: str,
    selection: Selection,
    *,
    on_outcome: Callable[[Outcome], None] | None = None,
    on_step: Step | None = None,
) -> Tally:
    """Drop the selected messages of ``queue``; each is reported before it is acked away, so an
    interrupted purge never drops a message it did not print."""
    consumer_queue_of(queue)
    tally = Tally()

    def decide(letter: DeadLetter) -> Action:
        if not selection.matches(letter) or (
            selection.limit is not None and tally.count("purged") >= selection.limit
        ):
            return Keep()
        outcome = Outcome(letter, "purged")
        tally.outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
        return Drop()

    def done(letter: DeadLetter, action: Action) -> None:
        if on_step is not None:
            on_step()

    tally.visited = broker.walk(queue, decide, on_done=done)
    return tally

"""Dead letters as an operator sees them, and the rules for what may be replayed (no I/O)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from event_contracts.inbox import DEFAULT_RETENTION
from event_contracts.topology import RoutingKey

DLQ_SUFFIX = ".dlq"
REPLAY_COUNT_HEADER = "x-replay-count"
REPLAYED_AT_HEADER = "x-replayed-at"
PLATFORM_DEATH_HEADERS = (
    "x-dead-letter-reason",
    "x-dead-letter-detail",
    "x-dead-letter-queue",
    "x-dead-letter-service",
    "x-dead-lettered-at",
    "x-original-exchange",
    "x-original-routing-key",
)
BROKER_ONLY_HEADERS = ("x-delivery-count",)
"""Set by the broker on delivery; a copy published with it would carry a stale count."""
DEFAULT_MAX_REPLAYS = 3
DEFAULT_DEDUPE_WINDOW = DEFAULT_RETENTION
"""The consumers' inbox window (:mod:`event_contracts.inbox`): older dead letters may run twice."""


class NotADeadLetterQueue(ValueError):
    """The operator named a queue that is not ``<consumer queue>.dlq``."""


def consumer_queue_of(dlq: str) -> str:
    """The one queue whose dead letters ``dlq`` holds: replays go there and nowhere else."""
    if not dlq.endswith(DLQ_SUFFIX) or len(dlq) == len(DLQ_SUFFIX):
        raise NotADeadLetterQueue(f"{dlq!r} is not a dead-letter queue (their names end in {DLQ_SUFFIX!r})")
    return dlq[: -len(DLQ_SUFFIX)]


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str | bytes):
        text = value.decode() if isinstance(value, bytes) else value
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


@attrs.frozen
class DeadLetter:
    """One message of a DLQ: its body, AMQP properties and headers, and what they mean."""

    position: int
    """0-based place in the queue when it was read."""
    body: bytes
    properties: Mapping[str, Any]
    headers: Mapping[str, Any]

    @property
    def deaths(self) -> list[Mapping[str, Any]]:
        """The broker's ``x-death`` entries (newest first); empty when the platform dead-lettered it."""
        value = self.headers.get("x-death")
        return [d for d in value if isinstance(d, Mapping)] if isinstance(value, list) else []

    @property
    def routing_key(self) -> str | None:
        """The routing key it was published with (the event and version for platform events).

        A platform event's task name is its routing key; ``x-original-routing-key`` is only the
        last hop's (the consumer queue's name once the message came back from a retry).
        """
        task = _text(self.headers.get("task"))
        if task and _is_event_key(task):
            return task
        key = _text(self.headers.get("x-original-routing-key"))
        if key:
            return key
        for death in self.deaths:
            keys = death.get("routing-keys")
            if isinstance(keys, list) and keys:
                return _text(keys[0])
        return _text(self.headers.get("task"))

    @property
    def event(self) -> RoutingKey | None:
        for candidate in (_text(self.headers.get("task")), self.routing_key):
            if candidate:
                try:
                    return RoutingKey.parse(candidate)
                except ValueError:
                    continue
        return None

    @property
    def event_id(self) -> str | None:
        return _text(
            self.headers.get("event-id") or self.headers.get("id") or self.properties.get("message_id")
        )

    @property
    def correlation_id(self) -> str | None:
        return _text(self.headers.get("correlation-id") or self.properties.get("correlation_id"))

    @property
    def reason(self) -> str:
        """The platform's reason (``retries-exhausted``, ``invalid-payload``...) or the broker's."""
        reason = _text(self.headers.get("x-dead-letter-reason"))
        if reason:
            return reason
        if self.deaths:
            return _text(self.deaths[0].get("reason")) or "unknown"
        return "unknown"

    @property
    def detail(self) -> str | None:
        return _text(self.headers.get("x-dead-letter-detail"))

    @property
    def retries(self) -> int:
        return _int(self.headers.get("retries"))

    @property
    def replay_count(self) -> int:
        return _int(self.headers.get(REPLAY_COUNT_HEADER))

    @property
    def dead_lettered_at(self) -> datetime | None:
        at = _as_datetime(self.headers.get("x-dead-lettered-at"))
        if at is None and self.deaths:
            at = _as_datetime(self.deaths[0].get("time"))
        return at

    @property
    def first_seen_at(self) -> datetime | None:
        """When the event happened (or, failing that, died): what a consumer's inbox dates it by."""
        return (
            _as_datetime(self.headers.get("occurred-at"))
            or _as_datetime(self.properties.get("timestamp"))
            or self.dead_lettered_at
        )

    def age(self, now: datetime) -> timedelta | None:
        seen = self.first_seen_at
        return None if seen is None else now - seen

    def payload(self) -> Any:
        """The event (``kwargs.instance`` of a Celery task body), else the decoded JSON, else text."""
        try:
            decoded = json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return self.body.decode(errors="replace")
        if (
            isinstance(decoded, list)
            and len(decoded) == 3
            and isinstance(decoded[1], dict)
            and "instance" in decoded[1]
        ):
            return decoded[1]["instance"]
        return decoded

    def republished_headers(self) -> dict[str, Any]:
        """Headers for a copy of this message: all of them, minus what only the broker may set."""
        return {k: v for k, v in self.headers.items() if k not in BROKER_ONLY_HEADERS}

    def replay_headers(self, now: datetime) -> dict[str, Any]:
        """The copy sent back to its consumer: every header kept, the replay counted."""
        return {
            **self.republished_headers(),
            REPLAY_COUNT_HEADER: self.replay_count + 1,
            REPLAYED_AT_HEADER: now.isoformat(),
        }

    def summary(self) -> dict[str, Any]:
        """What ``show --json`` prints for it."""
        event = self.event
        return {
            "position": self.position,
            "routing_key": self.routing_key,
            "event": event.event if event else None,
            "version": event.version if event else None,
            "event_id": self.event_id,
            "correlation_id": self.correlation_id,
            "reason": self.reason,
            "detail": self.detail,
            "retries": self.retries,
            "replay_count": self.replay_count,
            "dead_lettered_at": _iso(self.dead_lettered_at),
            "occurred_at": _iso(self.first_seen_at),
            "platform_headers": {
                h: _jsonable(self.headers[h]) for h in PLATFORM_DEATH_HEADERS if h in self.headers
            },
            "x_death": _jsonable(self.deaths),
            "payload": self.payload(),
        }


def _is_event_key(text: str) -> bool:
    try:
        RoutingKey.parse(text)
    except ValueError:
        return False
    return True


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


@attrs.frozen
class Selection:
    """Which dead letters an operator named; each given filter must match (any of its values)."""

    reasons: tuple[str, ...] = ()
    event_ids: tuple[str, ...] = ()
    routing_keys: tuple[str, ...] = ()
    limit: int | None = None
    """At most this many (the first ones, in queue order)."""

    def matches(self, letter: DeadLetter) -> bool:
        return (
            (not self.reasons or letter.reason in self.reasons)
            and (not self.event_ids or letter.event_id in self.event_ids)
            and (not self.routing_keys or letter.routing_key in self.routing_keys)
        )

    def describe(self) -> str:
        parts = [
            *(f"reason={r}" for r in self.reasons),
            *(f"event-id={e}" for e in self.event_ids),
            *(f"routing-key={k}" for k in self.routing_keys),
        ]
        if self.limit is not None:
            parts.append(f"limit={self.limit}")
        return ", ".join(parts) or "every message"


@attrs.frozen
class ReplayRules:
    """When a replay would do harm: too often replayed, or older than the consumers' dedupe window."""

    max_replays: int = DEFAULT_MAX_REPLAYS
    dedupe_window: timedelta = DEFAULT_DEDUPE_WINDOW
    force: bool = False
    """Replay even what is older than the dedupe window (the consumer may run it twice)."""

    def refusal(self, letter: DeadLetter, now: datetime) -> str | None:
        """Why ``letter`` must not be replayed, or None."""
        if letter.replay_count >= self.max_replays:
            return (
                f"replayed {letter.replay_count} time(s) already (bound {self.max_replays}): "
                "it keeps failing; fix the cause, then purge it or raise --max-replays"
            )
        if self.force:
            return None
        age = letter.age(now)
        if age is None:
            return (
                "its age is unknown (no occurred-at, timestamp or death time), so the consumers' "
                "inbox may have forgotten it; --force replays it anyway, at the risk of running it twice"
            )
        if age > self.dedupe_window:
            return (
                f"it is {_duration(age)} old, older than the consumers' dedupe window "
                f"({_duration(self.dedupe_window)}): their inbox may have forgotten it; --force replays "
                "it anyway, at the risk of running it twice"
            )
        return None


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds} s"


def format_age(value: timedelta | None) -> str:
    return "unknown" if value is None else _duration(value)


def format_letter(letter: DeadLetter, now: datetime) -> str:
    """The human-readable block ``show`` prints for one dead letter."""
    event = letter.event
    lines = [
        f"#{letter.position}  {letter.routing_key or '?'}  reason={letter.reason}",
        f"  event:          {event.event + ' v' + str(event.version) if event else '?'}",
        f"  event id:       {letter.event_id or '?'}",
        f"  correlation id: {letter.correlation_id or '?'}",
        f"  retries:        {letter.retries}    replays: {letter.replay_count}",
        f"  dead-lettered:  {_iso(letter.dead_lettered_at) or '?'}   age: {format_age(letter.age(now))}",
    ]
    for header in PLATFORM_DEATH_HEADERS:
        if header in letter.headers and header != "x-dead-letter-detail":
            lines.append(f"  {header}: {_jsonable(letter.headers[header])}")
    if letter.detail:
        lines.append("  detail:")
        lines += [f"    {line}" for line in letter.detail.rstrip().splitlines()]
    for death in letter.deaths:
        lines.append(f"  x-death: {json.dumps(_jsonable(death), sort_keys=True)}")
    lines.append("  payload:")
    payload = letter.payload()
    text = payload if isinstance(payload, str) else json.dumps(payload, indent=2, sort_keys=True)
    lines += [f"    {line}" for line in text.splitlines()]
    return "\n".join(lines)

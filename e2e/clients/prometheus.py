"""Prometheus's HTTP API (no login): scrape targets and alerts, as Prometheus itself sees them."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

import httpx


class Prometheus:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, timeout=15.0)

    def close(self) -> None:
        self.http.close()

    def _data(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params or None)
        response.raise_for_status()
        body = response.json()
        assert body.get("status") == "success", body
        return body["data"]

    def build_version(self) -> str:
        """The server's version, e.g. ``3.14.0`` or Debian's ``2.53.3+ds1``."""
        version: str = self._data("/api/v1/status/buildinfo")["version"]
        return version

    def targets(self) -> list[dict[str, Any]]:
        """The active scrape targets: ``labels`` (job, instance), ``health``, ``lastError``."""
        result: list[dict[str, Any]] = self._data("/api/v1/targets", state="active")["activeTargets"]
        return result

    def alerts(self, name: str | None = None) -> list[dict[str, Any]]:
        """Pending and firing alerts (``labels``, ``state``), optionally of one alert rule only."""
        alerts: list[dict[str, Any]] = self._data("/api/v1/alerts")["alerts"]
        return [a for a in alerts if name is None or a["labels"].get("alertname") == name]

    def value(self, expr: str) -> float:
        """An instant query's one value (a ``sum(...)``); 0 when no series matches yet."""
        result: list[dict[str, Any]] = self._data("/api/v1/query", query=expr)["result"]
        assert len(result) <= 1, f"{expr} is not a single value: {result}"
        return float(result[0]["value"][1]) if result else 0.0

    def scraped_since(self, job: str, since: datetime) -> bool:
        """Every target of ``job`` was scraped after ``since`` (an aware datetime)."""
        targets = [t for t in self.targets() if t["labels"]["job"] == job]
        return bool(targets) and all(_instant(t["lastScrape"]) > since for t in targets)


def _instant(text: str) -> datetime:
    """Prometheus' RFC 3339 timestamps (nanoseconds, ``Z``) as an aware datetime."""
    head, _, rest = text.replace("Z", "+00:00").partition(".")
    if not rest:
        return datetime.fromisoformat(head)
    digits = "".join(itertools.takewhile(str.isdigit, rest))
    return datetime.fromisoformat(f"{head}.{digits[:6]:0<6}{rest[len(digits) :]}")

"""Prometheus's HTTP API (no login): scrape targets and alerts, as Prometheus itself sees them."""

from __future__ import annotations

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

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector: ``metric`` (labels) and ``value`` ([time, "number"])."""
        data = self._data("/api/v1/query", query=expr)
        assert data["resultType"] == "vector", data
        result: list[dict[str, Any]] = data["result"]
        return result

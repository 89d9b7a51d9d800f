"""Flower's HTTP API with basic auth (``FLOWER_BASIC_AUTH``)."""

from __future__ import annotations

from typing import Any

import httpx


class Flower:
    def __init__(self, base_url: str, user: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, auth=(user, password), timeout=15.0)

    def close(self) -> None:
        self.http.close()

    def status_without_auth(self, path: str = "/api/tasks") -> int:
        return httpx.get(f"{self.base_url}{path}", timeout=10.0).status_code

    def tasks(self, **params: Any) -> dict[str, dict[str, Any]]:
        response = self.http.get("/api/tasks", params=params or None)
        response.raise_for_status()
        result: dict[str, dict[str, Any]] = response.json()
        return result

    def task(self, task_id: str) -> dict[str, Any] | None:
        response = self.http.get(f"/api/task/info/{task_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def workers(self) -> dict[str, Any]:
        response = self.http.get("/api/workers", params={"refresh": "true"})
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

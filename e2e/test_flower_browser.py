"""Flower's dashboard in headless Chromium (Debian's ``chromium``, driven by
playwright without downloading a browser), with basic auth: the three services' workers are
listed online; the screenshot is saved as ``artifacts/flower-workers.png``."""

from __future__ import annotations

import os
import re
import shutil

import pytest

from e2e.clients.flower import Flower
from e2e.clients.settings import Settings

CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WORKERS = ("order-service@", "billing-service@", "logistic-service@")


def test_dashboard_shows_the_three_services_online(settings: Settings, flower: Flower, record) -> None:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} not found: apt-get install -y chromium", pytrace=False)
    from playwright.sync_api import expect, sync_playwright

    settings.artifacts.mkdir(parents=True, exist_ok=True)
    shot = settings.artifacts / "flower-workers.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            context = browser.new_context(
                http_credentials={"username": settings.flower_user, "password": settings.flower_password},
                viewport={"width": 1400, "height": 900},
            )
            page = context.new_page()
            response = page.goto(settings.flower_url + "/", wait_until="domcontentloaded")
            assert response is not None and response.status == 200, response and response.status
            rows = {}
            for worker in WORKERS:
                row = page.locator("table tr", has_text=worker).filter(has_text=re.compile("online", re.I))
                expect(row.first).to_be_visible(timeout=60_000)
                rows[worker] = row.count()
            page.screenshot(path=str(shot), full_page=True)
            text = page.text_content("body") or ""
        finally:
            browser.close()
    for worker in WORKERS:
        assert worker in text
    assert shot.stat().st_size > 10_000
    record(
        screenshot=str(shot.relative_to(shot.parents[1])),
        **{w.rstrip("@").replace("-service", "") + "_online": n for w, n in rows.items()},
    )

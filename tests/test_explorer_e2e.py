"""End-to-end test of the explorer in a real browser (headless Chromium via Playwright).

Starts ``python -m experiments.app`` on a free loopback port, opens the page, changes a
lever, steps the model, checks that every chart and the key-number table change, that Reset
with the same seed replays the run, that Play runs and Pause stops it, and that the page
loads nothing from outside the machine.
Saves a screenshot to ``outputs/explorer/explorer-e2e.png``. Skipped where Chromium or the
Playwright package is missing (``.ci/run`` installs Debian's chromium).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    LOCAL,
    START_TIMEOUT_S,
    WAIT_MS,
    free_port,
    wait_for_http,
)

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "outputs" / "explorer"          # screenshot, failure screenshot, server log
SCREENSHOT = ARTIFACTS / "explorer-e2e.png"

pytestmark = pytest.mark.e2e

if not Path(CHROMIUM).exists():
    pytest.skip(f"explorer e2e test skipped: no Chromium at {CHROMIUM} "
                "(apt-get install chromium, or set EDWC_CHROMIUM)", allow_module_level=True)
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="explorer e2e test skipped: playwright not installed "
    "(pip install -e '.[explore]')")



@pytest.fixture(scope="module")
def explorer_url() -> Iterator[str]:
    """The explorer served by ``python -m experiments.app`` on a free loopback port."""
    port = free_port()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = ARTIFACTS / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "experiments.app", "--port", str(port)],
                                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        try:
            wait_for_http(url, proc, START_TIMEOUT_S, "explorer")
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{exc}\n--- server log ---\n{log.read_text()[-3000:]}") from exc
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _month(page) -> str:
    """The month (YYYY-MM) shown in the key-number table."""
    return re.search(r"\d{4}-\d{2}", _key_numbers(page)).group(0)


def _step(page, times: int) -> None:
    """Press Mesa's Step button, each time waiting until the table shows the next month."""
    for _ in range(times):
        following = _months_later(_month(page), 1)
        page.get_by_role("button", name="Step").click()
        _wait_for_month(page, following)


def _chart_sources(page) -> list[str]:
    return page.locator("img").evaluate_all("els => els.map(e => e.src)")


def _key_numbers(page) -> str:
    return page.locator(".edwc-key").inner_text()


def _wait_for_month(page, month: str, timeout_ms: int = WAIT_MS) -> None:
    """Wait until the key-number table shows ``month`` (YYYY-MM)."""
    page.wait_for_function(
        "m => (document.querySelector('.edwc-key') || {innerText: ''}).innerText.includes(m)",
        arg=month, timeout=timeout_ms)


def _months_later(month: str, n: int) -> str:
    year, mon = divmod(int(month[:4]) * 12 + int(month[5:]) - 1 + n, 12)
    return f"{year}-{mon + 1:02d}"


def _choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the Vuetify select labelled ``label`` (a Mesa Select input)."""
    page.locator(".v-select", has_text=label).first.click()
    page.locator(".v-menu__content.menuable__content__active .v-list-item",
                 has_text=option).first.click()


def test_lever_step_reset_play_pause_in_the_browser(explorer_url: str) -> None:
    offsite: list[str] = []
    failed: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1300})
            page.on("request", lambda r: offsite.append(r.url)
                    if not r.url.startswith(LOCAL) else None)
            page.on("requestfailed", lambda r: failed.append(r.url))
            page.on("response", lambda r: failed.append(f"{r.status} {r.url}")
                    if r.status >= 400 else None)
            try:
                _drive(page, explorer_url)
            except Exception:
                page.screenshot(path=str(ARTIFACTS / "explorer-e2e-failure.png"), full_page=True)
                raise
        finally:
            browser.close()
    assert not offsite, f"page loaded from outside the machine: {offsite[:5]}"
    assert not failed, f"failed requests: {failed[:5]}"


def _drive(page, explorer_url: str) -> None:
    """Load the page, change a lever, step, check the charts, reset and replay, play, pause."""
    page.goto(explorer_url)
    page.get_by_role("button", name="Step").wait_for(timeout=2 * WAIT_MS)
    assert "East Data, West Computing" in page.inner_text("body")
    first_month = _month(page)
    last_month = _months_later(first_month, 2)

    _choose(page, "Carbon price", "200")
    page.get_by_role("button", name="Reset").click()
    page.get_by_text('carbon_price_rmb_per_t=[{from:"2022-01",value:200.0}]',
                     exact=False).wait_for(timeout=WAIT_MS)

    before = _chart_sources(page)
    _step(page, 2)
    _wait_for_month(page, last_month)
    after = _chart_sources(page)
    assert len(after) >= 5, "expected five chart images"
    assert len(before) == len(after)
    assert all(a != b for a, b in zip(before, after, strict=True)), \
        "every chart should be redrawn after stepping"
    first_run = _key_numbers(page)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    page.get_by_role("button", name="Reset").click()
    _wait_for_month(page, first_month)
    _step(page, 2)
    _wait_for_month(page, last_month)
    assert _key_numbers(page) == first_run, "Reset with the same seed must replay"

    page.get_by_role("button", name="▶").click()
    _wait_for_month(page, _months_later(first_month, 3))
    page.get_by_role("button", name="❚❚").click()
    page.get_by_role("button", name="▶").wait_for(timeout=WAIT_MS)
    paused_at = _month(page)
    in_flight = _months_later(paused_at, 1)   # Mesa finishes a step it had already begun
    try:
        _wait_for_month(page, in_flight, timeout_ms=6000)
    except sync_api.TimeoutError:
        pass
    settled = _month(page)
    assert settled in (paused_at, in_flight)
    page.wait_for_timeout(3000)
    assert _month(page) == settled, "Pause must stop the run"

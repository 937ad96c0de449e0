"""End-to-end test of the sweep browser in a real browser (headless Chromium via Playwright).

Starts ``python -m experiments.browser <sweep>`` on a free loopback port over a tiny sweep
(the ``browse_sweep`` fixture: smoke grid 2 x 2 x 3 seeds, copied away from where it was
written), changes the outcome, a filter, the year and the reference row, checks that the
charts and the table change each time, downloads the CSV, reads the reproduce command, and
fails on any request that would leave the machine (such requests are also blocked).
Logs the time of every interaction to ``outputs/browser/e2e-timings.log`` (measured, not
asserted) and saves ``outputs/browser/browser-e2e.png``. ``EDWC_BROWSER_SWEEP=<dir>`` runs
it over another sweep instead (any grid with a numeric axis). Skipped where Chromium or the
Playwright package is missing (``.ci/run`` installs Debian's chromium).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import time
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

from experiments import store
from experiments.browser import SweepBrowser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "outputs" / "browser"       # screenshot, timings, failure screenshot, log
SCREENSHOT = ARTIFACTS / "browser-e2e.png"
TIMINGS = ARTIFACTS / "e2e-timings.log"

pytestmark = pytest.mark.e2e

if not Path(CHROMIUM).exists():
    pytest.skip(f"sweep browser e2e test skipped: no Chromium at {CHROMIUM} "
                "(apt-get install chromium, or set EDWC_CHROMIUM)", allow_module_level=True)
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="sweep browser e2e test skipped: playwright not installed "
    "(pip install -e '.[explore]')")



@pytest.fixture(scope="module")
def sweep_dir(request) -> Path:
    """The sweep to browse: EDWC_BROWSER_SWEEP, or the tiny test sweep."""
    chosen = os.environ.get("EDWC_BROWSER_SWEEP")
    return Path(chosen).resolve() if chosen else request.getfixturevalue("browse_sweep")


@contextlib.contextmanager
def _serve(sweep: Path, log_name: str = "server.log") -> Iterator[str]:
    """The sweep browser served by ``python -m experiments.browser`` on a free port."""
    port = free_port()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = ARTIFACTS / log_name
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "experiments.browser", str(sweep),
                                 "--port", str(port)], cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        try:
            wait_for_http(url, proc, START_TIMEOUT_S, "sweep browser")
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


@pytest.fixture(scope="module")
def browser_url(sweep_dir: Path) -> Iterator[str]:
    with _serve(sweep_dir) as url:
        yield url


@contextlib.contextmanager
def _offline_page(offsite: list[str], failed: list[str]):
    """A headless Chromium page that blocks (and records) requests leaving the machine and
    records failed requests."""
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=CHROMIUM_FLAGS)
        try:
            context = browser.new_context(viewport={"width": 1500, "height": 1150},
                                          accept_downloads=True)

            def guard(route) -> None:
                if route.request.url.startswith(LOCAL):
                    route.continue_()
                else:
                    offsite.append(route.request.url)
                    route.abort()
            context.route("**/*", guard)
            page = context.new_page()
            page.on("requestfailed", lambda r: failed.append(r.url))
            page.on("response", lambda r: failed.append(f"{r.status} {r.url}")
                    if r.status >= 400 else None)
            yield page
        finally:
            browser.close()


class Timer:
    """Wall time of each interaction: from the user's action until the page has changed."""

    def __init__(self, sweep: str, runs: int) -> None:
        self.sweep, self.runs, self.rows = sweep, runs, []

    def measure(self, name: str, act, changed) -> float:
        t0 = time.perf_counter()
        act()
        changed()
        seconds = time.perf_counter() - t0
        self.rows.append((name, seconds))
        return seconds

    def write(self) -> None:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        lines = [f"{stamp} sweep={self.sweep} runs={self.runs} interaction={n} s={s:.3f}"
                 for n, s in self.rows]
        with TIMINGS.open("a") as fh:
            fh.write("\n".join(lines) + "\n")
        print("\n".join(lines))


def _table(page) -> str:
    return page.locator(".edwc-table").inner_text()


def _charts(page) -> list[str]:
    return page.locator(".edwc-browser img").evaluate_all("els => els.map(e => e.src)")


def _state(page) -> tuple[str, list[str]]:
    return _table(page), _charts(page)


def _changed(page, before: tuple[str, list[str]], charts: int = 2, table: bool = True):
    """A wait: until ``charts`` chart images (and, if ``table``, the table text) differ from
    ``before``."""
    text, srcs = before

    def wait() -> None:
        page.wait_for_function(
            """([text, srcs, n, table]) => {
                 const t = document.querySelector('.edwc-table');
                 const now = [...document.querySelectorAll('.edwc-browser img')].map(e => e.src);
                 const moved = now.filter((s, i) => s !== srcs[i]).length;
                 return t && (!table || t.innerText !== text) && now.length === srcs.length
                        && moved >= n;
               }""", arg=[text, srcs, charts, table], timeout=WAIT_MS)
    return wait


def _choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the Vuetify select whose label is exactly ``label``."""
    label_re = re.compile(f"^{re.escape(label)}$")
    page.locator(".v-select").filter(
        has=page.locator("label", has_text=label_re)).first.click()
    page.locator(".v-menu__content.menuable__content__active .v-list-item",
                 has_text=option).first.click()


def _rows(table_text: str) -> int:
    """Data rows of the point table (lines after the header that start with a point id)."""
    lines = table_text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("point"))
    return sum(1 for line in lines[start + 1:] if re.match(r"^\d+\t", line))


def test_outcome_filter_year_reference_csv_and_command_in_the_browser(browser_url, sweep_dir):
    query = SweepBrowser(sweep_dir)
    offsite: list[str] = []
    failed: list[str] = []
    timer = Timer(sweep_dir.name, len(query.done))
    try:
        with _offline_page(offsite, failed) as page:
            try:
                _drive(page, browser_url, query, timer)
            except Exception:
                page.screenshot(path=str(ARTIFACTS / "browser-e2e-failure.png"), full_page=True)
                raise
    finally:
        timer.write()
    assert not offsite, f"page asked for something outside the machine: {offsite[:5]}"
    assert not failed, f"failed requests: {failed[:5]}"


def test_a_running_sweep_shows_what_is_done_and_refresh_adds_new_runs(browse_sweep, tmp_path):
    running = tmp_path / "running"
    shutil.copytree(browse_sweep, running)
    held = tmp_path / "held"
    held.mkdir()
    for rid in ("p00001-s2", "p00003-s0"):           # tables written, manifest not yet
        shutil.move(running / store.MANIFESTS / rid, held / rid)
    offsite: list[str] = []
    failed: list[str] = []
    with _serve(running, "server-running.log") as url, _offline_page(offsite, failed) as page:
        page.goto(url)
        page.locator(".edwc-table").wait_for(timeout=2 * WAIT_MS)
        assert "10 of 12 runs done" in page.inner_text("body")
        before = _state(page)
        for rid in ("p00001-s2", "p00003-s0"):       # the two runs finish
            shutil.move(held / rid, running / store.MANIFESTS / rid)
        page.get_by_role("button", name="Refresh").click()
        _changed(page, before)()
        assert "12 of 12 runs done" in page.inner_text("body")
    assert not offsite and not failed, (offsite[:5], failed[:5])


def _drive(page, url: str, query: SweepBrowser, timer: Timer) -> None:
    """Open the sweep, then change outcome, filter, year, reference; CSV; command."""
    timer.measure("open page", lambda: page.goto(url),
                  lambda: page.locator(".edwc-table").wait_for(timeout=2 * WAIT_MS))
    assert f"{len(query.done)} of {query.n_runs} runs done" in page.inner_text("body")
    assert _rows(_table(page)) == len(query.points)
    assert len(_charts(page)) == 2

    before = _state(page)
    timer.measure("outcome", lambda: _choose(page, "Outcome", "CO2 location-based (Mt/yr)"),
                  _changed(page, before))
    assert "Mt/yr" in _table(page) and _rows(_table(page)) == len(query.points)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    axis = [a for a in query.axes if query.numeric_axis(a)][-1]
    lowest = query.axis_values(axis)[0]
    kept = int((query.points[axis] == lowest).sum())
    before = _state(page)

    def narrow() -> None:
        box = page.get_by_label(f"{axis.rsplit('.', 1)[-1]} to")
        box.fill(str(lowest))
        box.press("Enter")
    timer.measure("filter", narrow, _changed(page, before))
    assert _rows(_table(page)) == kept < len(query.points)
    assert f"{kept} of {len(query.points)} design rows selected" in page.inner_text("body")

    if len(query.years) > 1:          # one year: the year's values are the whole run's
        before = _state(page)
        year = str(query.years[-1])
        timer.measure("year", lambda: _choose(page, "Year", year), _changed(page, before))
    before = _state(page)
    timer.measure("aggregation", lambda: _choose(page, "Aggregation", "december"),
                  _changed(page, before))

    kept_points = query.filtered_points({axis: (lowest, lowest)})["point"]
    other = int(kept_points.iloc[-1])
    before = _state(page)
    timer.measure("reference row", lambda: _choose(page, "Reference row", f"p{other}:"),
                  _changed(page, before, charts=1))

    before = _state(page)
    timer.measure("facet", lambda: _choose(page, "Facet", query.axes[0]),
                  _changed(page, before, table=False))
    assert _table(page) == before[0], "the chart axes do not change the table"

    with page.expect_download(timeout=WAIT_MS) as download:
        page.get_by_role("button", name="Download CSV").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [int(r["point"]) for r in rows] == list(kept_points)
    assert {r["diff"] for r in rows if int(r["point"]) == other} == {"0"}

    command = page.locator(".edwc-cmd")
    seed = query.seeds[-1]
    old = command.inner_text()
    timer.measure("reproduce command", lambda: _choose(page, "Seed", str(seed)),
                  lambda: page.wait_for_function(
                      "old => document.querySelector('.edwc-cmd').innerText !== old",
                      arg=old, timeout=WAIT_MS))
    assert command.inner_text().startswith(".venv/bin/python -m model.run scenario=")
    assert f"run.seed={seed}" in command.inner_text()

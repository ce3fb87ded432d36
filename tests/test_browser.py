"""The UI and the report as a person sees them: a real browser (headless Chromium) on the real
webserver after a small `rekindle run`, screenshots kept as test artifacts.

tests/test_ui.py asks the webserver's GraphQL API what the pages would show; this test loads the
pages themselves, so it also catches what only the JavaScript app does wrong (an error banner, a
plot that stays empty, a number that is not on the page). It opens the global asset lineage, the
`metrics` group's lineage, `reactivation_daily`'s Overview with Metadata > Plots, the latest day's
partition with its numbers, and the HTML metrics report from disk with the network off.

Screenshots are written under pytest's temporary folder (kept for the last three sessions) and
their paths printed: `pytest -s -m browser` shows them.

Only `dagster-webserver` is started, not `dagster dev`: the daemon would run the sensors and the
schedule (on by default), whose runs would write the warehouse and change the pages while the
test reads them. The webserver alone serves every page.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest
from dotenv import dotenv_values

from chromium import INSTALL_HINT, Chromium, find_chromium
from rekindle.report import CHART_TITLES

pytestmark = [pytest.mark.slow, pytest.mark.browser]

REPO = Path(__file__).resolve().parents[1]
# The latest complete day, so the data ends where a user's does: the UI plots the latest 120
# partitions of the partition set (which runs to yesterday), and a landing zone that ended longer
# ago than that would leave the Plots tab empty however right its metadata.
END = datetime.now(timezone.utc).date() - timedelta(days=1)
RATE_KEY = "reactivation_rate_30d_p7"  # primary N = 30, P = 7 (rekindle/headlines.py)
WAIT = 120  # seconds for any one thing to appear: the app polls GraphQL on a busy 2-core machine
# what the Dagster UI shows when a page or a query fails (its error components and toasts)
ERROR_TEXTS = (
    "Unexpected error", "An unexpected error occurred", "An unknown error occurred", "An error occurred",
    "Unknown error", "GraphQL Error", "Query Error", "A network error occurred", "Could not load",
    "Code location error", "Code location failed to load", "Python Error", "Python error", "Page not found",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("browser")


@pytest.fixture(scope="module")
def chromium() -> str:
    executable = find_chromium()
    if executable is None:  # CI installs it (.ci/run); skipping would hide a UI that no longer renders
        pytest.fail(f"the browser test needs Chromium, which is not installed: {INSTALL_HINT}", pytrace=False)
    return executable


@pytest.fixture(scope="module")
def pipeline(artifacts) -> dict[str, str]:
    """The environment of a finished `rekindle run` over 40 generated days ending yesterday, run in
    its own folder (the working directory of every command here: `rekindle` and Dagster read the
    .env there, so a developer's .env in the repository does not count)."""
    tmp = artifacts / "pipeline"
    tmp.mkdir()
    generated = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "generate", "--out", str(tmp / "landing"), "--customers", "300",
         "--days", "40", "--end", END.isoformat(), "--env-file", str(tmp / ".env")],
        cwd=tmp, capture_output=True, text=True, timeout=300,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    env = {
        **{name: value for name, value in os.environ.items() if not name.startswith("REKINDLE_")},
        # the first generated day, as `make run` has it: partitions start with the data
        "REKINDLE_START_DATE": dotenv_values(tmp / ".env")["REKINDLE_START_DATE"],
        "REKINDLE_LANDING_DIR": str(tmp / "landing"),
        "REKINDLE_WAREHOUSE_URL": f"duckdb:///{tmp}/warehouse.duckdb",
        "REKINDLE_QUALITY_DOCS_DIR": str(tmp / "docs"),
        "REKINDLE_REPORT_DIR": str(tmp / "reports"),
        "DAGSTER_HOME": str(tmp / "dagster_home"),
        "GX_ANALYTICS_ENABLED": "False",
    }
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "--end", END.isoformat()],
                          env=env, cwd=tmp, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout + done.stderr
    return env


@pytest.fixture(scope="module")
def webserver(pipeline, artifacts):
    port = free_port()
    log = open(artifacts / "webserver.log", "w")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-webserver"), "-w", str(REPO / "workspace.yaml"),
         "-h", "127.0.0.1", "-p", str(port)],
        env=pipeline, cwd=artifacts / "pipeline", stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the code server it starts goes with it
    )
    try:
        deadline = time.monotonic() + WAIT
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"the webserver exited with {server.returncode}: "
                                   f"{(artifacts / 'webserver.log').read_text()[-3000:]}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the webserver did not answer within {WAIT}s") from None
                time.sleep(1)
        # the instance is new, so the UI would open with its community pop-up over the page
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": "mutation { setNuxSeen }"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert json.load(response) == {"data": {"setNuxSeen": True}}
        yield f"http://127.0.0.1:{port}"
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def browser(chromium, artifacts):
    with Chromium(chromium, artifacts / "chromium-profile") as b:
        yield b


def shot(browser: Chromium, artifacts: Path, name: str, full_page: bool = False) -> Path:
    path = browser.screenshot(artifacts / f"{name}.png", full_page=full_page)
    print(f"screenshot: {path}")
    return path


def assert_no_error_shown(browser: Chromium, page: str, since: int) -> None:
    """No error on the page: no error text or Python error box, no uncaught JavaScript exception
    and no failed request to the webserver among the browser's events since event `since`."""
    text = browser.text()
    shown = [phrase for phrase in ERROR_TEXTS if phrase in text]
    if browser.evaluate("document.querySelectorAll('[class*=PythonErrorInfo]').length"):
        shown.append("a Python error")
    events = browser.events[since:]
    shown += [f"JavaScript: {e['params']['exceptionDetails'].get('exception', {}).get('description', e['params'])}"
              for e in events if e["method"] == "Runtime.exceptionThrown"]
    shown += [f"HTTP {e['params']['response']['status']} from {e['params']['response']['url']}"
              for e in events if e["method"] == "Network.responseReceived" and e["params"]["response"]["status"] >= 400]
    assert not shown, f"{page} shows an error: {shown}; the page says: {text[:3000]}"


def metadata_value(key: str) -> str:
    """JavaScript: the text beside `key` in the page's metadata table, null while it is not there."""
    return f"""(() => {{
        const cell = [...document.querySelectorAll('td')].find(td => td.innerText.trim() === {json.dumps(key)});
        return cell && cell.nextElementSibling ? cell.nextElementSibling.innerText.trim() : null;
    }})()"""


def test_asset_graph_shows_every_layer_and_its_assets_health(browser, webserver, artifacts):
    browser.resize(1400, 1000)
    since = len(browser.events)
    browser.navigate(f"{webserver}/asset-groups")
    groups = ["campaigns", "core", "metrics", "raw", "reports", "segments"]
    # the graph's nodes are HTML inside the SVG (foreignObject): one per group, collapsed
    browser.wait_for(f"""(() => {{
        const nodes = [...document.querySelectorAll('foreignObject')].map(node => node.textContent.trim());
        return {json.dumps(groups)}.every(group => nodes.includes(group));
    }})()""", f"the groups {groups} in the global asset lineage", WAIT)
    shot(browser, artifacts, "asset_graph")
    assert_no_error_shown(browser, "the global asset lineage", since)

    # one layer with its nodes in detail: latest event, checks passed, share of the days filled
    browser.resize(1400, 2200)
    since = len(browser.events)
    browser.navigate(f"{webserver}/locations/rekindle/asset-groups/metrics/lineage")
    assets = ["clv_daily", "cohort_retention", "lifecycle_daily", "nps_daily", "purchase_daily",
              "reactivation_daily", "retention_daily"]
    for asset in assets:
        browser.wait_for_text(asset, WAIT)
    # each node's partition health and checks, loaded after the graph (daily assets: "100% filled")
    browser.wait_for(r"(document.body.innerText.match(/% filled/g) || []).length >= 6 && "
                     r"(document.body.innerText.match(/\d+ \/ \d+/g) || []).length >= 7",
                     "the partitions and checks of every node in the metrics group", WAIT)
    shot(browser, artifacts, "metrics_lineage")
    assert_no_error_shown(browser, "the metrics group's lineage", since)


@pytest.fixture(scope="module")
def latest_rate(pipeline) -> float:
    """The warehouse's 7-day reactivation rate (N = 30) on the last day: what the pages must show."""
    warehouse = pipeline["REKINDLE_WAREHOUSE_URL"].removeprefix("duckdb:///")
    with duckdb.connect(warehouse, read_only=True) as db:
        (rate,) = db.execute(
            "SELECT reactivation_rate FROM analytics.reactivation_daily "
            "WHERE as_of_date = ? AND inactivity_days = 30 AND period_days = 7", [END]).fetchone()
    assert rate is not None, f"the sample data has nobody inactive 30+ days at the start of {END}'s 7 days"
    return rate


def test_reactivation_daily_shows_its_rate_and_trend(browser, latest_rate, webserver, artifacts):
    # the Overview: Metadata > Plots, one plot per numeric key over the partitions (the trend)
    browser.resize(1400, 2400)
    since = len(browser.events)
    browser.navigate(f"{webserver}/assets/reactivation_daily")
    browser.wait_for("[...document.querySelectorAll('button')].some(b => b.innerText.trim() === 'Plots')",
                     "the Plots button of the Metadata section", WAIT)
    browser.click_text("Plots")
    # a plot is a canvas (Chart.js) in a box titled with its metadata key
    plotted = browser.wait_for(f"""(() => {{
        const titles = [...document.querySelectorAll('canvas')].map(canvas => {{
            let box = canvas.parentElement;
            while (box && !box.innerText.trim()) box = box.parentElement;
            return box ? box.innerText.trim().split('\\n')[0] : null;
        }});
        return titles.includes({json.dumps(RATE_KEY)}) && titles;
    }})()""", f"a plot of {RATE_KEY}", WAIT)
    shot(browser, artifacts, "reactivation_daily_plots")
    assert_no_error_shown(browser, "reactivation_daily's Overview", since)
    print(f"plots on reactivation_daily's Overview: {plotted}")

    # the latest day's partition: its numbers
    since = len(browser.events)
    browser.navigate(f"{webserver}/assets/reactivation_daily?view=partitions&partition={END.isoformat()}")
    shown = browser.wait_for(metadata_value(RATE_KEY), f"{RATE_KEY} of partition {END}", WAIT)
    shot(browser, artifacts, f"reactivation_daily_{END.isoformat()}")
    assert_no_error_shown(browser, f"reactivation_daily's partition {END}", since)
    assert float(shown) == pytest.approx(latest_rate, abs=1e-6), (
        f"partition {END} shows {RATE_KEY} = {shown}; the warehouse has {latest_rate}"
    )
    for key in ("inactive_at_start_30d_p7", "reactivated_30d_p7", "dagster/row_count"):
        assert browser.evaluate(metadata_value(key)), f"{key} is not on partition {END}"


def test_metrics_report_renders_its_charts_offline(browser, pipeline, latest_rate, artifacts):
    report = Path(pipeline["REKINDLE_REPORT_DIR"]) / "metrics_report.html"
    assert report.is_file(), f"the run wrote no report at {report}"
    chart_files = sorted(p.stem for p in report.parent.glob("*.svg"))
    browser.resize(1400, 1000)
    browser.go_offline()
    try:
        since = len(browser.events)
        browser.navigate(report.as_uri())
        browser.wait_for("document.readyState === 'complete'", "the report, loaded", WAIT)
        # each chart: an inline <svg> in its section, laid out with a size and drawn (lines, bars, glyphs)
        rendered = browser.evaluate("""[...document.querySelectorAll('section')].map(section => {
            const svg = section.querySelector('figure svg');
            const box = svg ? svg.getBoundingClientRect() : null;
            return {id: section.id, width: box ? box.width : 0, height: box ? box.height : 0,
                    marks: svg ? svg.querySelectorAll('path, use, rect').length : 0,
                    empty: (section.querySelector('p.empty') || {}).innerText || null};
        })""")
        latest = browser.evaluate("(document.getElementById('latest') || document.body).innerText")
        rates = browser.evaluate("Object.fromEntries([...document.querySelectorAll('#latest table.rates tbody tr')]"
                                 ".map(row => [...row.cells].map(cell => cell.innerText.trim()))"
                                 ".map(([period, ...cells]) => [period, cells]))")
        shot(browser, artifacts, "metrics_report", full_page=True)
        fetched = [e["params"]["request"]["url"] for e in browser.events[since:]
                   if e["method"] == "Network.requestWillBeSent"]
    finally:
        browser.go_online()

    assert all(url.startswith(("file:", "data:")) for url in fetched), f"the report fetched {fetched}"
    sections = {s["id"]: s for s in rendered if s["id"] in CHART_TITLES}  # not the latest day's numbers
    assert sorted(sections) == sorted(CHART_TITLES), sections
    drawn = sorted(name for name, s in sections.items() if s["width"] > 100 and s["height"] > 100 and s["marks"] > 10)
    assert drawn == chart_files, f"charts drawn in the page {drawn}, SVG files beside it {chart_files}: {sections}"
    for name in ("reactivation_rate", "churn_rate", "retention_rate", "lifecycle"):
        assert name in drawn, f"{name} is not drawn: {sections[name]}"
    for name in set(CHART_TITLES) - set(drawn):  # no data for it: the section says so
        assert sections[name]["empty"], f"{name} is neither drawn nor said to be empty: {sections[name]}"
    # the latest day's numbers above the charts, as `rekindle run` prints them
    assert f"Latest day: {END.isoformat()}" in latest, latest
    shown = rates.get("7 days", ["(no row)"])[0]  # period | reactivation | churn | retention
    assert shown.endswith("%") and float(shown[:-1]) == pytest.approx(100 * latest_rate, abs=0.051), (
        f"the report's 7-day reactivation rate is {shown}; the warehouse has {latest_rate:.2%}: {latest}"
    )

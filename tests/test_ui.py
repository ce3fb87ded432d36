"""The Dagster UI, through the real webserver: after `rekindle run`, the run, the asset graph by
layer and every asset's checks with their results are what `make ui` shows an engineer.
Queried over the webserver's GraphQL API, which is what the UI's pages render."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import date
from pathlib import Path

import pytest

from rekindle.generate import generate_landing_zone

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
END = date(2026, 6, 30)
SPEC_TABLES = {
    "raw_orders": "raw", "raw_events": "raw", "raw_campaign_touches": "raw", "raw_surveys": "raw",
    "customer_daily_activity": "core", "customers": "core",
    "lifecycle_daily": "metrics", "reactivation_daily": "metrics", "retention_daily": "metrics",
    "purchase_daily": "metrics", "clv_daily": "metrics", "cohort_retention": "metrics", "nps_daily": "metrics",
    "inactive_segments": "segments", "inactive_customers": "segments",
    "campaign_performance": "campaigns",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.load(response)
    assert "errors" not in body, body
    return body["data"]


@pytest.fixture(scope="module")
def webserver(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ui")
    generate_landing_zone(tmp / "landing", customers=300, days=60, end_date=END, seed=2)
    env = {
        **os.environ,
        "REKINDLE_LANDING_DIR": str(tmp / "landing"),
        "REKINDLE_WAREHOUSE_URL": f"duckdb:///{tmp}/warehouse.duckdb",
        "REKINDLE_START_DATE": "2026-01-01",
        "REKINDLE_QUALITY_DOCS_DIR": str(tmp / "docs"),
        "DAGSTER_HOME": str(tmp / "dagster_home"),
        "GX_ANALYTICS_ENABLED": "False",
    }
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "--end", END.isoformat()],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1",
         "-p", str(port)],
        env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"webserver did not start: {server.stderr.read() if server.poll() is not None else 'timeout'}")
                time.sleep(1)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_code_location_loads_without_errors(webserver):
    data = graphql(webserver, """{ workspaceOrError { ... on Workspace { locationEntries {
        name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }""")
    (entry,) = data["workspaceOrError"]["locationEntries"]
    assert entry["name"] == "rekindle"
    assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", entry


def test_the_cli_run_is_in_the_runs_list(webserver):
    data = graphql(webserver, """{ runsOrError { ... on Runs { results { jobName status tags { key value } } } } }""")
    (run,) = data["runsOrError"]["results"]
    assert run["jobName"] == "rekindle_daily"
    assert run["status"] == "SUCCESS"
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert tags["dagster/asset_partition_range_end"] == END.isoformat()


def test_asset_graph_has_every_spec_table_in_its_layer(webserver):
    data = graphql(webserver, "{ assetNodes { assetKey { path } groupName } }")
    groups = {"/".join(n["assetKey"]["path"]): n["groupName"] for n in data["assetNodes"]}
    for table, group in SPEC_TABLES.items():
        assert groups.get(table) == group, f"{table} should be in group {group}, is {groups.get(table)}"


def test_every_asset_shows_its_checks_with_results(webserver):
    data = graphql(webserver, """{ assetNodes { assetKey { path } assetChecksOrError { ... on AssetChecks {
        checks { name blocking executionForLatestMaterialization { status evaluation { severity } } } } } } }""")
    checks = {
        "/".join(n["assetKey"]["path"]): {c["name"]: c for c in n["assetChecksOrError"]["checks"]}
        for n in data["assetNodes"]
    }
    for table in SPEC_TABLES:
        contract = checks[table]["contract"]
        assert contract["blocking"] is True
        assert contract["executionForLatestMaterialization"]["status"] == "SUCCEEDED", (table, contract)
    for table in ("raw_orders", "raw_events"):
        anomalies = checks[table]["anomalies"]
        assert anomalies["blocking"] is False
        # evaluated with WARN severity (the sample's 1% of bad rows is normal: it need not fail)
        assert anomalies["executionForLatestMaterialization"]["status"] in ("SUCCEEDED", "FAILED")
        assert anomalies["executionForLatestMaterialization"]["evaluation"]["severity"] == "WARN"
    alerts = {"retention_daily": "churn_rate_alerts", "reactivation_daily": "reactivation_rate_alerts",
              "lifecycle_daily": "active_base_alerts", "customer_daily_activity": "engagement_alerts"}
    for table, name in alerts.items():  # metric alerts: their own steps, run by the same job
        alert = checks[table][name]
        assert alert["blocking"] is False
        assert alert["executionForLatestMaterialization"]["evaluation"]["severity"] == "WARN", (table, alert)

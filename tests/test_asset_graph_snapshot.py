"""A snapshot of the asset graph, as dagster-open-platform keeps one: every asset's key, group,
dependencies, partitions, checks, kinds, owners and table name, and what the jobs, schedules and
sensors target, compared with tests/snapshots/asset_graph.json. A wiring change (a new asset or
dependency, a check gone, a table renamed) then shows in review as a diff of that file.

After an intended change: UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/test_asset_graph_snapshot.py
rewrites the file; commit it with the change.
"""

import difflib
import json
import os
from pathlib import Path

from dagster import DailyPartitionsDefinition

from pipelines.definitions import build_definitions
from rekindle.settings import Settings

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"
UPDATE = "UPDATE_SNAPSHOTS"


def describe_partitions(partitions_def) -> str | None:
    if partitions_def is None:
        return None
    if isinstance(partitions_def, DailyPartitionsDefinition):
        return f"daily from {partitions_def.start:%Y-%m-%d} ({partitions_def.timezone})"
    return type(partitions_def).__name__


def graph_snapshot(settings: Settings) -> dict:
    """What the graph is wired to, in a stable order. Descriptions, column schemas and code
    references are left out: they have their own tests (tests/test_catalog.py)."""
    definitions = build_definitions(settings)
    graph = definitions.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        checks = [graph.get_check_spec(check) for check in node.check_keys]
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(parent.to_user_string() for parent in node.parent_keys),
            "partitions": describe_partitions(node.partitions_def),
            "backfill": node.backfill_policy.policy_type.value if node.backfill_policy else None,
            "checks": sorted(f"{c.name}{' (blocking)' if c.blocking else ''}" for c in checks),
            "kinds": sorted(node.kinds),
            "owners": list(node.owners),
            "table_name": node.metadata.get("dagster/table_name"),
            "freshness": node.freshness_policy is not None,
        }
    jobs = {
        job.name: sorted(k.to_user_string() for k in job.asset_layer.executable_asset_keys)
        for job in definitions.resolve_all_job_defs()
        if not job.name.startswith("__")  # Dagster's implicit job of all assets
    }
    schedules = {s.name: s.job_name for s in definitions.schedules or []}
    sensors = {s.name: s.job_name if s.has_jobs else None for s in definitions.sensors or []}
    return {"assets": assets, "jobs": jobs, "schedules": schedules, "sensors": sensors}


def what_changed(expected: dict, current: dict) -> str:
    """One line naming the assets (and jobs, schedules, sensors) added, removed or changed."""
    parts = []
    for section in sorted(set(expected) | set(current)):
        before, after = expected.get(section, {}), current.get(section, {})
        for label, names in (
            ("added", sorted(set(after) - set(before))),
            ("removed", sorted(set(before) - set(after))),
            ("changed", sorted(n for n in set(before) & set(after) if before[n] != after[n])),
        ):
            if names:
                parts.append(f"{section} {label}: {', '.join(names)}")
    return "; ".join(parts)


def test_asset_graph_matches_the_snapshot():
    # the defaults, whatever the environment says: DuckDB, schema analytics
    snapshot = graph_snapshot(Settings())
    current = json.dumps(snapshot, indent=2, sort_keys=True) + "\n"
    if os.environ.get(UPDATE) == "1":
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(current)
        return
    assert SNAPSHOT.exists(), f"No snapshot yet: create it with {UPDATE}=1 .venv/bin/pytest {__file__}"
    expected = SNAPSHOT.read_text()
    if current != expected:
        diff = "".join(difflib.unified_diff(
            expected.splitlines(keepends=True), current.splitlines(keepends=True),
            fromfile=f"{SNAPSHOT.name} (snapshot)", tofile="the Definitions now",
        ))
        raise AssertionError(
            f"The asset graph differs from {SNAPSHOT} ({what_changed(json.loads(expected), snapshot)}):\n{diff}\n"
            f"If the change is intended, update the snapshot and commit it with the change:\n"
            f"    {UPDATE}=1 .venv/bin/pytest tests/test_asset_graph_snapshot.py"
        )

"""After `make run` the sample data and the daily partitions agree: `rekindle generate --env-file .env`
writes REKINDLE_START_DATE=<first generated day> into the project's .env, which `rekindle` and
`dagster dev` both read from their working directory. Without it the partitions start on
2025-01-01 and a fresh UI shows every daily asset mostly empty."""

from datetime import date

import pytest
from dagster import AssetKey
from dagster._core.secrets.env_file import get_env_var_dict

from pipelines.cli import _local_env_file, main
from pipelines.definitions import build_definitions
from rekindle.generate import write_start_date
from rekindle.landing import list_partition_dates
from rekindle.settings import Settings

END = date(2026, 6, 30)


@pytest.fixture
def generated(tmp_path, monkeypatch, capsys):
    """`make run`'s first step, in a project folder whose .env already holds other settings."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REKINDLE_START_DATE", raising=False)
    (tmp_path / ".env").write_text("REKINDLE_SCHEMA=sample\nREKINDLE_START_DATE=2025-01-01\n")
    code = main(["generate", "--out", "landing", "--customers", "40", "--days", "12", "--end", END.isoformat(),
                 "--no-campaigns", "--no-surveys", "--env-file", ".env"])
    assert code == 0
    return tmp_path, capsys.readouterr().out


def test_generate_writes_the_first_generated_day_into_the_env_file(generated):
    root, output = generated
    first = min(list_partition_dates(root / "landing"))
    assert first == date(2026, 6, 19)  # 12 days through END
    assert f"REKINDLE_START_DATE={first} in .env" in output
    lines = (root / ".env").read_text().splitlines()
    assert "REKINDLE_SCHEMA=sample" in lines  # the file's other settings are kept
    assert [line for line in lines if "REKINDLE_START_DATE=" in line and not line.startswith("#")] == [
        f"REKINDLE_START_DATE={first}"
    ]


def test_rekindle_and_dagster_dev_start_the_partitions_there(generated):
    root, _ = generated
    first = min(list_partition_dates(root / "landing"))
    # what `dagster dev` and `dagster-webserver` load from their working directory
    assert get_env_var_dict(str(root))["REKINDLE_START_DATE"] == first.isoformat()
    # what `rekindle run` / `rekindle status` read, and the code location built from it
    with _local_env_file():
        settings = Settings.from_env()
    assert settings.start_date == first
    asset_graph = build_definitions(settings).resolve_asset_graph()
    for key in ("raw_orders", "customer_daily_activity", "reactivation_daily"):
        assert asset_graph.get(AssetKey(key)).partitions_def.get_first_partition_key() == first.isoformat()


def test_a_variable_set_in_the_environment_wins_and_nothing_is_left_behind(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_start_date(tmp_path / ".env", date(2026, 6, 1))
    write_start_date(tmp_path / ".env", date(2026, 6, 19))  # generated again: the line is replaced
    assert (tmp_path / ".env").read_text().count("REKINDLE_START_DATE=") == 1
    monkeypatch.setenv("REKINDLE_START_DATE", "2026-01-01")
    with _local_env_file() as loaded:
        assert Settings.from_env().start_date == date(2026, 1, 1)
    assert loaded == {}
    monkeypatch.delenv("REKINDLE_START_DATE")
    with _local_env_file() as loaded:
        assert Settings.from_env().start_date == date(2026, 6, 19)
    assert loaded == {"REKINDLE_START_DATE": "2026-06-19"}
    assert Settings.from_env().start_date == Settings().start_date  # removed again after the command

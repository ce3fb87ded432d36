"""rekindle.sql: queries built CTE by CTE with bound values, the running-totals helper and the one
way a refresh replaces rows, on DuckDB and PostgreSQL."""

from datetime import date, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from rekindle.sql import Query, calendar, replace_rows, running_totals, schema_prefix

DAY = date(2025, 3, 1)


def test_a_cte_added_twice_is_kept_once_and_a_clash_is_refused():
    query = Query(["n"])
    query.add_values("windows", "the windows", [{"n": 7}, {"n": 30}])
    query.add_values("windows", "the windows", [{"n": 7}, {"n": 30}])
    query.add("final", "all", "SELECT n FROM windows")
    assert query.sql.count("windows AS (") == 1
    assert query.params == {"windows_n_0": 7, "windows_n_1": 30}
    with pytest.raises(ValueError, match="two different CTEs named windows"):
        query.add_values("windows", "the windows", [{"n": 14}])
    with pytest.raises(ValueError, match="two values for the parameter end"):
        Query(["n"], {"end": DAY}).add("other", "x", "SELECT 1", {"end": DAY + timedelta(days=1)})


def test_running_totals_turn_events_into_the_value_of_each_day(warehouse):
    # a customer active from day 1 to day 3 (+1 on day 1, -1 on day 4), another from day 2 on
    query = Query(["day", "segment", "active", "active_to_date"], {"first_day": DAY, "end": DAY + timedelta(days=4)})
    query.add("calendar", "days", calendar("CAST(:first_day AS DATE)", "CAST(:end AS DATE)"))
    query.add_values("segments", "segments", [{"segment": "a"}])
    query.add("grid", "days x segments", "SELECT calendar.day, segments.segment FROM calendar CROSS JOIN segments")
    query.add("events", "+1 / -1", """
        SELECT CAST(:first_day AS DATE) + 1 AS day, 'a' AS segment, 1 AS active
        UNION ALL SELECT CAST(:first_day AS DATE) + 4, 'a', -1
        UNION ALL SELECT CAST(:first_day AS DATE) + 2, 'a', 1
    """)
    running_totals(query, "totals", "events", "grid", ["segment"], ["active"])
    query.add("final", "all", "SELECT day, segment, active, active_to_date FROM totals")
    with warehouse.begin() as conn:
        rows = conn.execute(sa.text(query.sql + " ORDER BY day"), query.params).fetchall()
    assert [(r.day, r.active, r.active_to_date) for r in rows] == [
        (DAY, 0, 0), (DAY + timedelta(days=1), 1, 1), (DAY + timedelta(days=2), 1, 2),
        (DAY + timedelta(days=3), 0, 2), (DAY + timedelta(days=4), -1, 1),
    ]


def test_replace_rows_rewrites_a_day_range_or_the_whole_table_and_counts(warehouse):
    def lifecycle_query(days: list[date], windows: list[int]) -> Query:
        query = Query(["as_of_date", "inactivity_days", "new_customers", "returning_customers",
                       "reactivated_customers", "dormant_customers", "active_customers", "inactive_customers"],
                      {"days": days})
        query.add_values("windows", "N", [{"inactivity_days": n} for n in windows])
        query.add("final", "one row per day and N", """
            SELECT calendar.day AS as_of_date, windows.inactivity_days, 0 AS new_customers, 0 AS returning_customers,
                   0 AS reactivated_customers, 0 AS dormant_customers, 0 AS active_customers, 0 AS inactive_customers
            FROM (SELECT DISTINCT activity_date AS day FROM {s}.customer_daily_activity) AS calendar
            CROSS JOIN windows
            WHERE calendar.day IN :days
        """.replace("{s}", s))
        return query

    days = [DAY + timedelta(days=i) for i in range(3)]
    with warehouse.begin() as conn:
        s = schema_prefix(conn, warehouse.schema_name)
        for day in days:
            conn.execute(sa.text(f"INSERT INTO {s}.customer_daily_activity VALUES ('c', :day, 0, 0, 1)"), {"day": day})
        table = f"{s}.lifecycle_daily"
        assert replace_rows(conn, table, lifecycle_query(days, [7, 30]), date_column="as_of_date",
                            start=days[0], end=days[-1]) == 6
        # a rewrite of one day says how many rows that day holds, and leaves the others alone
        assert replace_rows(conn, table, lifecycle_query(days[1:2], [7]), date_column="as_of_date",
                            start=days[1], end=days[1]) == 1
        assert conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar() == 5
        # a snapshot replaces everything
        assert replace_rows(conn, table, lifecycle_query(days[:1], [7])) == 1
        assert conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar() == 1


def test_replace_rows_loads_a_frame_and_replaces_only_the_matching_rows(warehouse):
    # the quarantine of one source and day is replaced; the other source's rows of that day stay
    def quarantine(source: str, reasons: list[str]) -> pd.DataFrame:
        return pd.DataFrame({"source": source, "partition_date": DAY, "source_file": f"{source}/a.csv",
                             "reason": reasons, "record": "{}"})

    with warehouse.begin() as conn:
        table = warehouse.qualified("quarantine")
        assert replace_rows(conn, table, quarantine("events", ["duplicate"]), date_column="partition_date",
                            start=DAY, end=DAY, match={"source": "events"}) == 1
        assert replace_rows(conn, table, quarantine("orders", ["duplicate", "superseded"]),
                            date_column="partition_date", start=DAY, end=DAY, match={"source": "orders"}) == 2
        assert replace_rows(conn, table, quarantine("orders", ["malformed_row"]), date_column="partition_date",
                            start=DAY, end=DAY, match={"source": "orders"}) == 1
        rows = conn.execute(sa.text(f"SELECT source, reason FROM {table} ORDER BY source")).fetchall()
    assert [tuple(r) for r in rows] == [("events", "duplicate"), ("orders", "malformed_row")]


def test_the_embedded_duckdb_works_in_bounded_memory_unless_the_url_says_otherwise(tmp_path):
    from resources.warehouse import DUCKDB_MEMORY_LIMIT, WarehouseResource

    assert DUCKDB_MEMORY_LIMIT == "2GB"  # DuckDB shows 2 GB (10^9) as GiB
    for url, shown in ((f"duckdb:///{tmp_path}/a.duckdb", "1.8 GiB"),
                       (f"duckdb:///{tmp_path}/b.duckdb?memory_limit=3GB", "2.7 GiB")):
        warehouse = WarehouseResource(url=url)
        try:
            assert warehouse.scalar("SELECT current_setting('memory_limit')") == shown, url
        finally:
            warehouse.dispose()
    assert sorted(p.name for p in tmp_path.glob("*.duckdb")) == ["a.duckdb", "b.duckdb"]  # the option is no file name

"""Clean-up for tests that make their own PostgreSQL schema."""

import sqlalchemy as sa


def drop_schema(url: str, schema: str) -> None:
    """Drop a test's PostgreSQL schema with everything in it (on an engine of its own)."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        engine.dispose()

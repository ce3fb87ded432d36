"""Dagster resources: the warehouse."""

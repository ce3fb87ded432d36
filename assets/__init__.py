"""Dagster assets, one module per layer: raw, core, metrics (segments and campaigns follow)."""

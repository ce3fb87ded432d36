"""Data Docs page views that compile GX's Jinja templates once per process.

GX builds a new view, and with it a new Jinja environment, for every page it renders, so each
page compiles its ~50 templates again: 0.7 s per published check, most of a one-day run's
Data Docs time. These views share one in-memory bytecode cache, so a template is compiled once
per process and later pages only load the compiled code. The pages are byte-identical.

Named in the Data Docs site config (rekindle.quality.runner._project_config); imported by GX
only when it renders, so importing GX here costs nothing extra.
"""

from __future__ import annotations

from jinja2 import BytecodeCache
from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView


class _ProcessBytecodeCache(BytecodeCache):
    """Compiled templates by name and source checksum (Jinja checks the checksum), in memory."""

    def __init__(self):
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


_CACHE = _ProcessBytecodeCache()


class CachedJinjaPageView(DefaultJinjaPageView):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.env.bytecode_cache = _CACHE


class CachedJinjaIndexPageView(DefaultJinjaIndexPageView):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.env.bytecode_cache = _CACHE

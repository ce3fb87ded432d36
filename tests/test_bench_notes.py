"""`make bench` rewrites BENCHMARKS.md: the hand-written notes of a section survive it."""

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# benchmarks/ is not an installed package: load its runner from the checkout
_spec = importlib.util.spec_from_file_location("benchmarks_run", REPO / "benchmarks" / "run.py")
bench_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_run)
NOTES_MARK, kept_notes = bench_run.NOTES_MARK, bench_run.kept_notes

DOCUMENT = f"""# Benchmarks

## bench_a

```
a: 1 s
```

{NOTES_MARK}

Why a took 1 s.

## bench_b

```
b: 2 s
```
"""


def test_the_notes_of_a_section_are_kept_and_no_others():
    assert kept_notes(DOCUMENT, "bench_a") == f"{NOTES_MARK}\n\nWhy a took 1 s.\n"
    assert kept_notes(DOCUMENT, "bench_b") == ""  # no mark
    assert kept_notes(DOCUMENT, "bench_c") == ""  # no section


def test_the_scale_and_spark_analyses_in_benchmarks_md_are_marked_as_notes():
    document = (REPO / "BENCHMARKS.md").read_text()
    assert "What the two unmet targets would take" in kept_notes(document, "bench_scale")
    assert "On one 2-core machine DuckDB is 3-4x faster than Spark" in kept_notes(document, "bench_spark")

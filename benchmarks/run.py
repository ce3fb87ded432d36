"""`make bench`: run every benchmarks/bench_*.py and write BENCHMARKS.md with the machine and date.

Speed and memory targets live here, never in timed unit tests.
"""

import datetime
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
TARGETS = {
    "bench_quality": "validating a 1,000,000-row daily batch: under 10 s (issue 3)",
    "bench_predict": "BG/NBD fit and scoring of 1,000,000 customers: under 60 s (issue 4)",
    "bench_metrics": "metric cost grows with activity rows, not rows x days (issue 2)",
    "bench_raw": "row validation of a 1,000,000-row partition: a few seconds",
    "bench_pipeline": "`make run` at the default size (20,000 customers, 180 days): under 3 minutes with setup",
    "bench_sensor": "landing sensor over a few thousand day folders: well under a second (issue 5)",
    "bench_scale": "full year at scale S within 2x of hand-written SQL (goal 1.5x); at scale M peak RSS under "
    "4 GiB and 10x faster than pandas; a daily run on 365 days under 10 s and within 1.3x of one on 90 days; "
    "Great Expectations under 15% of the full year (issue 11)",
    "bench_spark": "the full year at scale S on Spark through Spark Connect, local[2] and a local-cluster of two "
    "executors, beside DuckDB; ingestion on Spark itself vs on the Dagster side (issue 12)",
}


# Everything after this line in a section is written by hand (runs too long for every `make bench`,
# profiles, what a figure means) and is kept when make bench rewrites the section above it.
NOTES_MARK = "<!-- notes: written by hand, kept by make bench -->"


def kept_notes(document: str, name: str) -> str:
    """The hand-written notes of section `name` of an existing BENCHMARKS.md ('' when none)."""
    start = document.find(f"## {name}\n")
    if start < 0:
        return ""
    end = document.find("\n## ", start + 1)
    section = document[start:end if end >= 0 else len(document)]
    mark = section.find(NOTES_MARK)
    return section[mark:].rstrip("\n") + "\n" if mark >= 0 else ""


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal"))) / 2**20
    import dagster
    import duckdb
    import great_expectations
    import pandas

    return (f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}, dagster {dagster.__version__}, duckdb {duckdb.__version__}, "
            f"great-expectations {great_expectations.__version__}, pandas {pandas.__version__}")


def main() -> int:
    target = HERE.parent / "BENCHMARKS.md"
    previous = target.read_text() if target.exists() else ""
    names = sorted(p.stem for p in HERE.glob("bench_*.py"))
    sections, failed = [], 0
    for name in names:
        print(f"== {name}", flush=True)
        began = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", f"benchmarks.{name}"], capture_output=True, text=True,
                              env={**os.environ, "GX_ANALYTICS_ENABLED": "False"})
        output = (done.stdout + (done.stderr if done.returncode else "")).strip()
        print(output, flush=True)
        failed += done.returncode != 0
        sections.append(f"## {name}\n\nTarget: {TARGETS.get(name, '-')}. "
                        f"Took {time.perf_counter() - began:.0f} s{'' if done.returncode == 0 else ' (FAILED)'}.\n\n"
                        f"```\n{output}\n```\n"
                        + (f"\n{notes}" if (notes := kept_notes(previous, name)) else ""))
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    target.write_text(
        "# Benchmarks\n\nWritten by `make bench` (`python -m benchmarks.run`); each section is one "
        "`benchmarks/bench_*.py` script, which can also be run alone. What follows a section's notes mark "
        "is written by hand and kept when `make bench` rewrites the section.\n\n"
        f"- Date: {today}\n- Machine: {machine()}\n\n" + "\n".join(sections)
    )
    print("wrote BENCHMARKS.md")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

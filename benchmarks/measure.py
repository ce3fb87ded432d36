"""Run one command and print, as the last line, a JSON of its wall seconds, peak RSS and exit code.

Peak RSS is RUSAGE_CHILDREN's ru_maxrss in this fresh process: the largest resident set of any
process the command started (e.g. the Dagster run worker), not their sum.

    python -m benchmarks.measure -- COMMAND ...   (a COMMAND starting with -m runs this Python)
"""

import json
import resource
import subprocess
import sys
import time


def main() -> None:
    command = sys.argv[1:]
    if command and command[0] == "--":
        command = command[1:]
    if command and command[0] == "-m":
        command = [sys.executable, *command]
    began = time.perf_counter()
    done = subprocess.run(command, stdout=sys.stdout, stderr=sys.stderr)
    seconds = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    sys.stdout.flush()
    print(json.dumps({"seconds": seconds, "peak_rss_mib": peak, "returncode": done.returncode}))


if __name__ == "__main__":
    main()

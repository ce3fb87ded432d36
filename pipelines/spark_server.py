"""A local Spark Connect server for REKINDLE_WAREHOUSE_URL=sc://127.0.0.1:15002 (`make spark`,
`make spark-stop`), started from the installed pyspark package: its jars include Spark Connect
and Hive, so nothing is downloaded; it needs Java 17.

    python -m pipelines.spark_server start [--master local[2]] [--dir data/spark]
    python -m pipelines.spark_server stop [--dir data/spark]

Its tables outlive it: the Hive metastore (embedded Derby) and the Parquet files of the Spark
warehouse both live under --dir, so a restarted server sees the same tables.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

HOST, PORT = "127.0.0.1", 15002
DEFAULT_DIR = Path("data/spark")
DEFAULT_MASTER = "local[2]"
START_TIMEOUT_SECONDS = 120


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def is_listening(host: str = HOST, port: int = PORT) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _environment(state: Path) -> dict[str, str]:
    # the daemon scripts keep their pid file and log under --dir, not in /tmp and site-packages
    return {**os.environ, "SPARK_HOME": str(spark_home()), "SPARK_LOG_DIR": str(state / "logs"),
            "SPARK_PID_DIR": str(state), "SPARK_IDENT_STRING": "rekindle",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYSPARK_PYTHON": sys.executable}


def start(state: Path = DEFAULT_DIR, master: str = DEFAULT_MASTER, driver_memory: str = "4g",
          port: int = PORT) -> None:
    """Start the server in the background and wait until it listens; a no-op when it does already."""
    if is_listening(port=port):
        print(f"Spark Connect is already listening on {HOST}:{port}")
        return
    if shutil.which("java") is None:
        raise SystemExit("Spark needs Java 17: install it (Debian: apt-get install openjdk-17-jre-headless)")
    state = state.resolve()
    state.mkdir(parents=True, exist_ok=True)
    settings = {
        "spark.connect.grpc.binding.address": HOST,
        "spark.connect.grpc.binding.port": str(port),
        "spark.sql.catalogImplementation": "hive",  # tables kept in a metastore, not in memory
        "spark.sql.warehouse.dir": str(state / "warehouse"),
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={state / 'metastore_db'};create=true",
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={state}",
        "spark.driver.memory": driver_memory,
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
    }
    command = [str(spark_home() / "sbin" / "start-connect-server.sh"), "--master", master]
    for key, value in settings.items():
        command += ["--conf", f"{key}={value}"]
    subprocess.run(command, env=_environment(state), cwd=state, check=True, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not is_listening(port=port):
        if time.monotonic() > deadline:
            logs = sorted((state / "logs").glob("*.out"))
            tail = logs[-1].read_text(errors="replace")[-3000:] if logs else "(no log)"
            raise SystemExit(f"Spark Connect did not start within {START_TIMEOUT_SECONDS} s; its log:\n{tail}")
        time.sleep(1)
    print(f"Spark Connect ({master}) listening on {HOST}:{port}: REKINDLE_WAREHOUSE_URL=sc://{HOST}:{port}; "
          f"state and logs in {state}")


def stop(state: Path = DEFAULT_DIR) -> None:
    state = state.resolve()
    subprocess.run([str(spark_home() / "sbin" / "stop-connect-server.sh")], env=_environment(state),
                   cwd=state if state.exists() else None, check=False)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS  # the JVM takes a few seconds to let go of the port
    while is_listening() and time.monotonic() < deadline:
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipelines.spark_server", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="metastore, Spark warehouse and logs")
    parser.add_argument("--master", default=DEFAULT_MASTER, help="local[N] or local-cluster[executors,cores,MiB]")
    parser.add_argument("--driver-memory", default="4g")
    args = parser.parse_args(argv)
    if args.action == "start":
        start(args.dir, args.master, args.driver_memory)
    else:
        stop(args.dir)


if __name__ == "__main__":
    main()

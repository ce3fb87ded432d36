"""A compact progress logger for `rekindle run`: one line per step and per check, not the
full Dagster debug stream (which stays in the run's event log in the UI)."""

from __future__ import annotations

import logging
import sys
import time

from dagster import DagsterEventType, logger

_SHOWN = {
    DagsterEventType.STEP_START,
    DagsterEventType.STEP_SUCCESS,
    DagsterEventType.STEP_FAILURE,
    DagsterEventType.ASSET_CHECK_EVALUATION,
    DagsterEventType.RUN_FAILURE,
}


class _ProgressHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self._started: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        step = meta.get("step_key") or ""
        if event is None:
            if record.levelno >= logging.WARNING:
                self._write(f"  ! {step or 'run'}: {meta.get('orig_message', record.getMessage())}")
            return
        kind = event.event_type
        if kind not in _SHOWN:
            return
        if kind == DagsterEventType.STEP_START:
            self._started[step] = time.monotonic()
            self._write(f"  … {step}")
        elif kind == DagsterEventType.STEP_SUCCESS:
            took = time.monotonic() - self._started.get(step, time.monotonic())
            self._write(f"  ✓ {step} ({took:.1f}s)")
        elif kind == DagsterEventType.STEP_FAILURE:
            error = event.step_failure_data.error if event.step_failure_data else None
            self._write(f"  ✗ {step}: {_root_cause(error)}")
        elif kind == DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            status = "passed" if evaluation.passed else f"FAILED ({evaluation.severity.value})"
            self._write(f"    check {evaluation.asset_key.to_user_string()}:{evaluation.check_name} {status}")
        elif kind == DagsterEventType.RUN_FAILURE:
            error = getattr(event.event_specific_data, "error", None)
            self._write(f"  ✗ run failed: {_root_cause(error) if error else meta.get('orig_message', '')}")

    @staticmethod
    def _write(line: str) -> None:
        print(line, file=sys.stdout, flush=True)


def _root_cause(error) -> str:
    """The innermost error of a chain: what actually went wrong, not Dagster's wrapper."""
    if error is None:
        return "failed"
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


@logger(description="One line per step and asset check; used by `rekindle run`.")
def progress_logger(_init_context) -> logging.Logger:
    log = logging.getLogger("rekindle.progress")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    if not log.handlers:
        log.addHandler(_ProgressHandler())
    return log

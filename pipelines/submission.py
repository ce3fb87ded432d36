"""`rekindle run`'s run, created as a run of the code location `rekindle` of workspace.yaml.

The UI files a run under the code location and job it came from: a run without that origin
(what `job.execute_in_process` records) is missing from the Overview timeline, and its
Re-execute button warns that the job may differ from the original. So the run is created the way
`dagster job launch -w workspace.yaml` creates one, with the workspace's origin
(`remote_job_origin`: location `rekindle`, the repository and the job) and the Python origin a
run worker reconstructs the job from (`job_code_origin`), and then executed right here, in this
process, by `execute_run` with that reconstructable job: the progress lines, the exit status and
the host/pid tags of pipelines/run_health.py stay as they were.

The job is loaded in this process (an in-process code location), not through a code server
subprocess as `dagster job launch` does: the same module, so the same job snapshot as the UI's,
without the server's start-up seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from dagster import DagsterInstance, multi_or_in_process_executor
from dagster._core.definitions.reconstruct import ReconstructableJob
from dagster._core.execution.api import execute_run
from dagster._core.execution.job_execution_result import JobExecutionResult
from dagster._core.remote_origin import (
    CodeLocationOrigin,
    InProcessCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.workspace.load import location_origin_from_module_name, location_origins_from_yaml_paths
from dagster._utils.hosted_user_process import recon_job_from_origin

WORKSPACE_FILE = Path(__file__).resolve().parent.parent / "workspace.yaml"
LOCATION_NAME = "rekindle"  # workspace.yaml and pyproject.toml [tool.dagster]


def workspace_location_origin(workspace_file: Path = WORKSPACE_FILE) -> CodeLocationOrigin:
    """The code location `rekindle` as `dagster dev -w workspace.yaml` loads it. An installed copy
    of the package has no workspace.yaml beside it: then the same module and attribute."""
    if workspace_file.exists():
        for origin in location_origins_from_yaml_paths([str(workspace_file)]):
            if origin.location_name == LOCATION_NAME:
                return origin
        raise ValueError(f"{workspace_file} has no code location named {LOCATION_NAME!r}")
    return location_origin_from_module_name("pipelines.definitions", "defs", None, LOCATION_NAME)


def create_workspace_run(
    instance: DagsterInstance, job_name: str, run_config: Mapping[str, object], tags: Mapping[str, str],
) -> tuple[DagsterRun, ReconstructableJob]:
    """A NOT_STARTED run of `job_name` with the workspace's origin, and the job to execute it with."""
    origin = workspace_location_origin()
    in_process = InProcessCodeLocationOrigin(
        loadable_target_origin=origin.loadable_target_origin, location_name=origin.location_name
    )
    with in_process.create_location(instance) as location:
        (repository,) = location.get_repositories().values()
        python_origin = repository.get_full_job(job_name).get_python_origin()
    job = recon_job_from_origin(python_origin)
    job_def = job.get_definition()
    if job_def.executor_def.name == multi_or_in_process_executor.name:
        # PostgreSQL: a launched run puts each step in a process of its own; this one stays in
        # this process, one line per step, as `rekindle run` always did
        run_config = {**run_config, "execution": {"config": {"in_process": {}}}}
    run = instance.create_run_for_job(
        job_def,
        run_config=run_config,
        tags={**job_def.run_tags, **tags},  # the job's own tags, as a launched run gets them
        # the origin the UI matches against its workspace: the location from workspace.yaml, not
        # the in-process one used to load it here
        remote_job_origin=RemoteJobOrigin(RemoteRepositoryOrigin(origin, repository.name), job_name),
        job_code_origin=python_origin,
    )
    return run, job


def execute_workspace_run(
    instance: DagsterInstance, job_name: str, run_config: Mapping[str, object], tags: Mapping[str, str],
) -> JobExecutionResult:
    """Create the run (see create_workspace_run) and execute it in this process."""
    run, job = create_workspace_run(instance, job_name, run_config, tags)
    return execute_run(job, run, instance)

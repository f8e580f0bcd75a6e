"""DockerRunLauncher that honours per-run placement tags (a model's image, CPU and memory).

The stock `dagster_docker.DockerRunLauncher` takes the image and `container_kwargs` only from the
instance and the code location; a run's tags cannot change them. lume_assets places each model
by tags (`lume_assets.deploy.placement`), so this subclass reads two of them:

- `docker/image`: the image to run (wins over the code location's and the launcher's image);
- `docker/container_kwargs`: JSON kwargs for `containers.create` (e.g. `nano_cpus`, `mem_limit`),
  merged key by key over the launcher's `container_kwargs` (volumes, auto_remove... are kept).

Everything else (env vars, networks, registry login, health checks, termination) is the stock
launcher's code.
"""

import json

from dagster._core.launcher.base import LaunchRunContext, ResumeRunContext
from dagster._core.storage.dagster_run import DagsterRun
from dagster._grpc.types import ExecuteRunArgs, ResumeRunArgs
from dagster_docker import DockerRunLauncher
from dagster_docker.container_context import DockerContainerContext
from dagster_docker.utils import validate_docker_config, validate_docker_image

from lume_assets.deploy.placement import DOCKER_IMAGE_TAG, DOCKER_KWARGS_TAG
from lume_assets.errors import DeploymentError


def run_container_kwargs(run: DagsterRun) -> dict:
    """Return the `docker/container_kwargs` of `run` (empty if absent), validated."""
    raw = run.tags.get(DOCKER_KWARGS_TAG)
    if not raw:
        return {}
    try:
        kwargs = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise DeploymentError(
            f"Run tag {DOCKER_KWARGS_TAG}={raw!r} is not JSON ({exc}); give a JSON object such "
            'as {"mem_limit": 1073741824}.'
        ) from None
    if not isinstance(kwargs, dict):
        raise DeploymentError(f"Run tag {DOCKER_KWARGS_TAG} must be a JSON object, got {raw!r}.")
    try:
        validate_docker_config(None, None, kwargs)
    except Exception as exc:
        raise DeploymentError(f"Run tag {DOCKER_KWARGS_TAG}: {exc}") from None
    return kwargs


class LumeDockerRunLauncher(DockerRunLauncher):
    """Launches each run in a Docker container, placed by the run's `docker/*` tags."""

    def get_container_context(self, dagster_run: DagsterRun) -> DockerContainerContext:
        """Return the stock container context with the run's `container_kwargs` merged over."""
        context = super().get_container_context(dagster_run)
        kwargs = run_container_kwargs(dagster_run)
        if kwargs:
            context = context.merge(DockerContainerContext(container_kwargs=kwargs))
        return context

    def image_for_run(self, run: DagsterRun) -> str:
        """Return the run's image: the `docker/image` tag, else the code location's/launcher's."""
        tagged = run.tags.get(DOCKER_IMAGE_TAG)
        if tagged:
            try:
                validate_docker_image(tagged)
            except Exception:
                raise DeploymentError(
                    f"Run tag {DOCKER_IMAGE_TAG}={tagged!r} is not a valid image reference; "
                    "use e.g. 'registry.example.org/lume/model:1.0'."
                ) from None
            return tagged
        if run.job_code_origin is None:
            raise DeploymentError(
                f"Run {run.run_id} has no code origin; launch it from a workspace."
            )
        try:
            return self._get_docker_image(run.job_code_origin)
        except Exception as exc:
            raise DeploymentError(
                f"No image for run {run.run_id}: set run_launcher.config.image in dagster.yaml, "
                f"the code location's image, or the model's resources.image ({exc})."
            ) from None

    def _start(self, run: DagsterRun, args_cls: type[ExecuteRunArgs | ResumeRunArgs]) -> None:
        """Start a container running `dagster api execute_run` / `resume_run` for `run`."""
        command = args_cls(
            job_origin=run.job_code_origin,
            run_id=run.run_id,
            instance_ref=self._instance.get_ref(),
        ).get_command_args()
        self._launch_container_with_command(run, self.image_for_run(run), command)

    def launch_run(self, context: LaunchRunContext) -> None:
        """Start the run worker container."""
        self._start(context.dagster_run, ExecuteRunArgs)

    def resume_run(self, context: ResumeRunContext) -> None:
        """Restart the run worker container of an interrupted run."""
        self._start(context.dagster_run, ResumeRunArgs)

"""Per-model placement: a model's CPU, memory, image and node selector as run-launcher tags.

A model declares what it needs as `ModelSpec.resources` (`ModelResources`); `placement_tags`
turns that into the tags the launchers read:

- Kubernetes (`K8sRunLauncher`, `k8s_job_executor`): the `dagster-k8s/config` tag. The model's
  CPU/memory become resource *requests*, merged DEEP into the launcher's `resources`, so the
  launcher's limits are kept (a SHALLOW merge would replace the launcher's whole
  `container_config.resources` with the model's). A request above the launcher's limit makes an
  invalid pod; `check_within_limits` refuses it before launch.
- Docker (`LumeDockerRunLauncher`): `docker/image` and `docker/container_kwargs`
  (`nano_cpus`, `mem_limit`), merged over the launcher's `container_kwargs`.

The canonical declaration travels as JSON in the `lume/resources` tag, so the resources of a run
over several models can be combined (`combine_resources`, `run_placement_tags`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from lume_assets.errors import DeploymentError
from lume_assets.models.model import ModelResources

RESOURCES_TAG = "lume/resources"
K8S_CONFIG_TAG = "dagster-k8s/config"
DOCKER_IMAGE_TAG = "docker/image"
DOCKER_KWARGS_TAG = "docker/container_kwargs"


#: Kubernetes quantity suffixes: power of the base (1024 for "Ki".."Ei", else 1000).
_EXPONENTS = {"n": -3, "u": -2, "m": -1, "k": 1, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}


def parse_quantity(quantity: Any) -> Decimal:
    """A Kubernetes quantity ("500m", "2", "4Gi") as a Decimal, as `kubernetes.utils` parses it.

    Written out here because the models' placement tags are computed whenever the definitions
    load, and importing the Kubernetes client for it cost 0.6 s on every command.
    """
    if isinstance(quantity, bool):
        raise TypeError("a quantity is a number or a string, not a bool")
    if isinstance(quantity, int | float | Decimal):
        return Decimal(quantity)
    text = str(quantity)
    number, base, suffix = text, 1000, ""
    if len(text) >= 2 and text[-1] == "i" and text[-2] in _EXPONENTS:
        number, base, suffix = text[:-2], 1024, text[-2]
        if suffix == "k":  # SI inconsistency kept from Kubernetes: "Ki", never "ki"
            raise ValueError(f"{text} has unknown suffix")
    elif text and text[-1] in _EXPONENTS:
        number, suffix = text[:-1], text[-1]
    try:
        value = Decimal(number)
    except ArithmeticError:
        raise ValueError(f"Invalid number format: {number}") from None
    return value * (Decimal(base) ** _EXPONENTS[suffix]) if suffix else value


def _quantity(value: Any, field: str) -> Decimal:
    """Parse a Kubernetes quantity ("500m", "2", "4Gi") or raise a message naming the field."""
    try:
        parsed = parse_quantity(value)
    except (ValueError, TypeError, ArithmeticError):
        parsed = None
    if parsed is None or parsed <= 0:
        example = "'500m' or '2' (cores)" if field == "cpu" else "'512Mi' or '4Gi' (bytes)"
        raise DeploymentError(
            f"resources.{field}={value!r} is not a positive Kubernetes quantity; use e.g. {example}"
        )
    return parsed


def is_empty(resources: ModelResources) -> bool:
    """Return whether a model declares no resources at all."""
    return not (resources.cpu or resources.memory or resources.image or resources.node_selector)


def cpu_cores(resources: ModelResources) -> Decimal | None:
    """Return the model's CPU request in cores."""
    return None if resources.cpu is None else _quantity(resources.cpu, "cpu")


def memory_bytes(resources: ModelResources) -> int | None:
    """Return the model's memory request in bytes."""
    return None if resources.memory is None else int(_quantity(resources.memory, "memory"))


def k8s_config(resources: ModelResources) -> dict[str, Any]:
    """Return the `dagster-k8s/config` value: requests, image, node selector, DEEP merge."""
    requests = {k: v for k, v in (("cpu", resources.cpu), ("memory", resources.memory)) if v}
    container: dict[str, Any] = {}
    if requests:
        container["resources"] = {"requests": requests}
    if resources.image:
        container["image"] = resources.image
    config: dict[str, Any] = {"merge_behavior": "DEEP"}
    if container:
        config["container_config"] = container
    if resources.node_selector:
        config["pod_spec_config"] = {"node_selector": dict(resources.node_selector)}
    return config


def docker_container_kwargs(resources: ModelResources) -> dict[str, Any]:
    """Return docker-py `containers.create` kwargs for the model's CPU and memory."""
    kwargs: dict[str, Any] = {}
    cores = cpu_cores(resources)
    if cores is not None:
        kwargs["nano_cpus"] = int(cores * Decimal(1_000_000_000))
    mem = memory_bytes(resources)
    if mem is not None:
        kwargs["mem_limit"] = mem
    return kwargs


def placement_tags(resources: ModelResources | None) -> dict[str, str]:
    """Return the tags that place a model on Kubernetes and Docker (empty if nothing declared)."""
    if resources is None or is_empty(resources):
        return {}
    tags = {
        RESOURCES_TAG: resources.model_dump_json(exclude_defaults=True),
        K8S_CONFIG_TAG: json.dumps(k8s_config(resources), sort_keys=True),
    }
    kwargs = docker_container_kwargs(resources)
    if kwargs:
        tags[DOCKER_KWARGS_TAG] = json.dumps(kwargs, sort_keys=True)
    if resources.image:
        tags[DOCKER_IMAGE_TAG] = resources.image
    return tags


def resources_from_tags(tags: Mapping[str, Any]) -> ModelResources | None:
    """Return the `ModelResources` declared in `tags` (the `lume/resources` tag), if any."""
    raw = tags.get(RESOURCES_TAG)
    if raw is None:
        return None
    return (
        ModelResources.model_validate_json(raw) if isinstance(raw, str) else ModelResources(**raw)
    )


def combine_resources(declared: Iterable[ModelResources | None]) -> ModelResources | None:
    """Combine the resources of the models in one run: largest CPU/memory, one image.

    Raises DeploymentError when two models ask for different images or conflicting node labels,
    since one run executes in a single container/pod.
    """
    items = [r for r in declared if r is not None and not is_empty(r)]
    if not items:
        return None
    cpu = max((r for r in items if r.cpu), key=cpu_cores, default=None)
    mem = max((r for r in items if r.memory), key=memory_bytes, default=None)
    images = sorted({r.image for r in items if r.image})
    if len(images) > 1:
        raise DeploymentError(
            f"The models in this run ask for different images {images}; one run uses one "
            "container. Launch them in separate runs or give them the same image."
        )
    selector: dict[str, str] = {}
    for r in items:
        for key, value in r.node_selector.items():
            if selector.setdefault(key, value) != value:
                raise DeploymentError(
                    f"The models in this run need node label {key}={selector[key]!r} and "
                    f"{key}={value!r}; one pod cannot satisfy both. Launch them separately."
                )
    return ModelResources(
        cpu=cpu.cpu if cpu else None,
        memory=mem.memory if mem else None,
        image=images[0] if images else None,
        node_selector=selector,
    )


def run_placement_tags(op_tags: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Return run tags placing a run whose steps carry `op_tags` (one mapping per step)."""
    return placement_tags(combine_resources(resources_from_tags(t) for t in op_tags))


def check_within_limits(resources: ModelResources, launcher_resources: Mapping[str, Any]) -> None:
    """Raise DeploymentError if a request exceeds the launcher's limit (an invalid pod)."""
    limits = (launcher_resources or {}).get("limits") or {}
    for name, value in (("cpu", resources.cpu), ("memory", resources.memory)):
        if value is None or name not in limits:
            continue
        if _quantity(value, name) > _quantity(limits[name], name):
            raise DeploymentError(
                f"The model requests {name}={value} but the run launcher's limit is "
                f"{name}={limits[name]}; lower the model's {name} or raise "
                f"run_launcher.config.resources.limits.{name} in dagster.yaml."
            )

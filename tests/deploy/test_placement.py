"""Model resources → launcher tags: validation, Kubernetes/Docker shapes, combining per run."""

from __future__ import annotations

import json

import dagster as dg
import pytest
from dagster_k8s.container_context import K8sContainerContext
from dagster_k8s.job import get_user_defined_k8s_config
from pydantic import ValidationError

from lume_assets.deploy.docker_launcher import LumeDockerRunLauncher, run_container_kwargs
from lume_assets.deploy.jobs import group_job
from lume_assets.deploy.placement import (
    DOCKER_IMAGE_TAG,
    DOCKER_KWARGS_TAG,
    K8S_CONFIG_TAG,
    ModelResources,
    check_within_limits,
    combine_resources,
    cpu_cores,
    memory_bytes,
    placement_tags,
    resources_from_tags,
)
from lume_assets.errors import DeploymentError


def test_quantities_convert_to_cores_and_bytes() -> None:
    """Kubernetes quantity strings become cores and bytes for Docker and limit checks."""
    r = ModelResources(cpu="1.5", memory="512Mi", image="lume/model:1")
    assert str(cpu_cores(r)) == "1.5"
    assert memory_bytes(r) == 512 * 1024**2
    assert cpu_cores(ModelResources(cpu="250m")) * 4 == 1
    assert cpu_cores(ModelResources()) is None and memory_bytes(ModelResources()) is None


@pytest.mark.parametrize(("field", "value"), [("cpu", "lots"), ("memory", "4 GB")])
def test_malformed_quantities_are_refused_at_declaration(field: str, value: str) -> None:
    """ModelSpec's resources refuse a value that is not a quantity, naming it."""
    with pytest.raises(ValidationError, match="is not a Kubernetes quantity"):
        ModelResources(**{field: value})


@pytest.mark.parametrize(("field", "value"), [("cpu", "0"), ("memory", "0Mi")])
def test_zero_resources_are_refused_when_placing(field: str, value: str) -> None:
    """A zero request cannot place a container: DeploymentError naming field and fix."""
    with pytest.raises(DeploymentError, match=rf"resources.{field}='{value}' is not a positive"):
        placement_tags(ModelResources(**{field: value}))


def test_placement_tags_are_what_dagster_k8s_reads() -> None:
    """The dagster-k8s/config tag parses with dagster-k8s's own schema, DEEP merge."""
    r = ModelResources(cpu="2", memory="4Gi", image="lume/m:2", node_selector={"pool": "big"})
    tags = placement_tags(r)
    assert all(isinstance(v, str) for v in tags.values())
    parsed = get_user_defined_k8s_config(tags)
    assert parsed.container_config == {
        "resources": {"requests": {"cpu": "2", "memory": "4Gi"}},
        "image": "lume/m:2",
    }
    assert parsed.pod_spec_config == {"node_selector": {"pool": "big"}}
    assert parsed.merge_behavior.value == "DEEP"
    assert json.loads(tags[DOCKER_KWARGS_TAG]) == {
        "nano_cpus": 2_000_000_000,
        "mem_limit": 4 * 1024**3,
    }
    assert tags[DOCKER_IMAGE_TAG] == "lume/m:2"
    assert resources_from_tags(tags) == r


def test_deep_merge_keeps_launcher_limits_and_adds_model_requests() -> None:
    """Merged over a launcher's resources, the model's requests replace, limits stay."""
    launcher = K8sContainerContext(
        resources={"requests": {"cpu": "100m"}, "limits": {"cpu": "4", "memory": "8Gi"}}
    )
    tags = placement_tags(ModelResources(cpu="2", memory="1Gi"))
    merged = launcher.merge(K8sContainerContext(run_k8s_config=get_user_defined_k8s_config(tags)))
    assert merged.run_k8s_config.container_config["resources"] == {
        "requests": {"cpu": "2", "memory": "1Gi"},
        "limits": {"cpu": "4", "memory": "8Gi"},
    }


def test_no_declared_resources_means_no_tags() -> None:
    """A model without resources leaves the launcher's defaults alone."""
    assert placement_tags(None) == {}
    assert placement_tags(ModelResources()) == {}
    assert combine_resources([None, ModelResources()]) is None


def test_combining_models_in_one_run_takes_the_largest_needs() -> None:
    """One run, one container: largest CPU and memory, merged node labels, the one image."""
    combined = combine_resources(
        [
            ModelResources(cpu="500m", memory="8Gi", node_selector={"zone": "a"}),
            ModelResources(cpu="2", memory="1Gi", image="lume/x:1", node_selector={"gpu": "no"}),
            None,
        ]
    )
    assert combined == ModelResources(
        cpu="2", memory="8Gi", image="lume/x:1", node_selector={"zone": "a", "gpu": "no"}
    )


def test_combining_conflicting_models_is_refused() -> None:
    """Different images or contradicting node labels cannot share one container."""
    with pytest.raises(DeploymentError, match=r"different images \['a:1', 'b:1'\]"):
        combine_resources([ModelResources(image="a:1"), ModelResources(image="b:1")])
    with pytest.raises(DeploymentError, match="node label zone='a' and zone='b'"):
        combine_resources(
            [
                ModelResources(node_selector={"zone": "a"}),
                ModelResources(node_selector={"zone": "b"}),
            ]
        )


def test_requests_above_the_launcher_limits_are_refused() -> None:
    """check_within_limits names the resource, both values and where to change them."""
    limits = {"limits": {"cpu": "4", "memory": "8Gi"}}
    check_within_limits(ModelResources(cpu="4", memory="8Gi"), limits)
    check_within_limits(ModelResources(cpu="64"), {"requests": {"cpu": "1"}})  # no limit set
    with pytest.raises(DeploymentError, match=r"memory=9Gi.*limit is memory=8Gi.*dagster.yaml"):
        check_within_limits(ModelResources(memory="9Gi"), limits)


def test_group_job_selects_the_group_and_carries_combined_tags() -> None:
    """The group job runs the group's unpartitioned assets, tagged with their combined needs."""

    @dg.asset(group_name="g", op_tags=placement_tags(ModelResources(cpu="1", memory="2Gi")))
    def small() -> int:
        return 1

    @dg.asset(group_name="g", op_tags=placement_tags(ModelResources(cpu="3", memory="1Gi")))
    def big(small: int) -> int:
        return small + 1

    @dg.asset(group_name="other")
    def elsewhere() -> int:
        return 0

    @dg.asset(group_name="g", partitions_def=dg.StaticPartitionsDefinition(["p1", "p2"]))
    def scanned() -> int:
        return 2

    defs = dg.Definitions(
        assets=[small, big, elsewhere, scanned],
        jobs=[group_job([small, big, elsewhere, scanned], "g", "g_job")],
    )
    job = defs.resolve_job_def("g_job")
    assert set(job.asset_layer.executable_asset_keys) >= {small.key, big.key}
    assert elsewhere.key not in job.asset_layer.selected_asset_keys
    assert scanned.key not in job.asset_layer.selected_asset_keys
    assert resources_from_tags(job.tags) == ModelResources(cpu="3", memory="2Gi")
    assert json.loads(job.tags[K8S_CONFIG_TAG])["container_config"]["resources"] == {
        "requests": {"cpu": "3", "memory": "2Gi"}
    }
    assert job.execute_in_process().success


def test_docker_launcher_reads_placement_tags() -> None:
    """LumeDockerRunLauncher merges the run's container kwargs over its own and picks the image."""
    launcher = LumeDockerRunLauncher(
        image="lume/default:1", container_kwargs={"auto_remove": True, "volumes": ["/a:/b"]}
    )
    tags = placement_tags(ModelResources(cpu="1", memory="1Gi", image="lume/model:3"))
    run = dg.DagsterRun(job_name="j", run_id="r1", tags=tags)
    context = launcher.get_container_context(run)
    assert context.container_kwargs == {
        "auto_remove": True,
        "volumes": ["/a:/b"],
        "nano_cpus": 1_000_000_000,
        "mem_limit": 1024**3,
    }
    assert launcher.image_for_run(run) == "lume/model:3"


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("{not json", "is not JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"image": "x:1"}', "'image' cannot be used in 'container_kwargs'"),
    ],
)
def test_bad_docker_kwargs_tag_is_refused(raw: str, fragment: str) -> None:
    """A malformed docker/container_kwargs tag fails with a DeploymentError saying why."""
    run = dg.DagsterRun(job_name="j", run_id="r2", tags={DOCKER_KWARGS_TAG: raw})
    with pytest.raises(DeploymentError, match=fragment):
        run_container_kwargs(run)


def test_bad_docker_image_tag_is_refused() -> None:
    """An invalid docker/image tag fails before any container is created."""
    launcher = LumeDockerRunLauncher(image="lume/default:1")
    run = dg.DagsterRun(job_name="j", run_id="r3", tags={DOCKER_IMAGE_TAG: "Not/Valid Image"})
    with pytest.raises(DeploymentError, match="not a valid image reference"):
        launcher.image_for_run(run)


def test_every_model_asset_kind_carries_the_models_placement() -> None:
    """model_asset (plain and partitioned) and scan_asset all tag the model's resources."""
    from lume_assets.assets.model_assets import model_asset
    from lume_assets.assets.scan_asset import scan_asset
    from lume_assets.assets.scan_grid import LinSpace, ScanSpec
    from lume_assets.automation.model_partitions import table_inputs
    from lume_assets.demo.focus_model import FOCUS
    from lume_assets.models.model import ModelResources

    wanted = ModelResources(cpu="2", memory="3Gi", image="lume/focus:1")
    spec = FOCUS.model_copy(update={"resources": wanted})
    inputs = {k: dict(k=1.0, drift=1.0) for k in ("a", "b")}
    built = {
        "model_asset": model_asset(spec),
        "partitioned model_asset": model_asset(
            spec,
            partitions_def=dg.StaticPartitionsDefinition(["a", "b"]),
            partition_inputs=table_inputs(inputs),
        ),
        "scan_asset": scan_asset(
            spec, ScanSpec(name="grid", axes={"k": LinSpace(start=1, stop=2, num=4)}, chunk_size=2)
        ),
    }
    for kind, assets_def in built.items():
        tags = assets_def.op.tags
        assert resources_from_tags(tags) == wanted, kind
        assert tags["lume/model"] == FOCUS.name and tags["lume/version"] == FOCUS.version, kind

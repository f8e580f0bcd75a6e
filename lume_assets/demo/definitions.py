"""The demo code location (`lume_assets`): the demo models, their automation and the example
graphs (`defs/`, one `lume_assets.ModelGraph` component each), plus `LUME_GRAPHS_DIR`.

Serve it with `lume-assets dev` or `dagster dev` in the repository (pyproject `[tool.dagster]`);
importing it writes nothing to any database.
"""

from __future__ import annotations

import importlib

import dagster as dg
from dagster.components.core.component_tree import ComponentTree

from lume_assets.assets.model_config import launchpad_jobs
from lume_assets.demo import GRAPHS_DIR
from lume_assets.demo.assets import demo_assets, demo_checks, demo_models
from lume_assets.demo.automation import build_demo_automation
from lume_assets.demo.focus_model import FOCUS
from lume_assets.deploy.jobs import group_job
from lume_assets.deploy.launch import DEMO_JOB
from lume_assets.models.model import ModelSpec
from lume_assets.serving import build_resources, definitions, graph_folders, serve

#: The code-location name everywhere: dev, launch, workspace.yaml, Docker and Kubernetes.
LOCATION_NAME = "lume_assets"
#: The models this location serves directly (graph nodes add theirs).
MODELS: list[ModelSpec] = [*demo_models, FOCUS]


def component_definitions() -> dg.Definitions:
    """The demo's defs folder loaded as Dagster Components.

    Built at the defs folder rather than the tree's root: the root adds Dagster's catalogue of
    every installed component type (a JSON schema per type, about a third of a second per load
    of the location) that only `dg` tooling reads. The tree stays attached for Dagit.
    """
    module = importlib.import_module("lume_assets.demo.defs")
    tree = ComponentTree.from_module(defs_module=module, project_root=GRAPHS_DIR.parent)
    return dg.Definitions.merge(tree.build_defs(GRAPHS_DIR), dg.Definitions(component_tree=tree))


def build_definitions() -> dg.Definitions:
    """The demo location's Definitions (resources follow the current LUME_* settings)."""
    serve(MODELS)
    automation = build_demo_automation()
    demo = dg.Definitions(
        assets=[*demo_assets, *automation["assets"]],
        asset_checks=demo_checks,
        jobs=[
            group_job(demo_assets, "demo", DEMO_JOB),
            *launchpad_jobs(demo_assets),
            *automation["jobs"],
        ],
        sensors=automation["sensors"],
        schedules=automation["schedules"],
        resources=build_resources(),
    )
    extra = definitions(graph_dirs=graph_folders(), with_resources=False)
    return dg.Definitions.merge(component_definitions(), demo, extra)


defs = build_definitions()

"""A code location for the backfill-daemon test: 100 static partitions of the cheap model."""

import dagster as dg

from lume_assets.assets.model_assets import model_asset
from lume_assets.automation.model_partitions import table_inputs
from lume_assets.io_managers.registry import RegistryResource
from lume_assets.io_managers.results import ResultIOManager, ResultStoreResource
from lume_assets.settings import get_settings
from tests.automation.conftest import make_cheap_spec

KEYS = [f"p{i:03d}" for i in range(100)]
TABLE = {k: {"x": float(i), "y": 1.0} for i, k in enumerate(KEYS)}

cheap = model_asset(
    make_cheap_spec(),
    partitions_def=dg.StaticPartitionsDefinition(KEYS),
    partition_inputs=table_inputs(TABLE),
)
_store = ResultStoreResource(url=get_settings().resolved_results_url())
defs = dg.Definitions(
    assets=[cheap],
    resources={
        "result_store": _store,
        "result_io_manager": ResultIOManager(result_store=_store),
        "registry": RegistryResource(),
    },
)

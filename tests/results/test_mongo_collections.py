"""MongoDB collection names are portable: the default project works on every Mongo server.

Runs over the wire against nx-27017 (or $LUME_TEST_MONGO_URI). With an external server that
ignores database names, each test still uses its own project or inputs, so tests stay isolated.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pymongo
import pytest

from lume_assets.errors import ConfigError
from lume_assets.storage.mongo_store import MongoResultStore, collection_name
from tests.dagit_server import lume_assets_exe, project_env
from tests.results.test_store_behaviour import make_result


def test_the_default_project_stores_and_reads_results(
    store_url: Callable[[str], str], tmp_path: Path
) -> None:
    url = store_url("mongodb")
    result = make_result(int(uuid.uuid4().int % 10**9))  # unique inputs on a shared server
    with MongoResultStore(url, files_root=tmp_path) as store:  # project "default"
        assert store.collection.name == "lume_results_default"
        store.put(result)
        assert store.get(result.inputs_hash).outputs == result.outputs
        assert store.location.endswith(".lume_results_default")


@pytest.mark.parametrize("project", ["a-b", "a.b", "", "x" * 65, "$cmd", "système", "a b"])
def test_a_project_that_cannot_name_a_collection_is_refused_before_connecting(
    project: str,
) -> None:
    with pytest.raises(ConfigError, match=r"^project .* cannot name a MongoDB collection.*_"):
        MongoResultStore("mongodb://127.0.0.1:1/never", project=project, timeout_s=0.1)


def test_collection_names_are_prefixed() -> None:
    assert collection_name("demo") == "lume_results_demo"
    assert collection_name("select") == "lume_results_select"  # SQL keywords are safe too


def test_the_cli_runs_the_default_configuration_against_a_mongo_server(
    mongo_uri: str, tmp_path: Path
) -> None:
    base = mongo_uri.rstrip("/")
    url = f"{base}/bars" if base.count("/") == 2 else base
    env = project_env(tmp_path / "lume", tmp_path / "dagster")
    env["LUME_RESULTS_URL"] = url
    k_f = round(2.0 + uuid.uuid4().int % 1000 / 1e4, 4)  # fresh inputs on a shared server
    ran = subprocess.run(
        [lume_assets_exe(), "run", "beam_envelope", "--input", f"k_f={k_f}", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert ran.returncode == 0, ran.stderr
    stored = json.loads(ran.stdout)
    with pymongo.MongoClient(url, serverSelectionTimeoutMS=5000) as client:
        doc = client.get_default_database()[collection_name("default")].find_one(
            {"inputs_hash": stored["inputs_hash"]}
        )
    assert doc is not None and doc["inputs"]["k_f"] == k_f

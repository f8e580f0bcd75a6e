"""The model registry on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from lume_assets.errors import RegistryError
from lume_assets.models.model import ModelSpec
from lume_assets.models.registry import ModelRegistry
from lume_assets.models.variables import ScalarVariable


@pytest.fixture(params=["sqlite", "postgresql"])
def registry(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'sub' / 'registry.db'}"
    else:
        base = request.getfixturevalue("postgres_server")
        url = base.database_url(f"reg_{uuid.uuid4().hex[:10]}")
    reg = ModelRegistry(url)
    yield reg
    reg.close()


def model_v1(x: float) -> dict:
    return {"y": x}


def model_v1_edited(x: float) -> dict:
    return {"y": 2 * x}


def spec(fn=model_v1, version: str = "1.0", **extra) -> ModelSpec:
    return ModelSpec(
        name="toy",
        version=version,
        description="a toy",
        inputs=[ScalarVariable(name="x", default=1.0)],
        outputs=[ScalarVariable(name="y")],
        function=fn,
        author="ada",
        laboratory="SLAC",
        facility="LCLS",
        beampath="cu_hxr",
        project="demo",
        **extra,
    )


def test_register_spec_is_idempotent(registry: ModelRegistry) -> None:
    first = registry.register_spec(spec())
    again = registry.register_spec(spec())
    assert first == again
    assert first.is_live and first.project == "demo" and first.model_name == "toy"
    assert first.import_path.endswith(":model_v1")
    assert len(first.source_sha256) == 64
    assert len(registry.list_models()) == 1
    assert len(registry.list_deployments("toy")) == 1
    assert registry.get_project("demo").name == "demo"


def test_new_version_becomes_live_and_old_is_retired(registry: ModelRegistry) -> None:
    v1 = registry.register_spec(spec())
    v2 = registry.register_spec(
        spec(model_v1_edited, version="2.0", resources={"image": "lume/toy:2"})
    )
    assert v2.model_id == v1.model_id and v2.id != v1.id
    assert v2.image == "lume/toy:2"
    assert registry.get_deployment("toy").version == "2.0"
    assert registry.get_deployment("toy", "1.0").is_live is False
    assert [d.version for d in registry.list_deployments()] == ["1.0", "2.0"]


def test_same_version_with_changed_source_is_refused(registry: ModelRegistry) -> None:
    registry.register_spec(spec())
    with pytest.raises(RegistryError, match="bump the model version"):
        registry.register_spec(spec(model_v1_edited))


def test_model_identity_is_unique_together(registry: ModelRegistry) -> None:
    a = registry.register_model(
        "toy", author="ada", laboratory="SLAC", facility="LCLS", beampath="b"
    )
    b = registry.register_model(
        "toy", author="ada", laboratory="SLAC", facility="LCLS", beampath="b"
    )
    c = registry.register_model(
        "toy", author="ada", laboratory="SLAC", facility="FACET", beampath="b"
    )
    assert a.id == b.id != c.id
    # the database itself enforces it, not only our lookup
    with registry.engine.begin() as conn, pytest.raises(sa.exc.IntegrityError):
        conn.execute(
            sa.text(
                "INSERT INTO models (name, author, laboratory, facility, beampath, description, "
                "created) VALUES ('toy','ada','SLAC','LCLS','b','',CURRENT_TIMESTAMP)"
            )
        )


def test_unknown_lookups_say_what_is_missing(registry: ModelRegistry) -> None:
    with pytest.raises(RegistryError, match="model 'nope' has no live deployment"):
        registry.get_deployment("nope")
    with pytest.raises(RegistryError, match="no project named 'x'"):
        registry.get_project("x")


def test_bad_url_is_a_registry_error() -> None:
    with pytest.raises(RegistryError, match="cannot open the model registry"):
        ModelRegistry("notadialect://x")


def test_registry_resource_opens_the_configured_database(tmp_path: Path) -> None:
    from lume_assets.io_managers.registry import RegistryResource

    resource = RegistryResource(url=f"sqlite:///{tmp_path / 'r.db'}")
    resource.registry.register_spec(spec())
    assert ModelRegistry(resource.url).get_deployment("toy").version == "1.0"


def test_registry_resource_defaults_to_settings(lume_home: Path) -> None:
    from lume_assets.io_managers.registry import RegistryResource

    RegistryResource().registry.register_spec(spec())
    assert (lume_home / "registry.db").is_file()


def test_concurrent_registration_gives_one_model_and_one_deployment(
    registry: ModelRegistry,
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def register(_: int):
        own = ModelRegistry(registry.url)  # its own engine, like another process
        try:
            return own.register_spec(spec())
        finally:
            own.close()

    with ThreadPoolExecutor(max_workers=6) as pool:
        records = list(pool.map(register, range(6)))
    assert len({r.id for r in records}) == 1
    assert len(registry.list_models()) == 1
    assert len(registry.list_deployments()) == 1


def test_models_register_on_command_not_on_import(lume_home: Path) -> None:
    """Building the demo location writes no database; `models register` registers every model."""
    from click.testing import CliRunner

    from lume_assets.cli import cli
    from lume_assets.demo.definitions import MODELS, build_definitions
    from lume_assets.settings import get_settings

    build_definitions()
    assert not list(lume_home.iterdir())  # no registry.db, no results.db
    result = CliRunner().invoke(cli, ["models", "register"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    registry = ModelRegistry(get_settings().resolved_registry_url())
    for model in MODELS:
        deployment = registry.get_deployment(model.name)
        assert deployment.version == model.version
        assert deployment.source_sha256 == model.source_sha256()
        assert deployment.import_path == model.import_path

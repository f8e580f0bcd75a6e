"""The model registry (SQLAlchemy): models, their deployments (versions) and projects.

As in LUME-services: a model is identified by (author, laboratory, facility, beampath,
description) — plus its name here; a deployment is one version of a model with the sha256 of its
source, its import path and container image, unique per (model, version). Registration is
idempotent. SQLite by default (`settings.resolved_registry_url()`), PostgreSQL supported.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy import orm
from sqlalchemy.exc import IntegrityError, OperationalError

from lume_assets.errors import RegistryError
from lume_assets.storage.urls import with_password

if TYPE_CHECKING:
    from lume_assets.models.model import ModelSpec


def _now() -> dt.datetime:
    """Current UTC time."""
    return dt.datetime.now(dt.UTC)


class RegistryBase(orm.DeclarativeBase):
    """Declarative base of every table in the registry database (models, approvals, ...)."""


class ProjectRow(RegistryBase):
    """A project groups deployments (LUME: one results collection per project)."""

    __tablename__ = "projects"
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255), unique=True)
    description: orm.Mapped[str] = orm.mapped_column(sa.Text, default="")
    created: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime(timezone=True), default=_now)


class ModelRow(RegistryBase):
    """A model's identity."""

    __tablename__ = "models"
    __table_args__ = (
        sa.UniqueConstraint(
            "name",
            "author",
            "laboratory",
            "facility",
            "beampath",
            "description",
            name="uq_model_identity",
        ),
    )
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    author: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    laboratory: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    facility: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    beampath: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    description: orm.Mapped[str] = orm.mapped_column(sa.String(1000))
    created: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime(timezone=True), default=_now)


class DeploymentRow(RegistryBase):
    """One version of a model: source hash, import path, image, liveness."""

    __tablename__ = "deployments"
    __table_args__ = (sa.UniqueConstraint("model_id", "version", name="uq_deployment_version"),)
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    model_id: orm.Mapped[int] = orm.mapped_column(sa.ForeignKey("models.id", ondelete="CASCADE"))
    project_id: orm.Mapped[int | None] = orm.mapped_column(
        sa.ForeignKey("projects.id"), nullable=True
    )
    version: orm.Mapped[str] = orm.mapped_column(sa.String(64))
    source_sha256: orm.Mapped[str] = orm.mapped_column(sa.String(64))
    import_path: orm.Mapped[str] = orm.mapped_column(sa.String(500))
    image: orm.Mapped[str | None] = orm.mapped_column(sa.String(500), nullable=True)
    is_live: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    created: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime(timezone=True), default=_now)


class ProjectRecord(BaseModel):
    """A registered project."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    description: str


class ModelRecord(BaseModel):
    """A registered model."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    author: str
    laboratory: str
    facility: str
    beampath: str
    description: str


class DeploymentRecord(BaseModel):
    """A registered deployment (model version)."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    model_id: int
    model_name: str
    project: str | None
    version: str
    source_sha256: str
    import_path: str
    image: str | None
    is_live: bool


def _record(row: DeploymentRow, model_name: str, project: str | None) -> DeploymentRecord:
    """Pydantic view of a deployment row."""
    return DeploymentRecord(
        id=row.id,
        model_id=row.model_id,
        model_name=model_name,
        project=project,
        version=row.version,
        source_sha256=row.source_sha256,
        import_path=row.import_path,
        image=row.image,
        is_live=row.is_live,
    )


def registry_engine_url(url: str) -> str:
    """The URL to connect with: `url` plus LUME_REGISTRY_PASSWORD if it names a user only."""
    from lume_assets.settings import get_settings

    secret = get_settings().registry_password
    return with_password(url, secret.get_secret_value() if secret else None)


class ModelRegistry:
    """Register and look up models, deployments and projects in a SQL database."""

    def __init__(self, url: str) -> None:
        """Connect to `url` (SQLAlchemy URL) and create the tables if needed."""
        self.url = url
        url = registry_engine_url(url)
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(
                parents=True, exist_ok=True
            )
        try:
            self.engine = sa.create_engine(url, pool_pre_ping=True)
            RegistryBase.metadata.create_all(self.engine)
        except (OperationalError, sa.exc.ArgumentError, ImportError) as exc:
            raise RegistryError(
                f"cannot open the model registry at {self._safe_url()}: {exc.__class__.__name__}: "
                f"{str(exc).splitlines()[0]}; check LUME_REGISTRY_URL."
            ) from None
        self._sessions = orm.sessionmaker(self.engine, expire_on_commit=False)

    def _safe_url(self) -> str:
        """The URL with any password hidden."""
        try:
            return sa.engine.make_url(self.url).render_as_string(hide_password=True)
        except sa.exc.ArgumentError:
            return "<invalid url>"

    def close(self) -> None:
        """Dispose of the connection pool."""
        self.engine.dispose()

    # -- projects --------------------------------------------------------------------------------
    def register_project(self, name: str, description: str = "") -> ProjectRecord:
        """Create the project `name` if absent and return it (idempotent)."""
        with self._sessions.begin() as session:
            row = self._get_or_create(
                session, ProjectRow, {"name": name}, {"description": description}
            )
            return ProjectRecord.model_validate(row)

    def get_project(self, name: str) -> ProjectRecord:
        """Return the project `name` (RegistryError if absent)."""
        with self._sessions() as session:
            row = session.scalar(sa.select(ProjectRow).where(ProjectRow.name == name))
            if row is None:
                raise RegistryError(f"no project named {name!r} is registered.")
            return ProjectRecord.model_validate(row)

    # -- models ----------------------------------------------------------------------------------
    def register_model(
        self,
        name: str,
        *,
        author: str,
        laboratory: str = "",
        facility: str = "",
        beampath: str = "",
        description: str = "",
    ) -> ModelRecord:
        """Create the model with this identity if absent and return it (idempotent)."""
        identity = {
            "name": name,
            "author": author,
            "laboratory": laboratory,
            "facility": facility,
            "beampath": beampath,
            "description": description,
        }
        with self._sessions.begin() as session:
            return ModelRecord.model_validate(self._get_or_create(session, ModelRow, identity, {}))

    def list_models(self) -> list[ModelRecord]:
        """All registered models, oldest first."""
        with self._sessions() as session:
            rows = session.scalars(sa.select(ModelRow).order_by(ModelRow.id))
            return [ModelRecord.model_validate(r) for r in rows]

    # -- deployments -----------------------------------------------------------------------------
    def register_deployment(
        self,
        model: ModelRecord,
        *,
        version: str,
        source_sha256: str,
        import_path: str,
        image: str | None = None,
        project: str | None = None,
        make_live: bool = True,
    ) -> DeploymentRecord:
        """Register `version` of `model` (idempotent); the same version with other source fails.

        With `make_live`, this deployment becomes the model's live one (others are retired).
        """
        project_id = self.register_project(project).id if project else None
        with self._sessions.begin() as session:
            row = session.scalar(
                sa.select(DeploymentRow).where(
                    DeploymentRow.model_id == model.id, DeploymentRow.version == version
                )
            )
            if row is not None and row.source_sha256 != source_sha256:
                raise RegistryError(
                    f"model {model.name!r} version {version!r} is already registered with "
                    f"source sha256 {row.source_sha256[:12]}..., but its source now hashes to "
                    f"{source_sha256[:12]}...; bump the model version when its code changes "
                    "(cached results of the old code would otherwise be reused)."
                )
            if row is None:
                row = self._get_or_create(
                    session,
                    DeploymentRow,
                    {"model_id": model.id, "version": version},
                    {
                        "source_sha256": source_sha256,
                        "import_path": import_path,
                        "image": image,
                        "project_id": project_id,
                        "is_live": False,
                    },
                )
                if row.source_sha256 != source_sha256:  # lost a race to other source
                    raise RegistryError(
                        f"model {model.name!r} version {version!r} was registered concurrently "
                        "with different source; bump the version."
                    )
            else:
                row.import_path, row.image = import_path, image
                if project_id is not None:
                    row.project_id = project_id
            if make_live and not row.is_live:
                session.execute(
                    sa.update(DeploymentRow)
                    .where(DeploymentRow.model_id == model.id, DeploymentRow.id != row.id)
                    .values(is_live=False)
                )
                row.is_live = True
            session.flush()
            return self._deployment_record(session, row)

    def register_spec(self, spec: ModelSpec, image: str | None = None) -> DeploymentRecord:
        """Register a ModelSpec's model, project and deployment (idempotent)."""
        model = self.register_model(
            spec.name,
            author=spec.author,
            laboratory=spec.laboratory,
            facility=spec.facility,
            beampath=spec.beampath,
            description=spec.description,
        )
        return self.register_deployment(
            model,
            version=spec.version,
            source_sha256=spec.source_sha256(),
            import_path=spec.import_path,
            image=image or spec.resources.image,
            project=spec.project,
        )

    def get_deployment(self, model_name: str, version: str | None = None) -> DeploymentRecord:
        """Return a model's deployment: `version`, or the live one when `version` is None."""
        query = (
            sa.select(DeploymentRow, ModelRow.name, ProjectRow.name)
            .join(ModelRow, ModelRow.id == DeploymentRow.model_id)
            .outerjoin(ProjectRow, ProjectRow.id == DeploymentRow.project_id)
            .where(ModelRow.name == model_name)
        )
        query = (
            query.where(DeploymentRow.version == version)
            if version is not None
            else query.where(DeploymentRow.is_live.is_(True))
        )
        with self._sessions() as session:
            row = session.execute(query.order_by(DeploymentRow.id.desc()).limit(1)).first()
        if row is None:
            what = f"version {version!r}" if version else "live deployment"
            raise RegistryError(
                f"model {model_name!r} has no {what} in the registry {self._safe_url()}; "
                "run the model once or register it (lume-assets models register)."
            )
        deployment, name, project = row
        return _record(deployment, name, project)

    def list_deployments(self, model_name: str | None = None) -> list[DeploymentRecord]:
        """All deployments (of one model if named), oldest first."""
        with self._sessions() as session:
            query = sa.select(DeploymentRow).join(ModelRow, ModelRow.id == DeploymentRow.model_id)
            if model_name is not None:
                query = query.where(ModelRow.name == model_name)
            rows = session.scalars(query.order_by(DeploymentRow.id))
            return [self._deployment_record(session, r) for r in rows]

    # -- helpers ---------------------------------------------------------------------------------
    @staticmethod
    def _deployment_record(session: orm.Session, row: DeploymentRow) -> DeploymentRecord:
        """Pydantic view of a deployment row with its model and project names."""
        model = session.get(ModelRow, row.model_id)
        project = session.get(ProjectRow, row.project_id) if row.project_id else None
        return _record(row, model.name if model else "?", project.name if project else None)

    @staticmethod
    def _get_or_create(session: orm.Session, cls: type, key: dict, extra: dict) -> object:
        """Return the row of `cls` matching `key`, inserting it (race-safe) when absent."""
        query = sa.select(cls).filter_by(**key)
        row = session.scalar(query)
        if row is not None:
            return row
        try:
            with session.begin_nested():
                row = cls(**key, **extra)
                session.add(row)
            return row
        except IntegrityError:  # another process inserted it first
            row = session.scalar(query)
            if row is None:
                raise
            return row

"""The lume_assets exception hierarchy: every error a user sees derives from LumeError."""

from __future__ import annotations


class LumeError(Exception):
    """Base of every lume_assets error; its message says what went wrong and how to fix it."""


# --- configuration -------------------------------------------------------------------------
class ConfigError(LumeError):
    """Settings, dagster.yaml or resource configuration is invalid."""


# --- storage (files, serializers) ----------------------------------------------------------
class StorageError(LumeError):
    """Reading or writing a stored file failed."""


class PathEscapeError(StorageError):
    """A user-supplied path would leave its filesystem root."""


class SerializerError(StorageError):
    """A value could not be serialized or deserialized."""


class UnknownSerializerError(SerializerError):
    """No serializer is registered under the requested name."""


# --- results database ----------------------------------------------------------------------
class ResultStoreError(StorageError):
    """A result store operation failed."""


class StoreUnavailableError(ResultStoreError):
    """The result store server could not be reached within the configured timeout."""


class QueryError(ResultStoreError):
    """A result query uses an operator or shape that is not supported."""


class ResultNotFoundError(ResultStoreError):
    """No stored result matches the request."""


# --- models --------------------------------------------------------------------------------
class ModelError(LumeError):
    """A model specification or evaluation failed."""


class ModelInputError(ModelError):
    """A model input is missing, of the wrong type, or outside its allowed range or shape."""


class ModelOutputError(ModelError):
    """A model returned outputs that do not match its declared output variables."""


class ModelTimeoutError(ModelError):
    """A model evaluation ran longer than its configured timeout."""


class RegistryError(LumeError):
    """The model registry refused or could not perform an operation."""


# --- graphs, automation, client ------------------------------------------------------------
class GraphSpecError(LumeError):
    """A YAML/Python asset graph specification is invalid."""


class SensorInputError(LumeError):
    """An input file delivered to a sensor is malformed."""


class ApprovalError(LumeError):
    """An approval gate operation is invalid (unknown gate, already decided, ...)."""


class DeploymentError(LumeError):
    """A deployment target (Docker, Kubernetes) is misconfigured."""


class ChunkJobError(DeploymentError):
    """A chunk job (Slurm job, container, Kubernetes Job) failed or returned no outputs."""


class SlurmJobError(ChunkJobError):
    """A Slurm job could not be submitted, or ended without completing (failed, cancelled)."""


class LocationError(ConfigError):
    """The code location could not be found, or failed to load (names the file at fault)."""


class ClientError(LumeError):
    """A LumeClient call failed; the message carries the server's explanation."""


class RunFailedError(ClientError):
    """A run launched through the client did not succeed."""

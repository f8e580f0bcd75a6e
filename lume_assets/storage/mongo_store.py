"""`MongoResultStore`: results in MongoDB, one collection per project, keyed by inputs hash.

- database: the URI's default database, else ``database=`` (default ``lume_assets``);
  collection: ``lume_results_<project>`` (`collection_name`: ASCII letters, digits and ``_``
  only, so the name is valid on every Mongo-protocol server — nx-27017 cannot create a
  collection named ``default`` or holding ``-``/``.``); a unique index on ``inputs_hash``
  makes every write an idempotent upsert (a retried or duplicated write never creates a
  second document).
- ``put_many`` sends ``insert_many(ordered=False)`` batches; results whose hash already exists
  are then replaced with one unordered ``bulk_write`` of upserts.
- ``put`` inserts first (the common case: a new hash); on a duplicate key it updates in place
  with ``{"$set": <every top-level field>}``. Every stored document has the same top-level
  fields, so this is a replacement; unlike a replacement document it also works on nx-27017,
  which cannot replace documents holding binary values.
- ``AutoReconnect`` (a failover, a dropped socket) is retried with exponential backoff; a server
  that cannot be selected within ``timeout_s`` raises `StoreUnavailableError` naming host:port.
- The password is passed to pymongo separately (from ``LUME_MONGO_PASSWORD``), never put into
  the URI we log, and scrubbed from any error text.
- Arrays over the threshold go to GridFS (bucket ``lume_results_<project>_arrays``) or HDF5 files.
"""

from __future__ import annotations

import itertools
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import gridfs
import numpy as np
import pymongo
from pydantic import SecretStr
from pymongo import ReturnDocument
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    ConfigurationError,
    DuplicateKeyError,
    InvalidURI,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)
from pymongo.uri_parser import parse_uri

from lume_assets.errors import ConfigError, ResultNotFoundError, ResultStoreError
from lume_assets.errors import StoreUnavailableError as Unavailable
from lume_assets.storage.blobs import HDF5BlobStore
from lume_assets.storage.encoding import DEFAULT_ARRAY_THRESHOLD, Codec, array_from_bytes
from lume_assets.storage.filesystems import LocalFilesystem
from lume_assets.storage.query import check_limit, check_path, parse_filter, parse_sort
from lume_assets.storage.result_stores import ResultStore, SortSpec
from lume_assets.storage.results import Result, check_inputs_hash, check_inputs_hashes

T = TypeVar("T")
RETRIES = 5
BATCH = 10_000  # results per insert_many: a scan chunk
MAX_AUTO_INDEXES = 16  # input paths indexed automatically per model
DUPLICATE_KEY = 11000
PENDING = "lume_pending_chunk"  # marks a chunk's documents until the whole chunk is written


def sticky_update(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The upsert of `doc` that never unpublishes a stored result (published is sticky)."""
    body = {k: v for k, v in doc.items() if k not in ("_id", "published")}
    if doc.get("published"):
        return {"$set": {**body, "published": True}}
    return {"$set": body, "$setOnInsert": {"published": False}}


def _visible_or_held() -> dict[str, Any]:
    """Published documents, and unpublished ones not left over from an unfinished chunk."""
    return {"$or": [{"published": True}, {PENDING: None}]}


def retry_on_autoreconnect(fn: Callable[[], T], retries: int = RETRIES, base: float = 0.05) -> T:
    """Call `fn`, retrying on AutoReconnect with exponential backoff (not on a down server)."""
    for attempt in range(retries + 1):
        try:
            return fn()
        except ServerSelectionTimeoutError:
            raise
        except AutoReconnect:
            if attempt == retries:
                raise
            time.sleep(base * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


COLLECTION_PREFIX = "lume_results_"
_PROJECT_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")


def collection_name(project: str) -> str:
    """The collection holding `project`'s results (ConfigError for a non-portable name)."""
    if not isinstance(project, str) or not _PROJECT_NAME.fullmatch(project):
        raise ConfigError(
            f"project {str(project)[:80]!r} cannot name a MongoDB collection: use 1-64 ASCII "
            "letters, digits or '_' (set LUME_PROJECT or the model's project)."
        )
    return f"{COLLECTION_PREFIX}{project}"


_URI_CREDENTIALS = re.compile(r"//([^:/@\s]+):([^@\s]+)@")


def _bare_hosts(uri: str) -> str:
    """Return the host part of a MongoDB URI without credentials."""
    rest = uri.split("://", 1)[-1]
    return rest.rsplit("@", 1)[-1].split("/", 1)[0].split("?", 1)[0]


def _batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Yield lists of at most `size` items."""
    it = iter(items)
    while batch := list(itertools.islice(it, size)):
        yield batch


class GridFSBlobStore:
    """Large arrays as GridFS files named by their sha256, in parts of at most 16 MiB.

    Parts keep every read reply small (one part per cursor); nx-27017 in particular sends a
    whole file's chunks in one reply and cannot return a file over its 48 MB message limit.
    """

    kind = "gridfs"
    part_bytes = 16 * 1024 * 1024

    def __init__(self, db: Any, bucket: str, call: Callable[[Callable[[], Any]], Any]) -> None:
        """Use GridFS bucket `bucket` in database `db`; `call` wraps each server call."""
        self.bucket_name = bucket
        self.bucket = gridfs.GridFSBucket(db, bucket_name=bucket)
        self.files = db[f"{bucket}.files"]
        self.call = call

    def put_array(self, array: np.ndarray, digest: str) -> dict[str, Any]:
        """Upload the array's bytes (each part unless already present); return the pointer."""
        data = memoryview(np.ascontiguousarray(array).reshape(-1).view(np.uint8))
        parts = []
        for i, start in enumerate(range(0, max(len(data), 1), self.part_bytes)):
            name = f"{digest}.{i}"
            chunk = data[start : start + self.part_bytes]

            def upload(name: str = name, chunk: memoryview = chunk) -> None:
                if self.files.find_one({"filename": name}, {"_id": 1}) is None:
                    self.bucket.upload_from_stream(name, bytes(chunk))

            self.call(upload)
            parts.append(name)
        return {"store": self.kind, "bucket": self.bucket_name, "parts": parts}

    def get_array(self, pointer: Mapping[str, Any]) -> np.ndarray:
        """Download the parts of an array and rebuild it."""
        chunks = []
        for name in pointer["parts"]:
            try:
                chunks.append(
                    self.call(lambda n=name: self.bucket.open_download_stream_by_name(n).read())
                )
            except gridfs.errors.NoFile:
                raise ResultStoreError(
                    f"GridFS file {name} (bucket {self.bucket_name}) is missing; "
                    "it was deleted or written to another database."
                ) from None
        return array_from_bytes(
            b"".join(chunks), pointer["dtype"], list(pointer["shape"]), pointer["name"]
        )


class MongoResultStore(ResultStore):
    """Results in a MongoDB collection (see module docstring)."""

    kind = "mongodb"

    def __init__(
        self,
        uri: str,
        project: str = "default",
        *,
        database: str | None = None,
        files_root: Path | None = None,
        large_arrays: str = "gridfs",
        array_threshold: int = DEFAULT_ARRAY_THRESHOLD,
        timeout_s: float = 5.0,
        username: str | None = None,
        password: SecretStr | None = None,
    ) -> None:
        """Connect (within `timeout_s`), ensure indexes, and set up large-array storage."""
        if large_arrays not in ("gridfs", "hdf5"):
            raise ConfigError(f"large_arrays must be 'gridfs' or 'hdf5', not {large_arrays!r}.")
        if large_arrays == "hdf5" and files_root is None:
            raise ConfigError("large_arrays='hdf5' needs files_root (e.g. LUME_FILES_ROOT).")
        self._secret = password.get_secret_value() if password else None
        try:
            parsed = parse_uri(uri)
        except (InvalidURI, ConfigurationError, ValueError) as exc:
            raise ConfigError(f"Invalid MongoDB URI: {self._scrub(str(exc))}") from None
        self.hosts = ",".join(f"{h}:{p}" for h, p in parsed["nodelist"]) or _bare_hosts(uri)
        if parsed.get("password"):
            self._secret = self._secret or parsed["password"]
        self.project = project
        name = collection_name(project)
        self.timeout_s = timeout_s
        ms = int(timeout_s * 1000)
        kwargs: dict[str, Any] = {}
        if username:
            kwargs["username"] = username
        if self._secret and (username or parsed.get("username")) and not parsed.get("password"):
            kwargs["password"] = self._secret
        self.client: pymongo.MongoClient = pymongo.MongoClient(
            uri,
            serverSelectionTimeoutMS=ms,
            connectTimeoutMS=ms,
            tz_aware=True,
            appname="lume_assets",
            **kwargs,
        )
        self.db = self.client[database or parsed.get("database") or "lume_assets"]
        self.collection = self.db[name]
        self._indexed_models: set[str] = set()  # models whose input paths are indexed
        if large_arrays == "gridfs":
            blobs: Any = GridFSBlobStore(self.db, f"{name}_arrays", self._call)
        else:
            blobs = HDF5BlobStore(LocalFilesystem(files_root))  # type: ignore[arg-type]
        self.codec = Codec(binary="bytes", blobs=blobs, array_threshold=array_threshold)
        try:
            self._call(lambda: self.collection.create_index("inputs_hash", unique=True))
            self._call(lambda: self.collection.create_index([("model", 1), ("created", 1)]))
        except BaseException:
            self.client.close()  # no monitor threads left behind by a failed open
            raise

    # -- plumbing ------------------------------------------------------------------------------
    def _scrub(self, text: str) -> str:
        """Remove the password (and any user:password@ in a URI) from an error text."""
        text = _URI_CREDENTIALS.sub(r"//\1:***@", text)
        return text.replace(self._secret, "***") if self._secret else text

    def _call(self, fn: Callable[[], T]) -> T:
        """Run one server call with retries, turning driver errors into lume errors."""
        try:
            return retry_on_autoreconnect(fn)
        except (ServerSelectionTimeoutError, AutoReconnect):
            raise Unavailable(
                f"MongoDB at {self.hosts} is not reachable within {self.timeout_s:g} s; "
                "start it, or check LUME_RESULTS_URL and the network."
            ) from None
        except (BulkWriteError, DuplicateKeyError):
            raise  # handled by the caller (duplicates become upserts)
        except OperationFailure as exc:
            if exc.code in (13, 18):  # Unauthorized, AuthenticationFailed
                raise ResultStoreError(
                    f"MongoDB at {self.hosts} refused the credentials (code {exc.code}); "
                    "check the user in LUME_RESULTS_URL and LUME_MONGO_PASSWORD."
                ) from None
            raise ResultStoreError(
                f"MongoDB at {self.hosts} failed: {self._scrub(str(exc))[:300]}"
            ) from None
        except PyMongoError as exc:
            raise ResultStoreError(
                f"MongoDB at {self.hosts} failed: {self._scrub(str(exc))[:300]}"
            ) from None

    @property
    def location(self) -> str:
        """Return 'database.collection'."""
        return f"{self.db.name}.{self.collection.name}"

    def close(self) -> None:
        """Close the client."""
        self.client.close()

    # -- writes --------------------------------------------------------------------------------
    def put(self, result: Result) -> str:
        """Insert the result, or update the document holding its inputs hash; return the _id."""
        doc = self.to_document(result)
        try:
            return str(self._call(lambda: self.collection.insert_one(dict(doc)).inserted_id))
        except DuplicateKeyError:
            pass  # already stored (a retry, a duplicate, a racing writer): update it in place
        found = self._call(
            lambda: self.collection.find_one_and_update(
                {"inputs_hash": result.inputs_hash},
                sticky_update(doc),
                projection={"_id": 1},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        )
        return str(found["_id"]) if found else str(self.document_id(result.inputs_hash))

    def put_many(self, results: Iterable[Result]) -> int:
        """Write results with one unordered insert_many per chunk; existing hashes are replaced.

        A chunk is up to `BATCH` results (a scan chunk is one); pymongo splits it into wire
        messages. Encoding the next chunk overlaps with sending the previous one (one writer
        thread, at most one chunk in flight). The first write of a model indexes its input
        paths (`ensure_index`).
        """
        total = 0
        pending: Future[int] | None = None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lume-put") as pool:
            for batch in _batches(results, BATCH):
                docs = [self.to_document(r) for r in batch]
                self._index_inputs(docs)
                if pending is not None:
                    total += pending.result()
                pending = pool.submit(self._write_batch, docs)
            if pending is not None:
                total += pending.result()
        return total

    def _write_batch(self, docs: list[dict[str, Any]]) -> int:
        """insert_many(ordered=False); documents hitting the unique index become upserts."""
        try:
            self._call(lambda: self.collection.insert_many(docs, ordered=False))
            return len(docs)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            other = [e for e in errors if e.get("code") != DUPLICATE_KEY]
            if other:
                raise ResultStoreError(
                    f"MongoDB at {self.hosts} refused {len(other)} result(s): "
                    f"{self._scrub(str(other[0].get('errmsg')))[:300]}"
                ) from None
            dupes = [docs[e["index"]] for e in errors]
        replace = [
            pymongo.UpdateOne({"inputs_hash": doc["inputs_hash"]}, sticky_update(doc), upsert=True)
            for doc in dupes
        ]
        self._call(lambda: self.collection.bulk_write(replace, ordered=False))
        return len(docs)

    def _index_inputs(self, docs: list[dict[str, Any]]) -> None:
        """Index the scalar input paths of each model seen for the first time by this store."""
        for doc in docs:
            if doc["model"] in self._indexed_models:
                continue
            self._indexed_models.add(doc["model"])
            paths = [
                f"inputs.{key}"
                for key, value in doc["inputs"].items()
                if not isinstance(value, dict | list | bytes)
            ]
            for path in paths[:MAX_AUTO_INDEXES]:
                self.ensure_index(path)

    def ensure_index(self, path: str) -> str:
        """Create an ascending index on a queryable path (idempotent); return its name."""
        check_path(path)
        return self._call(lambda: self.collection.create_index([(path, 1)]))

    def indexed_paths(self) -> list[str]:
        """Return the paths with an index of their own (first key of each index)."""
        info = self._call(self.collection.index_information)
        keys = [spec["key"][0][0] for name, spec in info.items() if name != "_id_"]
        return sorted(set(keys))

    def put_chunk(self, results: Sequence[Result]) -> int:
        """Write a chunk so that it becomes visible at once: every document is written
        unpublished with a chunk marker, then the marker is cleared in one update (publishing
        those meant to be published). A kill in between leaves only marked, unpublished
        documents, which neither queries nor the cache count."""
        if not results:
            return 0
        token = uuid.uuid4().hex
        docs = [{**self.to_document(r), "published": False, PENDING: token} for r in results]
        self._index_inputs(docs)
        self._write_batch(docs)
        visible = [r.inputs_hash for r in results if r.published]
        for chunk in _batches(visible, BATCH):
            self._call(
                lambda c=chunk: self.collection.update_many(
                    {PENDING: token, "inputs_hash": {"$in": c}}, {"$set": {"published": True}}
                )
            )
        self._call(lambda: self.collection.update_many({PENDING: token}, {"$unset": {PENDING: ""}}))
        return len(docs)

    def publish(self, inputs_hash: str, published: bool = True) -> Result:
        """Set the published flag of a stored result."""
        inputs_hash = check_inputs_hash(inputs_hash)
        doc = self._call(
            lambda: self.collection.find_one_and_update(
                {"inputs_hash": inputs_hash},
                {"$set": {"published": published}},
                return_document=ReturnDocument.AFTER,
            )
        )
        if doc is None:
            raise ResultNotFoundError(
                f"No result with inputs hash {inputs_hash} in MongoDB {self.location}; "
                "nothing to publish."
            )
        return self.from_document(doc)

    def publish_many(self, inputs_hashes: Iterable[str], published: bool = True) -> int:
        """Set the published flag of many results with batched update_many calls."""
        hashes = check_inputs_hashes(inputs_hashes)
        matched = 0
        for chunk in _batches(hashes, BATCH):
            matched += self._call(
                lambda chunk=chunk: self.collection.update_many(
                    {"inputs_hash": {"$in": chunk}}, {"$set": {"published": published}}
                )
            ).matched_count
        return matched

    # -- reads ---------------------------------------------------------------------------------
    def _query(
        self, model: str | None, filter: Mapping[str, Any] | None, include_unpublished: bool
    ) -> dict[str, Any]:
        """Return the MongoDB filter for a checked lume filter."""
        clauses: list[dict[str, Any]] = []
        if model is not None:
            clauses.append({"model": model})
        clauses.append({"published": True} if not include_unpublished else _visible_or_held())
        merged: dict[str, dict[str, Any]] = {}  # bounds on one path: one clause (same meaning)
        for c in parse_filter(filter):
            value = list(c.value) if c.op == "$in" else c.value
            ops = merged.get(c.path)
            if ops is None or c.op in ops:
                ops = {}
                clauses.append({c.path: ops})
                merged[c.path] = ops
            ops[c.op] = value
        return {"$and": clauses} if clauses else {}

    def find(
        self,
        model: str | None = None,
        filter: Mapping[str, Any] | None = None,
        sort: SortSpec = None,
        limit: int | None = None,
        include_unpublished: bool = False,
    ) -> list[Result]:
        """Return matching results, sorted (ties by inputs_hash) and limited."""
        query = self._query(model, filter, include_unpublished)
        order = [*parse_sort(sort), ("inputs_hash", 1)]
        n = check_limit(limit) or 0

        def run() -> list[dict[str, Any]]:
            return list(self.collection.find(query, sort=order, limit=n))

        return [self.from_document(d) for d in self._call(run)]

    def find_one(self, inputs_hash: str, include_unpublished: bool = False) -> Result | None:
        """Return the result with this hash (if published, unless asked), or None."""
        inputs_hash = check_inputs_hash(inputs_hash)
        query: dict[str, Any] = {"inputs_hash": inputs_hash}
        if not include_unpublished:
            query["published"] = True
        else:
            query.update(_visible_or_held())
        doc = self._call(lambda: self.collection.find_one(query))
        return None if doc is None else self.from_document(doc)

    def count(
        self,
        model: str | None = None,
        filter: Mapping[str, Any] | None = None,
        include_unpublished: bool = False,
    ) -> int:
        """Return how many results match."""
        query = self._query(model, filter, include_unpublished)
        return self._call(lambda: self.collection.count_documents(query))

    def document_id(self, inputs_hash: str) -> str | None:
        """Return the _id of the document with this hash."""
        inputs_hash = check_inputs_hash(inputs_hash)
        doc = self._call(lambda: self.collection.find_one({"inputs_hash": inputs_hash}, {"_id": 1}))
        return None if doc is None else str(doc["_id"])

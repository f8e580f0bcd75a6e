"""`LumeClient`: one Python API to run models and query results, locally or on a server.

    client = LumeClient()                              # in-process, this project's definitions
    client = LumeClient("http://127.0.0.1:3000")       # a running dagster-webserver (GraphQL)
    result = client.run("beam_envelope", {"k_f": 2.2}) # waits; returns the stored Result
    client.results("beam_envelope", {"outputs.max_sigma": {"$lt": 3}}, dataframe=True)

Both modes take the same calls and raise the same lume_assets exceptions: `ModelInputError` for
inputs a model refuses, `RunFailedError` (with `.run`) when a run fails, `ClientError` otherwise,
each carrying the server's message. Results are read from the result store the settings name
(`LUME_RESULTS_URL`), or `results_url=` — for a remote server, the store it writes to.
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping, Sequence
from typing import Any

from lume_assets.api.records import ApprovalInfo, BackfillInfo, ModelInfo, Progress, RunInfo
from lume_assets.errors import ClientError, ModelInputError, RunFailedError
from lume_assets.storage.query import utf8_text
from lume_assets.storage.results import Result

__all__ = [
    "ApprovalInfo",
    "BackfillInfo",
    "LumeClient",
    "ModelInfo",
    "RunInfo",
]

#: The job that records approval decisions (see automation/gate.py).
APPROVAL_JOB = "approve_results"
APPROVAL_OP = "decide_approval"


class LumeClient:
    """Run models, follow runs, backfill partitions, approve and query results."""

    def __init__(
        self,
        url: str | None = None,
        *,
        results_url: str | None = None,
        project: str | None = None,
        definitions: Any = None,
        models: Sequence[Any] | None = None,
        instance: Any = None,
        timeout: float = 60.0,
    ) -> None:
        """Local mode without `url` (optionally custom `definitions`/`instance`), else remote."""
        self.url = url
        self._results_url = results_url
        self._project = project
        self._store: Any = None
        self._stores: dict[str, Any] = {}  # other projects' stores (a graph's `project:`)
        self._backend: Any = None
        self._local_args = (definitions, models, instance)
        if url:
            from lume_assets.api.remote import RemoteBackend

            self._backend = RemoteBackend(url, timeout=timeout)

    @property
    def backend(self) -> Any:
        """The remote backend, or the in-process one (built on first use: it loads Dagster)."""
        if self._backend is None:
            from lume_assets.api.local import LocalBackend

            self._backend = LocalBackend(*self._local_args)
        return self._backend

    @property
    def mode(self) -> str:
        """'remote' when talking to a webserver, else 'local'."""
        return "remote" if self.url else "local"

    # -- models ----------------------------------------------------------------------------------
    def models(self) -> list[ModelInfo]:
        """Every model the code location serves, by name."""
        found = None
        if self.mode == "remote":
            found = self.backend.models()
        elif self._backend is None and self._local_args == (None, None, None):
            from lume_assets.api.model_snapshot import read_snapshot

            found = read_snapshot()  # the project's models without loading Dagster
        if found is None:
            found = {name: entry.info for name, entry in self.backend.entries.items()}
        return [found[name] for name in sorted(found)]

    def model(self, name: str) -> ModelInfo:
        """One model's description (ClientError listing the models if unknown); locally also an
        installed model or a `package.module:SPEC` reference, served on the fly."""
        if self.mode == "local":
            if self._backend is None and self._local_args == (None, None, None):
                from lume_assets.api.model_snapshot import read_snapshot

                info = (read_snapshot() or {}).get(name)  # without loading Dagster
                if info is not None and info.result_asset.count("/") < 3:  # not a graph node
                    return info
            return self.backend.model(name).info
        for info in self.models():
            if info.name == name:
                return info
        from lume_assets.models.catalogue import did_you_mean

        names = [i.name for i in self.models()]
        raise ClientError(
            f"No model {name!r}; {did_you_mean(name, names)}models: {', '.join(names) or 'none'}."
        )

    # -- runs ------------------------------------------------------------------------------------
    def submit(
        self,
        model: str,
        inputs: Mapping[str, Any] | None = None,
        *,
        force: bool = False,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """Start a run of `model` with `inputs` (defaults fill the rest); return its run id."""
        return self.backend.submit(model, {} if inputs is None else inputs, force=force, tags=tags)

    def status(self, run_id: str) -> RunInfo:
        """Where run `run_id` stands: status, materialized assets, failure message."""
        return self.backend.status(utf8_text(run_id, "run id"))

    def wait(
        self, run_id: str, timeout: float | None = None, progress: Progress | None = None
    ) -> RunInfo:
        """Block until the run finishes; RunFailedError (server's message) unless it succeeded."""
        info = self.backend.wait(utf8_text(run_id, "run id"), timeout=timeout, progress=progress)
        if not info.succeeded:
            raise _failed(info)
        return info

    def run(
        self,
        model: str,
        inputs: Mapping[str, Any] | None = None,
        *,
        force: bool = False,
        timeout: float | None = None,
        progress: Progress | None = None,
    ) -> Result:
        """Run `model` with `inputs`, wait, and return its stored `Result`."""
        run_id = self.submit(model, inputs, force=force)
        self.wait(run_id, timeout=timeout, progress=progress)
        return self.result_of(run_id, model)

    def stored_hit(self, model: str, inputs: Mapping[str, Any] | None = None) -> Result | None:
        """The stored `Result` a run of `model` with `inputs` would reuse, read from the result
        store without a Dagster run; None unless that is certain (`api.cache_hits`: local client
        on the project's own definitions and stores, model and facts in the snapshot)."""
        if self.mode == "remote" or self._backend is not None or self._results_url:
            return None
        if self._project or self._local_args != (None, None, None):
            return None
        from lume_assets.api.cache_hits import stored_hit

        return stored_hit(model, {} if inputs is None else inputs, lambda: self.store)

    def run_graph(
        self,
        name: str,
        inputs: Mapping[str, Any] | None = None,
        *,
        force: bool = False,
        timeout: float | None = None,
        progress: Progress | None = None,
    ) -> dict[str, Result]:
        """Materialize graph `name` as one run (upstream nodes first) with inputs as
        `{"node.input": v}` or `{"node": {"input": v}}`; return each node's `Result`."""
        run_id, nodes = self.submit_graph(name, inputs, force=force)
        self.wait(run_id, timeout=timeout, progress=progress)
        return self.graph_results(run_id, nodes)

    def submit_graph(
        self, name: str, inputs: Mapping[str, Any] | None = None, *, force: bool = False
    ) -> tuple[str, dict[str, Any]]:
        """Start a run of graph `name`; return its run id and the graph's nodes."""
        if self.mode == "remote":
            raise ClientError(
                f"run-graph runs in-process; against a server launch the job {name}_job "
                "(lume-assets launch --job) or run without --remote."
            )
        return self.backend.submit_graph(name, dict(inputs or {}), force=force)

    def graph_results(self, run_id: str, nodes: Mapping[str, Any]) -> dict[str, Result]:
        """Each node's `Result` from run `run_id` (by node name, in the graph's order)."""
        out: dict[str, Result] = {}
        for node, info in nodes.items():
            meta = self.backend.materialization_metadata(run_id, info.result_asset)
            if meta.get("inputs_hash"):
                store = self.project_store(meta.get("project"))
                out[node] = store.get(str(meta["inputs_hash"]), include_unpublished=True)
        return out

    def result_of(self, run_id: str, model: str) -> Result:
        """The `Result` run `run_id` produced (or reused from the cache) for `model`."""
        info = self.model(model)
        meta = self.backend.materialization_metadata(run_id, info.result_asset)
        inputs_hash = meta.get("inputs_hash")
        if not inputs_hash:
            raise ClientError(
                f"Run {run_id} did not materialize {info.result_asset}; no result to return."
            )
        store = self.project_store(meta.get("project"))
        return store.get(str(inputs_hash), include_unpublished=True)

    # -- results ---------------------------------------------------------------------------------
    @property
    def store(self) -> Any:
        """The result store (opened on first use)."""
        if self._store is None:
            self._store = self._open_store(None)
        return self._store

    def project_store(self, project: str | None) -> Any:
        """The result store of `project` (a graph's `project:`); the client's own by default."""
        store = self.store
        if not project or project == store.project:
            return store
        if project not in self._stores:
            self._stores[project] = self._open_store(project)
        return self._stores[project]

    def _open_store(self, project: str | None) -> Any:
        """Open the result store of `project` (default: the client's, else the settings')."""
        from lume_assets.settings import get_settings
        from lume_assets.storage.result_stores import open_result_store

        settings = get_settings()
        return open_result_store(
            self._results_url or settings.resolved_results_url(),
            project=project or self._project or settings.project,
            files_root=settings.resolved_files_root(),
        )

    def results(
        self,
        model: str | None = None,
        filter: Mapping[str, Any] | None = None,
        *,
        sort: Any = None,
        limit: int | None = None,
        dataframe: bool = False,
        include_unpublished: bool = False,
    ) -> Any:
        """Results of `model` matching a Mongo-style `filter`: a list, or a pandas DataFrame."""
        if model is not None:
            utf8_text(model, "model name")
        found = self.store.find(
            model, filter, sort=sort, limit=limit, include_unpublished=include_unpublished
        )
        if dataframe:
            from lume_assets.storage.result_stores import to_dataframe

            return to_dataframe(found)
        return found

    # -- backfills and approvals -------------------------------------------------------------------
    def partitions(self, asset: str) -> list[str]:
        """Every partition key of `asset` (ClientError if it is not partitioned)."""
        if self.mode == "remote":
            return self.backend.partition_keys(asset)
        from lume_assets.api.local import check_partitions

        return check_partitions(asset, self.backend.assets_def(asset), None, self.backend.instance)

    def backfill(
        self,
        asset: str,
        partitions: Sequence[str] | None = None,
        *,
        progress: Progress | None = None,
        timeout: float | None = None,
    ) -> BackfillInfo:
        """Materialize `partitions` of `asset` (all if None) and wait; RunFailedError on failure."""
        if self.mode == "remote":
            info = self.backend.backfill(asset, partitions, progress=progress, timeout=timeout)
        else:
            info = self.backend.backfill(asset, partitions, progress=progress)
        if not info.succeeded:
            raise RunFailedError(
                f"Backfill {info.backfill_id} of {asset} ended {info.status}: "
                f"{info.error or 'see the runs ' + ', '.join(info.run_ids)}"
            )
        return info

    def approve(
        self,
        target: str,
        *,
        by: str | None = None,
        reject: bool = False,
        reason: str = "",
        all_pending: bool = False,
    ) -> list[ApprovalInfo]:
        """Approve (publish) or, with `reject=True`, reject the results held at a gate."""
        decision = "reject" if reject else "approve"
        who = by or getpass.getuser()
        if self.mode == "remote":
            return self._approve_remote(target, decision, who, reason, all_pending)
        from lume_assets.automation.approval import ApprovalStore, decide, store_publisher

        approvals = ApprovalStore()
        try:
            publish = store_publisher(self.store) if decision == "approve" else None
            done = decide(
                approvals, target, decision, who, reason=reason, publish=publish, every=all_pending
            )
        finally:
            approvals.dispose()
        return [
            ApprovalInfo(
                id=a.id,
                gate=a.gate,
                run_id=a.run_id,
                status=a.status.value,
                decided_by=a.decided_by,
                decided_at=a.decided_at.isoformat() if a.decided_at else None,
                reason=a.reason,
                results=len(a.results),
            )
            for a in done
        ]

    def _approve_remote(
        self, target: str, decision: str, by: str, reason: str, every: bool
    ) -> list[ApprovalInfo]:
        """Launch the server's approval job and report the decisions it logged."""
        from lume_assets.errors import ApprovalError

        config = {
            "ops": {
                APPROVAL_OP: {
                    "config": {
                        "target": target,
                        "decision": decision,
                        "by": by,
                        "reason": reason,
                        "all_pending": every,
                    }
                }
            }
        }
        node = self.backend.job_node(APPROVAL_JOB)
        run_id = self.backend.launch(node, [], config, what=APPROVAL_JOB, job=APPROVAL_JOB)
        info = self.backend.wait(run_id)
        if not info.succeeded:
            raise ApprovalError(_strip_class(info.error or f"approval run {run_id} {info.status}"))
        out = []
        for obs in self.backend.observations(run_id):
            meta = obs["metadata"]
            out.append(
                ApprovalInfo(
                    id=int(meta.get("approval_id", 0)),
                    gate=obs["asset"],
                    run_id=str(meta.get("run_id", "")),
                    status=str(meta.get("approval_status", "")),
                    decided_by=meta.get("decided_by") or None,
                    decided_at=meta.get("decided_at") or None,
                    reason=meta.get("reason") or None,
                    results=int(meta.get("results", 0)),
                )
            )
        return out

    # -- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        """Wait for local runs and close the result store."""
        if self._backend is not None:
            self._backend.close()
        if self._store is not None:
            self._store.close()
            self._store = None
        stores, self._stores = self._stores, {}
        for store in stores.values():
            store.close()

    def __enter__(self) -> LumeClient:
        """Use the client as a context manager that closes it."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the client."""
        self.close()


def _strip_class(message: str) -> str:
    """'ModelInputError: text' -> 'text' (the exception class says it already)."""
    head, sep, rest = message.partition(": ")
    return rest if sep and head.isidentifier() and head.endswith("Error") else message


def _failed(info: RunInfo) -> Exception:
    """The lume_assets exception for a failed run: the model's input error, else RunFailedError."""
    message = info.error or f"run ended {info.status}"
    if message.startswith("ModelInputError: "):
        exc: Exception = ModelInputError(f"{_strip_class(message)} (run {info.run_id})")
    else:
        exc = RunFailedError(f"Run {info.run_id} failed: {message}")
    exc.run = info  # type: ignore[attr-defined]
    return exc

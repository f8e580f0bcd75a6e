"""Remote backend: a running dagster-webserver, through DagsterGraphQLClient and raw GraphQL.

Runs are launched with `DagsterGraphQLClient.submit_job_execution`; what that client cannot do
(run details and failure messages, asset nodes, backfills) goes through the queries in
`api.queries`. Every GraphQL error becomes a lume_assets exception carrying the server's message.
"""

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import requests
from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

from lume_assets.api import queries
from lume_assets.api.catalog import (
    FORCE_FIELD,
    MODEL_METADATA,
    VERSION_METADATA,
    find_model,
    run_config,
)
from lume_assets.api.inputs import check_inputs
from lume_assets.api.local import error_text
from lume_assets.api.records import (
    STEPS_DONE,
    BackfillInfo,
    ModelInfo,
    Progress,
    RunInfo,
    VariableInfo,
    utc_time,
)
from lume_assets.assets.model_config import description_parts
from lume_assets.assets.model_display import (
    INPUT_SPECS_METADATA,
    INPUTS_METADATA,
    OUTPUTS_METADATA,
)
from lume_assets.assets.model_keys import is_result_path
from lume_assets.errors import ClientError, ModelInputError

POLL_S = 0.5
ASSET_JOB = "__ASSET_JOB"


def _key(path: Sequence[str]) -> str:
    """An asset key path as 'a/b'."""
    return "/".join(path)


def metadata_values(entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """GraphQL metadata entries as {label: plain value}."""
    out: dict[str, Any] = {}
    for entry in entries:
        if "table" in entry:  # records are JSON objects
            out[entry["label"]] = [json.loads(r) for r in entry["table"]["records"]]
            continue
        for field in ("text", "intValue", "floatValue", "boolValue", "mdStr"):
            if field in entry:
                out[entry["label"]] = entry[field]
                break
    return out


def config_error_text(errors: Any) -> str:
    """Dagster's config validation errors as one line."""
    if isinstance(errors, list):
        return " ".join(e.get("message", str(e)) if isinstance(e, dict) else str(e) for e in errors)
    return str(errors)


class RemoteBackend:
    """Talks to the dagster-webserver at `url` (e.g. http://127.0.0.1:3000)."""

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        """Connect to the webserver at `url` (nothing is sent until the first call)."""
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if not parts.hostname:
            raise ClientError(f"Remote URL {url!r} has no host; use e.g. http://127.0.0.1:3000.")
        self.url = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        self.graphql_url = f"{self.url}/graphql"
        self.timeout = timeout
        self.client = DagsterGraphQLClient(
            parts.hostname,
            port_number=parts.port,
            use_https=parts.scheme == "https",
            path_prefix=parts.path.rstrip("/"),
            timeout=int(timeout),
        )
        self._models: dict[str, ModelInfo] | None = None
        self._nodes: list[dict[str, Any]] | None = None

    # -- raw GraphQL -----------------------------------------------------------------------------
    def query(self, document: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """POST one GraphQL document; return `data` or raise ClientError with the server's words."""
        try:
            response = requests.post(
                self.graphql_url,
                json={"query": document, "variables": dict(variables or {})},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise ClientError(
                f"Cannot reach the Dagster webserver at {self.url} ({type(exc).__name__}); "
                "start it with `lume-assets dev` or check the --remote URL."
            ) from None
        if response.status_code >= 400:
            raise ClientError(
                f"The Dagster webserver at {self.url} answered HTTP {response.status_code}: "
                f"{response.text[:300]}"
            )
        body = response.json()
        if body.get("errors"):
            raise ClientError(
                f"The Dagster webserver at {self.url} refused the request: "
                + "; ".join(e.get("message", str(e)) for e in body["errors"])
            )
        return body["data"]

    # -- models ----------------------------------------------------------------------------------
    def nodes(self) -> list[dict[str, Any]]:
        """Every asset node of the deployment (cached)."""
        if self._nodes is None:
            self._nodes = self.query(queries.ASSET_NODES)["assetNodes"]
        return self._nodes

    def models(self) -> dict[str, ModelInfo]:
        """The models the deployment serves, from their result assets' metadata and config."""
        if self._models is None:
            nodes = self.nodes()
            by_op: dict[str, list[dict[str, Any]]] = {}
            for node in nodes:
                for op in node["opNames"]:
                    by_op.setdefault(op, []).append(node)
            found: dict[str, ModelInfo] = {}
            ranks: dict[str, tuple[bool, int, str]] = {}
            for node in nodes:
                meta = metadata_values(node["metadataEntries"])
                if MODEL_METADATA not in meta or not is_result_path(node["assetKey"]["path"]):
                    continue
                op = node["opNames"][0]
                siblings = by_op.get(op, [node])
                known = ranks.get(str(meta[MODEL_METADATA]))
                rank = (node["isPartitioned"], len(node["assetKey"]["path"]), op)
                if known is not None and known <= rank:
                    continue  # served several times: keep the unpartitioned, shortest key
                ranks[str(meta[MODEL_METADATA])] = rank
                found[str(meta[MODEL_METADATA])] = ModelInfo(
                    name=str(meta[MODEL_METADATA]),
                    version=str(meta.get(VERSION_METADATA, "")),
                    # the result asset's description is the model's plus what the record holds
                    description=(node.get("description") or "").split(" — result record")[0],
                    project=node["groupName"],
                    group=node["groupName"],
                    owners=[o.get("email") or f"team:{o.get('team')}" for o in node["owners"]],
                    kinds=sorted({k for n in siblings for k in n["kinds"]}),
                    inputs=_config_inputs(
                        node, meta.get(INPUTS_METADATA), _specs(meta.get(INPUT_SPECS_METADATA))
                    ),
                    outputs=[_variable(row) for row in meta.get(OUTPUTS_METADATA, [])],
                    assets=sorted(_key(n["assetKey"]["path"]) for n in siblings),
                    result_asset=_key(node["assetKey"]["path"]),
                    op_name=op,
                )
            self._models = found
        return self._models

    def _node(self, asset: str) -> dict[str, Any]:
        """The asset node of `asset`, or a ClientError listing assets."""
        for node in self.nodes():
            if _key(node["assetKey"]["path"]) == asset:
                return node
        known = ", ".join(sorted(_key(n["assetKey"]["path"]) for n in self.nodes()))
        raise ClientError(f"No asset {asset!r} on {self.url}; assets: {known}.")

    # -- runs ------------------------------------------------------------------------------------
    def submit(
        self,
        model: str,
        inputs: Mapping[str, Any],
        force: bool = False,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """Launch a run of the model's assets with `inputs` as config; return the run id."""
        info = find_model(self.models(), model)
        inputs = check_inputs(info, inputs)
        node = self._node(info.result_asset)
        return self.launch(
            node, info.assets, run_config(info, inputs, force), tags, what=f"model {model!r}"
        )

    def launch(
        self,
        node: Mapping[str, Any],
        assets: Sequence[str],
        config: Mapping[str, Any],
        tags: Mapping[str, str] | None = None,
        what: str = "",
        job: str | None = None,
    ) -> str:
        """Submit a run (of `job`, or the asset job of `node` for `assets`); return its id."""
        repo = node["repository"]
        try:
            return self.client.submit_job_execution(
                job or _asset_job(node["jobNames"]),
                repository_location_name=repo["location"]["name"],
                repository_name=repo["name"],
                run_config=dict(config),
                tags=dict(tags or {}),
                asset_selection=None if job else [a.split("/") for a in assets],
            )
        except DagsterGraphQLClientError as exc:
            kind = exc.args[0] if exc.args else "Error"
            detail = exc.args[1] if len(exc.args) > 1 else exc.body
            if kind in ("RunConfigValidationInvalid", "PipelineConfigValidationInvalid"):
                raise ModelInputError(
                    f"The server refused the inputs of {what}: {config_error_text(detail)}"
                ) from None
            raise ClientError(
                f"The server at {self.url} could not launch {what}: {kind}: {detail}"
            ) from None

    def job_node(self, job: str) -> dict[str, Any]:
        """Any asset node, to learn the repository that serves `job`."""
        nodes = self.nodes()
        if not nodes:
            raise ClientError(f"The deployment at {self.url} has no assets; cannot launch {job}.")
        return nodes[0]

    def _run(self, run_id: str) -> dict[str, Any]:
        """The Run object of `run_id` (ClientError if absent)."""
        found = self.query(queries.RUN, {"runId": run_id})["runOrError"]
        if found["__typename"] != "Run":
            raise ClientError(f"Run {run_id!r} on {self.url}: {found.get('message', 'not found')}")
        return found

    def events(self, run_id: str) -> list[dict[str, Any]]:
        """Every event of the run (paged)."""
        out: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self.query(queries.RUN_EVENTS, {"runId": run_id, "cursor": cursor})["logsForRun"]
            if page["__typename"] != "EventConnection":
                raise ClientError(f"Run {run_id!r}: {page.get('message', page['__typename'])}")
            out.extend(page["events"])
            cursor = page["cursor"]
            if not page["hasMore"]:
                return out

    def failure(self, run_id: str) -> str | None:
        """The first failure message of the run (a step's, else the run's)."""
        for event in self.events(run_id):
            if event["__typename"] == "ExecutionStepFailureEvent":
                meta = event.get("failureMetadata") or {}
                if meta.get("description"):
                    return meta["description"]
                error = event.get("error") or {}
                while error.get("cause"):  # the user's exception, not Dagster's wrapper
                    error = error["cause"]
                if error.get("message"):
                    return error_text(error.get("className"), error["message"])
                return event["message"]
        for event in self.events(run_id):
            if event["__typename"] == "RunFailureEvent":
                return event["message"]
        return None

    def status(self, run_id: str) -> RunInfo:
        """The run's status, materialized assets, step counts and first failure message."""
        run = self._run(run_id)
        steps = run["stepStats"]
        return RunInfo(
            run_id=run["runId"],
            status=run["status"],
            job_name=run["jobName"],
            assets=list(
                dict.fromkeys(_key(m["assetKey"]["path"]) for m in run["assetMaterializations"])
            ),
            steps_total=len(run["stepKeysToExecute"] or []) or len(steps),
            steps_done=sum(1 for s in steps if s["status"] in STEPS_DONE),
            started=utc_time(run["startTime"]),
            ended=utc_time(run["endTime"]),
            error=self.failure(run_id) if run["status"] in ("FAILURE", "CANCELED") else None,
            tags={t["key"]: t["value"] for t in run["tags"]},
        )

    def wait(
        self, run_id: str, timeout: float | None = None, progress: Progress | None = None
    ) -> RunInfo:
        """Poll until the run finishes (ClientError on timeout); return its final status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            info = self.status(run_id)
            if progress is not None and info.steps_total:
                progress(info.steps_done, info.steps_total)
            if info.finished:
                return info
            if deadline is not None and time.monotonic() > deadline:
                raise ClientError(
                    f"Run {run_id} on {self.url} did not finish within {timeout:g} s."
                )
            time.sleep(POLL_S)

    def materialization_metadata(self, run_id: str, asset: str) -> dict[str, Any]:
        """Metadata values of `asset`'s materialization in the run (empty if none)."""
        for mat in self._run(run_id)["assetMaterializations"]:
            if _key(mat["assetKey"]["path"]) == asset:
                return metadata_values(mat["metadataEntries"])
        return {}

    def observations(self, run_id: str) -> list[dict[str, Any]]:
        """Asset observations logged by the run, as {asset, metadata}."""
        return [
            {
                "asset": _key(e["assetKey"]["path"]),
                "metadata": metadata_values(e["metadataEntries"]),
            }
            for e in self.events(run_id)
            if e["__typename"] == "ObservationEvent"
        ]

    # -- backfills -------------------------------------------------------------------------------
    def partition_keys(self, asset: str) -> list[str]:
        """Every partition key of `asset` (ClientError if it is not partitioned)."""
        node = self._node(asset)
        found = self.query(queries.PARTITION_KEYS, {"assetKey": {"path": asset.split("/")}})
        keys = found["assetNodes"][0]["partitionKeys"] if found["assetNodes"] else []
        if not node["isPartitioned"]:
            raise ClientError(f"Asset {asset!r} is not partitioned; materialize it with `run`.")
        return keys

    def backfill(
        self,
        asset: str,
        partitions: Sequence[str] | None = None,
        progress: Progress | None = None,
        timeout: float | None = None,
    ) -> BackfillInfo:
        """Launch a backfill through the server's daemon and wait for it to finish."""
        everything = self.partition_keys(asset)
        keys = list(partitions) if partitions else everything
        unknown = [k for k in keys if k not in everything]
        if unknown:
            raise ClientError(
                f"Asset {asset!r} has no partition(s) {unknown}; partitions: "
                f"{', '.join(everything[:10])}{' ...' if len(everything) > 10 else ''}."
            )
        launched = self.query(
            queries.LAUNCH_BACKFILL,
            {
                "params": {
                    "partitionNames": keys,
                    "assetSelection": [{"path": asset.split("/")}],
                    "fromFailure": False,
                    "title": f"lume-assets backfill of {asset}",
                }
            },
        )["launchPartitionBackfill"]
        if launched["__typename"] != "LaunchBackfillSuccess":
            detail = launched.get("message") or config_error_text(launched.get("errors"))
            raise ClientError(f"The server refused the backfill of {asset!r}: {detail}")
        return self.wait_backfill(launched["backfillId"], asset, keys, progress, timeout)

    def backfill_status(self, backfill_id: str, asset: str) -> BackfillInfo:
        """Where backfill `backfill_id` stands."""
        found = self.query(queries.BACKFILL, {"id": backfill_id})["partitionBackfillOrError"]
        if found["__typename"] != "PartitionBackfill":
            raise ClientError(f"Backfill {backfill_id!r}: {found.get('message', 'not found')}")
        done = failed = 0
        for counts in (found.get("assetBackfillData") or {}).get("assetBackfillStatuses", []):
            if counts and _key(counts.get("assetKey", {}).get("path", [])) == asset:
                done = counts["numPartitionsMaterialized"]
                failed = counts["numPartitionsFailed"]
        error = (found.get("error") or {}).get("message")
        failures = [r["runId"] for r in found["runs"] if r["status"] == "FAILURE"]
        if failures and not error:
            error = "; ".join(f"run {r}: {self.failure(r)}" for r in failures)
        return BackfillInfo(
            backfill_id=backfill_id,
            asset=asset,
            status=found["status"],
            partitions=found["partitionNames"] or [],
            run_ids=[r["runId"] for r in found["runs"]],
            partitions_done=done,
            error=error if (failed or failures or found["status"] == "FAILED") else None,
        )

    def wait_backfill(
        self,
        backfill_id: str,
        asset: str,
        keys: Sequence[str],
        progress: Progress | None = None,
        timeout: float | None = None,
    ) -> BackfillInfo:
        """Poll the backfill until it finishes, reporting materialized partitions."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            info = self.backfill_status(backfill_id, asset)
            if progress is not None:
                progress(info.partitions_done, len(keys))
            if info.finished:
                return info
            if deadline is not None and time.monotonic() > deadline:
                raise ClientError(
                    f"Backfill {backfill_id} of {asset!r} did not finish within {timeout:g} s; "
                    "is the dagster-daemon running (`lume-assets dev` starts it)?"
                )
            time.sleep(POLL_S)

    def close(self) -> None:
        """Nothing to release (HTTP requests are one-shot)."""


def _asset_job(jobs: Sequence[str]) -> str:
    """The job to launch an asset selection with: Dagster's implicit asset job if it has one."""
    return ASSET_JOB if ASSET_JOB in jobs else jobs[0]


def _variable(row: Mapping[str, Any]) -> VariableInfo:
    """A variable from a row of the `lume/inputs` / `lume/outputs` tables (default as JSON)."""
    default = row.get("default")
    return VariableInfo(**{**row, "default": json.loads(default) if default else None})


def _specs(text: Any) -> dict[str, Any]:
    """The inputs' declarations from the `lume/input_specs` metadata text (empty if absent)."""
    try:
        specs = json.loads(text) if text else {}
    except ValueError:
        return {}
    return specs if isinstance(specs, dict) else {}


def _config_inputs(
    node: Mapping[str, Any],
    declared: Sequence[Mapping[str, Any]] | None = None,
    specs: Mapping[str, Any] | None = None,
) -> list[VariableInfo]:
    """Inputs the op's config takes: as the asset declares them (in declared order), else
    from the config schema."""
    config_type = (node.get("configField") or {}).get("configType") or {}
    by_name = {row["name"]: row for row in declared or []}
    order = {name: i for i, name in enumerate(by_name)}
    fields = sorted(config_type.get("fields", []), key=lambda f: order.get(f["name"], len(order)))
    out = []
    for field in fields:
        if field["name"] == FORCE_FIELD:
            continue
        if field["name"] in by_name:
            row = by_name[field["name"]]
            out.append(_variable({**row, "spec": (specs or {}).get(field["name"])}))
            continue
        raw = field.get("defaultValueAsJson")
        text, allowed = description_parts(field.get("description") or "")
        out.append(
            VariableInfo(
                name=field["name"],
                default=json.loads(raw) if raw is not None else None,
                allowed=allowed,
                description=text,
            )
        )
    return out

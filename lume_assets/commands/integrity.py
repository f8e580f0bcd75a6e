"""`lume-assets verify`, `gc` and `rerun`: trust, repair and reproduce stored results.

- `verify [MODEL]` — every result's files exist and match their sha256; orphans and stale temp
  files under the files root are listed. Exit 1 when a file is missing or differs.
- `gc [--dry-run]` — removes orphans and stale temp files; never a file a result references.
- `rerun HASH` — re-evaluates a stored result from its record alone (the model version from the
  registry; refused when the deployed source changed) and reports, output by output, whether
  the new value is bit-identical to the stored one (exit 1 if any differs).
"""

from __future__ import annotations

from typing import Any

import click

from lume_assets.commands.common import table
from lume_assets.errors import LumeError, ModelError, ResultNotFoundError


def _store_and_root() -> tuple[Any, Any]:
    """The settings' result store and files root."""
    from lume_assets.automation.approval import settings_result_store
    from lume_assets.settings import get_settings

    return settings_result_store(), get_settings().resolved_files_root()


def _findings_table(findings: list) -> str:
    """The findings as a table."""
    return table([[f.kind, f.path, f.detail] for f in findings], ["problem", "file", "detail"])


@click.command()
@click.argument("model", required=False)
def verify(model: str | None) -> None:
    """Check every stored result's files (exist, sha256) and list orphans and stale temps."""
    from lume_assets.storage.integrity import verify_files

    store, root = _store_and_root()
    try:
        report = verify_files(store, root, model)
    finally:
        store.close()
    if report.findings:
        click.echo(_findings_table(report.findings))
    bad = report.of_kind("missing", "mismatch")
    extra = report.of_kind("orphan", "stale-temp")
    click.echo(
        f"{report.results} result(s), {report.files} file reference(s) checked under {root}: "
        f"{len(bad)} missing or changed, {len(extra)} orphan/stale file(s)"
        + (" (remove them with `lume-assets gc`)" if extra else "")
        + "."
    )
    if bad:
        raise SystemExit(1)


@click.command()
@click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
def gc(dry_run: bool) -> None:
    """Remove orphan files and stale temp files under the files root (never a result's file)."""
    from lume_assets.storage.integrity import collect_garbage, verify_files

    store, root = _store_and_root()
    try:
        report = verify_files(store, root)
    finally:
        store.close()
    removed = collect_garbage(report, dry_run=dry_run)
    if removed:
        click.echo(_findings_table(removed))
    verb = "would remove" if dry_run else "removed"
    click.echo(f"{verb} {len(removed)} file(s) under {root}.")


def _deployed_spec(name: str) -> Any:
    """The ModelSpec of `name` in the deployed code location (or installed)."""
    from lume_assets.location import load_definitions
    from lume_assets.models.catalogue import CATALOGUE
    from lume_assets.serving import served_spec

    load_definitions()  # serves the location's models, graph nodes included
    spec = served_spec(name)
    if spec is None and name in CATALOGUE:
        spec = CATALOGUE.resolve(name)
    if spec is not None:
        return spec
    raise ModelError(
        f"model {name!r} is not deployed in this code location; rerun needs its current code."
    )


def _rerun(inputs_hash: str) -> tuple[Any, dict[str, Any]]:
    """Re-evaluate the stored result `inputs_hash`; return (record, new outputs)."""
    from lume_assets.models.registry import ModelRegistry
    from lume_assets.settings import get_settings

    store, _ = _store_and_root()
    try:
        record = store.find_one(inputs_hash, include_unpublished=True)
    finally:
        store.close()
    if record is None:
        raise ResultNotFoundError(
            f"No stored result has inputs hash {inputs_hash!r}; give the full 64-character hash "
            "(`lume-assets results MODEL` lists them)."
        )
    registry = ModelRegistry(get_settings().resolved_registry_url())
    try:
        deployment = registry.get_deployment(record.model, record.version)
    finally:
        registry.close()
    spec = _deployed_spec(record.model)
    now = spec.source_sha256()
    made_by = record.provenance.code_sha or deployment.source_sha256
    if spec.version != record.version or now != deployment.source_sha256 or now != made_by:
        raise ModelError(
            f"cannot reproduce {inputs_hash[:16]}: it was made by {record.model} "
            f"v{record.version} (source {made_by[:12]}), but the deployed code is "
            f"v{spec.version} (source {now[:12]}); the model's source changed. Check out the "
            "code of that version to rerun it."
        )
    return record, spec.evaluate(record.inputs)


@click.command()
@click.argument("inputs_hash", metavar="HASH")
def rerun(inputs_hash: str) -> None:
    """Re-evaluate the stored result HASH and report whether every output is bit-identical."""
    from lume_assets.storage.integrity import identical

    try:
        record, outputs = _rerun(inputs_hash.strip())
    except LumeError as exc:
        raise click.ClickException(str(exc)) from None
    rows = []
    for name, stored in record.outputs.items():
        same = name in outputs and identical(stored, outputs[name])
        rows.append([name, "identical" if same else "DIFFERS"])
    click.echo(table(rows, ["output", "rerun"]))
    differs = [r[0] for r in rows if r[1] != "identical"]
    if differs:
        click.echo(f"{record.model} v{record.version}: {len(differs)} output(s) differ.")
        raise SystemExit(1)
    click.echo(
        f"{record.model} v{record.version} {record.inputs_hash[:16]}: every output is "
        "bit-identical."
    )

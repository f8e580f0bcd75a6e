"""Offline Kubernetes manifest validation with `kubernetes-validate --strict` (no cluster here)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import kubernetes
import yaml

#: Oldest Kubernetes release we support; strict schemas for it ship with kubernetes-validate.
K8S_VERSION = "1.30.0"


def to_manifest(obj: Any) -> dict[str, Any]:
    """Return a kubernetes client model (e.g. the launcher's V1Job) as a plain camelCase dict."""
    return kubernetes.client.ApiClient().sanitize_for_serialization(obj)


def validate_strict(documents: Iterable[dict[str, Any]]) -> tuple[bool, str]:
    """Run `kubernetes-validate --strict` on `documents`; return (all passed, its output)."""
    with tempfile.TemporaryDirectory(prefix="lume-k8s-") as tmp:
        path = Path(tmp) / "manifests.yaml"
        path.write_text(yaml.safe_dump_all(list(documents), sort_keys=False))
        return validate_files([path])


def validate_files(paths: Iterable[Path]) -> tuple[bool, str]:
    """Run `kubernetes-validate --strict` on YAML files; return (all passed, its output)."""
    proc = subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", K8S_VERSION]
        + [str(p) for p in paths],
        capture_output=True,
        text=True,
    )
    output = proc.stdout + proc.stderr
    return proc.returncode == 0 and "ERROR" not in output, output


def manifest_documents(path: Path) -> list[dict[str, Any]]:
    """Return the Kubernetes objects (documents with apiVersion and kind) in a YAML file."""
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    return [d for d in docs if isinstance(d, dict) and "apiVersion" in d and "kind" in d]

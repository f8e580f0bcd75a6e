"""A stand-in for the Kubernetes API server and kubelet: no cluster exists on this machine.

Only the API calls `K8sChunkClient` makes are replaced (`BatchV1Api.create_namespaced_job`,
`read_namespaced_job_status`, `delete_namespaced_job`, `CoreV1Api.list_namespaced_pod`,
`read_namespaced_pod_log`), and the credential loaders. Creating a Job records its manifest and
runs its container's command as a local process with the container's environment (the shared
volume is this machine's filesystem, so ``work_dir`` resolves as it would in the pod); the pod
log is that process's merged stdout/stderr, timestamped as the kubelet does. So the recorded Job
is the one whose command, environment and Pipes bootstrap really produced the results.
"""

from __future__ import annotations

import copy
import os
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import kubernetes
import pytest


class _Pod:
    """A Job's one pod: a local process and its timestamped log lines."""

    def __init__(self, name: str, command: list[str], env: dict[str, str]) -> None:
        """Start the container's command with its environment."""
        self.name = name
        self.lines: list[bytes] = []
        self.done = threading.Event()
        self.proc = subprocess.Popen(
            command,
            env={"PATH": os.environ["PATH"], **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        """Collect the log, each line prefixed with an RFC 3339 timestamp."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ").encode()
            self.lines.append(stamp + b" " + line)
        self.proc.wait()
        self.done.set()

    def log(self) -> Iterator[bytes]:
        """Follow the log until the container ends."""
        sent = 0
        while True:
            finished = self.done.wait(0.05)
            while sent < len(self.lines):
                yield self.lines[sent]
                sent += 1
            if finished:
                return


class FakeKubernetes:
    """Records the Jobs created and plays them as local processes (see module docstring)."""

    def __init__(self) -> None:
        """Start with no Jobs."""
        self.created: list[dict[str, Any]] = []
        self.deleted: list[str] = []
        self.pods: dict[str, _Pod] = {}

    # BatchV1Api
    def create_namespaced_job(self, namespace: str, body: dict[str, Any], **_: Any) -> None:
        """Record the Job and start its pod."""
        assert body["metadata"]["namespace"] == namespace
        self.created.append(copy.deepcopy(body))
        (container,) = body["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e["value"] for e in container.get("env", [])}
        name = body["metadata"]["name"]
        self.pods[name] = _Pod(f"{name}-x7k2q", container["command"], env)

    def read_namespaced_job_status(self, name: str, namespace: str, **_: Any) -> Any:
        """The Job's status: succeeded or failed once its pod's process has ended."""
        code = self.pods[name].proc.poll()
        return SimpleNamespace(
            status=SimpleNamespace(
                succeeded=1 if code == 0 else None,
                failed=1 if code not in (0, None) else None,
            )
        )

    def delete_namespaced_job(self, name: str, namespace: str, **_: Any) -> None:
        """Record the deletion (and stop the pod if it still runs)."""
        self.deleted.append(name)
        pod = self.pods[name]
        if pod.proc.poll() is None:
            pod.proc.kill()

    # CoreV1Api
    def list_namespaced_pod(self, namespace: str, label_selector: str = "", **_: Any) -> Any:
        """Pods of the Job named in ``job-name=NAME``."""
        job = label_selector.removeprefix("job-name=")
        pod = self.pods.get(job)
        items = []
        if pod is not None:
            code = pod.proc.poll()
            phase = "Running" if code is None else ("Succeeded" if code == 0 else "Failed")
            items.append(
                SimpleNamespace(
                    metadata=SimpleNamespace(name=pod.name), status=SimpleNamespace(phase=phase)
                )
            )
        return SimpleNamespace(items=items)

    def read_namespaced_pod_log(self, name: str, namespace: str, **_: Any) -> Iterator[bytes]:
        """The pod's log stream (``follow=True, timestamps=True, _preload_content=False``)."""
        (pod,) = [p for p in self.pods.values() if p.name == name]
        return pod.log()


@pytest.fixture
def fake_k8s(monkeypatch: pytest.MonkeyPatch) -> FakeKubernetes:
    """Replace the Kubernetes API clients (and credential loading) by a `FakeKubernetes`."""
    fake = FakeKubernetes()
    monkeypatch.setattr(kubernetes.config, "load_incluster_config", lambda *a, **k: None)
    monkeypatch.setattr(kubernetes.config, "load_kube_config", lambda *a, **k: None)
    monkeypatch.setattr(kubernetes.client, "BatchV1Api", lambda *a, **k: fake)
    monkeypatch.setattr(kubernetes.client, "CoreV1Api", lambda *a, **k: fake)
    return fake

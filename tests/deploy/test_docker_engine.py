"""When no Docker engine can be had, the reason is reported (the Docker tests then fail with it)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from tests.deploy import docker_engine
from tests.deploy.docker_engine import DockerEngine, DockerUnavailable


@pytest.fixture
def no_running_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No engine answers (dead DOCKER_HOST and default socket); a private cache directory."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    monkeypatch.setattr(docker_engine, "DEFAULT_SOCKET", f"unix://{tmp_path}/none2.sock")
    monkeypatch.setattr(docker_engine, "CACHE_DIR", tmp_path / "cache")
    return tmp_path


def test_missing_dockerd_is_reported_with_the_fix(
    no_running_engine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without docker.io installed, the message says how to install it."""
    monkeypatch.setenv("PATH", str(no_running_engine))  # no dockerd on PATH
    with pytest.raises(DockerUnavailable, match=r"dockerd is not installed.*scripts/setup --dev"):
        DockerEngine.start()


def test_a_dockerd_that_cannot_start_is_reported_with_its_log(
    no_running_engine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dockerd that exits (here: one refusing to run) yields its exit code and log lines."""
    bindir = no_running_engine / "bin"
    bindir.mkdir()
    fake = bindir / "dockerd"
    fake.write_text(
        "#!/bin/sh\necho 'failed to start daemon: iptables not permitted' >&2\nexit 1\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(DockerUnavailable) as info:
        DockerEngine.start(timeout=20)
    message = str(info.value)
    assert "dockerd did not start" in message and "exit code 1" in message
    assert "iptables not permitted" in message
    # The data-root lock is released, so the next session is not blocked.
    fd = os.open(docker_engine.CACHE_DIR / "dockerd.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)

"""Fixtures for the deployment tests: a real Docker engine, a registry-free base image, and a
PostgreSQL server that containers on the Docker bridge can reach."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.docker_engine import DockerEngine, DockerUnavailable
from tests.servers import PostgresServer

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
TEST_NETWORK = "lume-test-net"


@dataclass
class DockerSetup:
    """The engine, the base image tag, and the test network with its gateway (host) address."""

    engine: DockerEngine
    image: str
    network: str
    gateway: str
    subnet: str
    seconds: dict[str, float]


# Module scope: dockerd runs only while the Docker tests do (it holds the data-root lock that
# a concurrent test session waits for, and should not idle on a shared machine).
@pytest.fixture(scope="module")
def docker_setup() -> Iterator[DockerSetup]:
    """A running Docker engine with the base image and test network; FAILS (never skips) if not.

    Timings of each stage are kept in `seconds` and printed, so CI logs show what it cost.
    """
    seconds: dict[str, float] = {}
    t0 = time.monotonic()
    try:
        engine = DockerEngine.start()
    except DockerUnavailable as exc:
        pytest.fail(f"Docker engine unavailable, so the Docker launcher cannot be tested: {exc}")
    seconds["engine"] = time.monotonic() - t0
    previous = os.environ.get("DOCKER_HOST")
    os.environ["DOCKER_HOST"] = engine.base_url  # docker.from_env() in DockerRunLauncher
    try:
        t1 = time.monotonic()
        try:
            image = engine.ensure_base_image()
            gateway, subnet = engine.ensure_network(TEST_NETWORK)
        except DockerUnavailable as exc:
            pytest.fail(f"Could not prepare the Docker base image or network: {exc}")
        seconds["image_and_network"] = time.monotonic() - t1
        print(
            f"\n[docker] engine {seconds['engine']:.1f} s, image+network "
            f"{seconds['image_and_network']:.1f} s ({image})"
        )
        yield DockerSetup(engine, image, TEST_NETWORK, gateway, subnet, seconds)
    finally:
        if previous is None:
            os.environ.pop("DOCKER_HOST", None)
        else:
            os.environ["DOCKER_HOST"] = previous
        engine.stop()


@pytest.fixture(scope="module")
def bridge_postgres(docker_setup: DockerSetup) -> Iterator[PostgresServer]:
    """A PostgreSQL server listening on loopback and on the Docker bridge gateway."""
    server = PostgresServer.start(
        listen_addresses=("127.0.0.1", docker_setup.gateway), trust_cidrs=(docker_setup.subnet,)
    )
    try:
        yield server
    finally:
        server.stop()

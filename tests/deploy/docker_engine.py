"""A real Docker engine for the deployment tests, and a base image built without any registry.

No registry can be reached from this machine, so nothing is pulled: the base image is a Debian
bookworm root filesystem made by `debootstrap --variant=minbase` and loaded with `docker import`.
The run containers reuse the host's Python and virtualenv through read-only bind mounts at the
same paths, so the code that runs in the container is exactly the code under test.

If a Docker engine already answers (``$DOCKER_HOST`` or the default socket) it is used; otherwise
`dockerd` is started on its own socket with a persistent data root (so the imported image is cached
between sessions) and stopped by its PID at the end.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors

from tests.servers import stop_pid

#: Debian packages added to minbase: python3 (for a Debian-built venv) and the shared libraries a
#: pyenv CPython links against (ssl, sqlite3, readline, expat).
BASE_PACKAGES = ("python3", "libssl3", "libsqlite3-0", "libreadline8", "libexpat1")
SUITE = "bookworm"
CACHE_DIR = Path(os.environ.get("LUME_TEST_DOCKER_CACHE", "/var/cache/lume-assets-test"))
MIRROR = os.environ.get("LUME_TEST_DEBIAN_MIRROR", "http://deb.debian.org/debian")
DEFAULT_SOCKET = "unix:///var/run/docker.sock"


class DockerUnavailable(RuntimeError):
    """The Docker engine or the base image could not be provided; the message says why."""


def _base_image_tag() -> str:
    """Return the tag of the base image; it changes when the package list changes."""
    digest = hashlib.sha256(f"{SUITE}:{','.join(BASE_PACKAGES)}".encode()).hexdigest()[:12]
    return f"lume-assets-test-base:{SUITE}-{digest}"


def _ping(base_url: str) -> docker.DockerClient | None:
    """Return a client for `base_url` if an engine answers there, else None."""
    try:
        client = docker.DockerClient(base_url=base_url, version="auto", timeout=10)
        client.ping()
        client.api.timeout = 300  # the work (image import, containers) on a loaded machine
        return client
    except Exception:
        return None


@dataclass
class DockerEngine:
    """A reachable Docker engine: its URL, a client, and the dockerd PID if we started it."""

    base_url: str
    client: docker.DockerClient
    pid: int | None = None
    log_path: Path | None = None
    run_dir: Path | None = None
    _lock_fd: int | None = field(default=None, repr=False)

    @classmethod
    def start(cls, timeout: float = 300.0) -> DockerEngine:
        """Use a running engine, or start `dockerd` on a private socket; raise why if neither."""
        for url in filter(None, [os.environ.get("DOCKER_HOST"), DEFAULT_SOCKET]):
            client = _ping(url)
            if client is not None:
                return cls(base_url=url, client=client)
        dockerd = shutil.which("dockerd")
        if dockerd is None:
            raise DockerUnavailable(
                "dockerd is not installed: run `bash scripts/setup --dev` (installs Debian's "
                "docker.io) as root."
            )
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        # One dockerd per data root: a second test session waits for the first to finish.
        lock_fd = os.open(CACHE_DIR / "dockerd.lock", os.O_CREAT | os.O_RDWR)
        deadline = time.monotonic() + 600
        while True:
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(lock_fd)
                    raise DockerUnavailable(
                        f"another test session holds {CACHE_DIR}/dockerd.lock for > 10 min"
                    ) from None
                time.sleep(1)
        run_dir = Path(tempfile.mkdtemp(prefix="lume-dockerd-"))
        sock = run_dir / "docker.sock"
        log_path = run_dir / "dockerd.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [
                    dockerd,
                    "--host",
                    f"unix://{sock}",
                    "--data-root",
                    str(CACHE_DIR / "data-root"),
                    "--exec-root",
                    str(run_dir / "exec"),
                    "--pidfile",
                    str(run_dir / "dockerd.pid"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        url = f"unix://{sock}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            client = _ping(url) if sock.exists() else None
            if client is not None:
                return cls(url, client, proc.pid, log_path, run_dir, _lock_fd=lock_fd)
            time.sleep(0.25)
        stop_pid(proc.pid, timeout=15)
        fcntl.flock(lock_fd, fcntl.LOCK_UN)
        os.close(lock_fd)
        tail = log_path.read_text(errors="replace")[-3000:]
        shutil.rmtree(run_dir, ignore_errors=True)
        raise DockerUnavailable(
            f"dockerd did not start within {timeout:.0f} s (exit code {proc.poll()}); "
            f"last lines of its log:\n{tail}"
        )

    def stop(self) -> None:
        """Stop dockerd by its PID if this session started it, and release the data-root lock."""
        with contextlib.suppress(Exception):
            self.client.close()
        if self.pid is not None:
            stop_pid(self.pid, timeout=30)
        if self.run_dir is not None:  # socket, exec root and log of the dockerd we started
            shutil.rmtree(self.run_dir, ignore_errors=True)
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- images ----------------------------------------------------------------------------
    def ensure_base_image(self) -> str:
        """Return the tag of the debootstrap base image, building and importing it if missing."""
        tag = _base_image_tag()
        with contextlib.suppress(docker.errors.ImageNotFound):
            self.client.images.get(tag)
            return tag
        tarball = CACHE_DIR / f"{tag.replace(':', '_')}.tar"
        if not tarball.exists():
            _debootstrap_tarball(tarball)
        repository, _, version = tag.partition(":")
        self.client.api.import_image_from_file(str(tarball), repository=repository, tag=version)
        self.client.images.get(tag)
        return tag

    # -- networks ---------------------------------------------------------------------------
    def ensure_network(self, name: str) -> tuple[str, str]:
        """Create bridge network `name` if missing; return its (gateway IP, subnet CIDR)."""
        try:
            network = self.client.networks.get(name)
        except docker.errors.NotFound:
            network = self.client.networks.create(name, driver="bridge")
        network.reload()
        configs = network.attrs.get("IPAM", {}).get("Config") or []
        for config in configs:
            if config.get("Gateway") and config.get("Subnet") and ":" not in config["Subnet"]:
                return config["Gateway"], config["Subnet"]
        raise DockerUnavailable(f"docker network {name} has no IPv4 gateway: {configs}")


def _debootstrap_tarball(tarball: Path) -> None:
    """debootstrap a minbase root filesystem and write it as a tarball (atomically)."""
    if shutil.which("debootstrap") is None:
        raise DockerUnavailable(
            "debootstrap is not installed: run `bash scripts/setup --dev` as root."
        )
    tarball.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lume-rootfs-", dir=tarball.parent) as tmp:
        root = Path(tmp) / "root"
        cmd = [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(BASE_PACKAGES)}",
            SUITE,
            str(root),
            MIRROR,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise DockerUnavailable(
                f"`{' '.join(cmd)}` failed (exit {proc.returncode}); is {MIRROR} reachable? "
                f"Set LUME_TEST_DEBIAN_MIRROR to a reachable mirror.\n{proc.stdout[-2000:]}"
                f"{proc.stderr[-2000:]}"
            )
        partial = tarball.with_suffix(".tar.partial")
        subprocess.run(["tar", "-C", str(root), "-cf", str(partial), "."], check=True)
        os.replace(partial, tarball)


def python_mounts(repo_root: Path) -> dict[str, dict[str, str]]:
    """Return docker-py `volumes` that expose this Python, its venv and the repo read-only.

    Each is mounted at the same path, so the venv's interpreter symlink, the editable install
    and the code location's working directory all resolve inside the container as on the host.
    A Debian /usr Python is not mounted: the image's own python3 is the same build.
    """
    paths = {Path(sys.prefix).resolve(), repo_root.resolve()}
    base = Path(sys.base_prefix).resolve()
    if not str(base).startswith("/usr"):
        paths.add(base)
    return {str(p): {"bind": str(p), "mode": "ro"} for p in sorted(paths)}


@contextlib.contextmanager
def docker_engine() -> Iterator[DockerEngine]:
    """Yield a reachable Docker engine; stop it afterwards if this call started it."""
    engine = DockerEngine.start()
    try:
        yield engine
    finally:
        engine.stop()

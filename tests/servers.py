"""Real servers for tests: nx-27017 (MongoDB wire protocol) and PostgreSQL, on free ports.

Each server is started by the fixture that owns it and stopped by its own PID, so no test relies
on a service that happens to be running on the machine.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 180.0, proc: subprocess.Popen | None = None) -> None:
    """Block until something accepts TCP connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"server process exited with code {proc.returncode} before listening"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout} s")


def stop_pid(pid: int, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    """Stop process `pid` with `sig`, then SIGKILL if it is still alive after `timeout`."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                return
        except ChildProcessError:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@dataclass
class MongoServer:
    """An nx-27017 server started on a free loopback port."""

    port: int
    proc: subprocess.Popen

    @property
    def uri(self) -> str:
        """Return the mongodb:// URI of the server."""
        return f"mongodb://127.0.0.1:{self.port}"

    @classmethod
    def start(cls) -> MongoServer:
        """Start `nx-27017 --db memory` on a free port and wait until it accepts connections."""
        exe = shutil.which("nx-27017") or str(Path(sys.executable).parent / "nx-27017")
        if not Path(exe).exists():
            raise RuntimeError("nx-27017 is not installed: run `pip install -e '.[dev]'`")
        port = free_port()
        log = tempfile.NamedTemporaryFile(prefix="nx27017-", suffix=".log", delete=False)
        # nx-27017 refuses to start while another instance holds its default PID file
        # (/tmp/nx_27017.pid): give each server its own, so concurrent sessions coexist.
        pid_file = Path(tempfile.mkdtemp(prefix="nx27017-")) / "nx.pid"
        proc = subprocess.Popen(
            [
                exe,
                "--db",
                "memory",
                "--host",
                "127.0.0.1",
                "-p",
                str(port),
                "--pid-file",
                str(pid_file),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(port, proc=proc)
        return cls(port=port, proc=proc)

    def stop(self) -> None:
        """Stop the server by its PID."""
        stop_pid(self.proc.pid)


def postgres_bin_dir() -> Path:
    """Return the directory holding initdb/pg_ctl of the newest installed PostgreSQL."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if not found:
        raise RuntimeError(
            "PostgreSQL is not installed: `apt-get install -y postgresql` (scripts/setup does it)"
        )
    return Path(found[-1]).parent


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL cluster (initdb) owned by user postgres, on a free port."""

    port: int
    data_dir: Path
    pid: int

    @property
    def url(self) -> str:
        """Return a SQLAlchemy URL (psycopg2 driver) for the `postgres` database."""
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"

    def database_url(self, name: str) -> str:
        """Create database `name` if needed and return its SQLAlchemy URL."""
        import sqlalchemy as sa

        engine = sa.create_engine(self.url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            ).scalar()
            if not exists:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{name}"

    @classmethod
    def start(
        cls, listen_addresses: tuple[str, ...] = ("127.0.0.1",), trust_cidrs: tuple[str, ...] = ()
    ) -> PostgresServer:
        """initdb a new cluster in a temp dir and start it with pg_ctl on a free port.

        `listen_addresses` beyond loopback (e.g. a docker bridge gateway) and `trust_cidrs`
        (client networks allowed without password, e.g. the bridge subnet) let containers in.
        """
        bindir = postgres_bin_dir()
        pg = pwd.getpwnam("postgres")
        base = Path(tempfile.mkdtemp(prefix="lume-pg-"))
        os.chown(base, pg.pw_uid, pg.pw_gid)
        data = base / "data"
        port = free_port()

        def as_postgres(*args: str) -> None:
            cmd = list(args)
            if os.geteuid() == 0:
                cmd = ["runuser", "-u", "postgres", "--", *cmd]
            subprocess.run(cmd, check=True, capture_output=True, cwd="/tmp")

        as_postgres(
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        )
        if trust_cidrs:
            with open(data / "pg_hba.conf", "a") as hba:
                hba.writelines(f"host all all {cidr} trust\n" for cidr in trust_cidrs)
        as_postgres(
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(base / "log"),
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {port} -k {base} -c listen_addresses={','.join(listen_addresses)} -c fsync=off "
            "-c max_connections=200",
            "start",
        )
        pid = int((data / "postmaster.pid").read_text().splitlines()[0])
        wait_for_port(port)
        return cls(port=port, data_dir=data, pid=pid)

    def stop(self) -> None:
        """Fast-shutdown the postmaster by its PID (SIGINT) and remove the cluster."""
        stop_pid(self.pid, signal.SIGINT, timeout=20)
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)

"""A real one-node Slurm cluster for tests: munged, slurmctld and slurmd on free ports.

Debian's `slurm-wlm` and `munge` (installed by `scripts/setup --dev`). Everything is private to
one directory: the munge key and socket, slurm.conf, state, spool, pid and log files, so the
cluster touches nothing system-wide and is stopped by the PIDs in its pid files. The daemons run
as root (``SlurmUser=root``), the only user that can start them without system configuration.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.servers import free_port, stop_pid

DAEMONS = ("slurmd", "slurmctld", "munged")


def slurm_available() -> str | None:
    """Return why a local cluster cannot start here, or None if it can."""
    missing = [b for b in ("munged", "slurmctld", "slurmd", "sbatch") if not _which(b)]
    if missing:
        return f"{', '.join(missing)} not installed (bash scripts/setup --dev installs slurm-wlm)"
    if os.geteuid() != 0:
        return "the Slurm daemons of the test cluster must be started as root"
    return None


def _which(name: str) -> str | None:
    """Return the path of an executable, also looking in the sbin folders."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/local/sbin")


@dataclass
class SlurmCluster:
    """A running cluster: its slurm.conf, partition and the pid files of its daemons."""

    root: Path
    conf: Path
    partition: str
    node: str

    @property
    def env(self) -> dict[str, str]:
        """Return the environment the Slurm commands need (SLURM_CONF)."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    @classmethod
    def start(cls, root: Path, timeout: float = 180.0) -> SlurmCluster:
        """Write the config, start munged, slurmctld and slurmd, and wait for an idle node."""
        root.mkdir(parents=True, exist_ok=True)
        for sub in ("state", "spool", "log", "run", "munge"):
            (root / sub).mkdir(exist_ok=True)
        (root / "munge").chmod(0o700)
        key = root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        sock = root / "munge" / "munge.socket"
        node = socket.gethostname().split(".")[0]
        partition = "debug"
        conf = root / "slurm.conf"
        conf.write_text(
            "\n".join(
                [
                    "ClusterName=lumetest",
                    f"SlurmctldHost={node}(127.0.0.1)",
                    "SlurmUser=root",
                    f"SlurmctldPort={free_port()}",
                    f"SlurmdPort={free_port()}",
                    f"AuthInfo=socket={sock}",
                    f"StateSaveLocation={root / 'state'}",
                    f"SlurmdSpoolDir={root / 'spool'}",
                    f"SlurmctldPidFile={root / 'run' / 'slurmctld.pid'}",
                    f"SlurmdPidFile={root / 'run' / 'slurmd.pid'}",
                    f"SlurmctldLogFile={root / 'log' / 'slurmctld.log'}",
                    f"SlurmdLogFile={root / 'log' / 'slurmd.log'}",
                    "ProctrackType=proctrack/linuxproc",
                    "TaskPlugin=task/none",
                    "SelectType=select/cons_tres",
                    "SelectTypeParameters=CR_Core_Memory",
                    "AccountingStorageType=accounting_storage/none",
                    "JobAcctGatherType=jobacct_gather/none",
                    "JobCompType=jobcomp/none",
                    "MpiDefault=none",
                    "ReturnToService=2",
                    "SchedulerParameters=sched_interval=1",
                    "SlurmctldTimeout=30",
                    "SlurmdTimeout=30",
                    "KillWait=2",
                    "InactiveLimit=0",
                    "MinJobAge=300",
                    f"NodeName={node} NodeAddr=127.0.0.1 CPUs={os.cpu_count() or 1} "
                    "RealMemory=2000 State=UNKNOWN",
                    f"PartitionName={partition} Nodes={node} Default=YES MaxTime=INFINITE State=UP",
                    "",
                ]
            )
        )
        cluster = cls(root=root, conf=conf, partition=partition, node=node)
        try:
            cluster._run(
                "munged",
                "--force",
                f"--key-file={key}",
                f"--socket={sock}",
                f"--pid-file={root / 'run' / 'munged.pid'}",
                f"--log-file={root / 'log' / 'munged.log'}",
                f"--seed-file={root / 'munge' / 'munged.seed'}",
            )
            cluster._wait(lambda: sock.exists(), timeout, "munged socket")
            cluster._run("slurmctld", "-f", str(conf))
            cluster._run("slurmd", "-f", str(conf))
            cluster._wait(cluster._node_idle, timeout, f"node {node} idle")
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _run(self, daemon: str, *args: str) -> None:
        """Start a daemon (it forks into the background and writes its pid file)."""
        exe = _which(daemon)
        assert exe, daemon
        subprocess.run([exe, *args], env=self.env, check=True, capture_output=True, timeout=120)

    def _wait(self, ready: object, timeout: float, what: str) -> None:
        """Poll `ready()` until true, else fail naming the log folder."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():  # type: ignore[operator]
                return
            time.sleep(0.2)
        raise TimeoutError(
            f"Slurm test cluster: {what} not ready in {timeout} s; see {self.root}/log"
        )

    def _node_idle(self) -> bool:
        """Return whether the node reports idle (ready for jobs)."""
        out = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%T"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return out.returncode == 0 and out.stdout.strip().startswith("idle")

    def stop(self) -> None:
        """Stop the daemons by the PIDs in their pid files (slurmd first, munged last)."""
        for daemon in DAEMONS:
            pid_file = self.root / "run" / f"{daemon}.pid"
            try:
                pid = int(pid_file.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
            stop_pid(pid)

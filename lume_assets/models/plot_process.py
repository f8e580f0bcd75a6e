"""A figure drawn by a child process started early, so that matplotlib's start overlaps work.

A scan draws its overview after its last chunk. Drawn in the step's own process, the first
figure costs ~0.5 s on top of the scan (importing matplotlib ~0.35 s, its font cache, the
drawing): a sixth of a 10,000-point `lume-assets scan`. `PlotProcess` starts
``python -m lume_assets.models.plot_process``; the child imports matplotlib and draws a
throw-away figure on another core, then waits for ONE `FigureSpec` (a JSON line on stdin) and
answers its PNG bytes on stdout. Both sides draw with `plotting.render`, so the bytes are the
same wherever it ran. Anything wrong with the child (it could not start, died, timed out,
answered something that is not a PNG) makes `render` draw in the caller's process: a figure is
never lost to the child.

`prestart()` starts one for a step that will run later in this process (the `scan` command
calls it before Dagster starts, as the run is in-process); the step `take()`s it. One that
nobody takes is stopped at exit.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
from pathlib import Path
from types import TracebackType

from lume_assets.models.plotting import FigureSpec, render

__all__ = ["PlotProcess", "prestart", "take"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Seconds the caller waits for the child's PNG before drawing it itself.
ANSWER_TIMEOUT_S = 120.0

_PRESTARTED: list[PlotProcess] = []  # at most one, started by `prestart`


class PlotProcess:
    """One figure drawn by a child process started now (see the module docstring)."""

    def __init__(self) -> None:
        """Start the child (if it cannot start, `render` draws in this process)."""
        package_root = str(Path(__file__).resolve().parents[2])  # lume_assets' parent folder
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (package_root, path) if p)}
        try:
            self._child: subprocess.Popen[bytes] | None = subprocess.Popen(
                [sys.executable, "-m", "lume_assets.models.plot_process"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
            )
        except OSError:
            self._child = None
        self.drawn_by_child = False

    def render(self, spec: FigureSpec) -> bytes:
        """The PNG bytes of `spec`: the child's answer, else drawn in this process."""
        child, self._child = self._child, None
        if child is not None:
            try:
                out, _ = child.communicate(
                    spec.model_dump_json().encode() + b"\n", timeout=ANSWER_TIMEOUT_S
                )
                if child.returncode == 0 and out.startswith(PNG_SIGNATURE):
                    self.drawn_by_child = True
                    return out
            except (OSError, subprocess.TimeoutExpired):
                _stop(child)
        return render(spec)

    def close(self) -> None:
        """Stop the child if no figure was asked of it."""
        child, self._child = self._child, None
        if child is not None:
            _stop(child)

    def __enter__(self) -> PlotProcess:
        """Use as a context manager: the child is stopped on exit."""
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        """Stop the child if it is still running."""
        self.close()


def prestart() -> None:
    """Start a PlotProcess now for a figure this process will draw later (`take`)."""
    if not _PRESTARTED:
        _PRESTARTED.append(PlotProcess())
        atexit.register(_close_prestarted)


def take() -> PlotProcess | None:
    """The PlotProcess `prestart` started, if any (handed over once)."""
    return _PRESTARTED.pop() if _PRESTARTED else None


def _close_prestarted() -> None:
    """Stop a prestarted child nobody took."""
    while _PRESTARTED:
        _PRESTARTED.pop().close()


def _stop(child: subprocess.Popen[bytes]) -> None:
    """Kill a child and reap it."""
    if child.poll() is None:
        child.kill()
    child.wait()
    for stream in (child.stdin, child.stdout):
        if stream is not None:
            stream.close()


def main() -> None:
    """The child: warm matplotlib up, read one FigureSpec line, write its PNG bytes."""
    render(FigureSpec(xs=[0.0, 1.0], ys=[0.0, 1.0], labels=("x", "y", ""), title="warm-up"))
    line = sys.stdin.buffer.readline()
    if not line.strip():
        return  # the caller needed no figure
    data = render(FigureSpec.model_validate_json(line))
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()

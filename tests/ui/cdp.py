"""A headless Chromium driven over the DevTools protocol, for pages that need a click.

`--dump-dom` cannot open the launchpad (a dialog behind a menu) nor wait for a lazily drawn
graph; this drives the same Debian chromium through its remote-debugging websocket: navigate,
evaluate JavaScript, wait for a condition, click, and capture a PNG.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
import websocket

from tests.servers import free_port


class Chromium:
    """One headless chromium process and a websocket to its first page."""

    def __init__(self, exe: str, width: int = 1400, height: int = 1000) -> None:
        """Start chromium on a free debugging port and attach to its page."""
        self.profile = tempfile.TemporaryDirectory(prefix="cdp-chromium-")
        port = free_port()
        self.proc = subprocess.Popen(
            [
                exe,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                f"--remote-debugging-port={port}",
                f"--user-data-dir={self.profile.name}",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._ids = itertools.count(1)
        deadline = time.monotonic() + 60
        pages: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not pages:
            try:
                listed = requests.get(f"http://127.0.0.1:{port}/json/list", timeout=2).json()
                pages = [t for t in listed if t.get("type") == "page"]
            except (requests.RequestException, ValueError):
                time.sleep(0.3)
        if not pages:
            self.close()
            raise RuntimeError("chromium's DevTools endpoint did not come up in 60 s")
        self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=60)
        self.call("Page.enable")
        self.call("Runtime.enable")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one DevTools command and return its result (events in between are skipped)."""
        ident = next(self._ids)
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def goto(self, url: str) -> None:
        """Navigate and wait for the document to load."""
        self.call("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'")

    def js(self, expression: str) -> Any:
        """Evaluate a JavaScript expression in the page; return its JSON value."""
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float = 60) -> Any:
        """Poll a JavaScript expression until it is truthy; return its value."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.3)
        raise TimeoutError(f"{expression!r} still falsy after {timeout} s (last: {value!r})")

    def text(self) -> str:
        """The page's visible text."""
        return str(self.js("document.body.innerText"))

    def screenshot(self, path: Path) -> Path:
        """Save a PNG of the viewport."""
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        """Stop chromium (its process group) and remove its profile."""
        try:
            self.ws.close()
        except AttributeError:
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        self.profile.cleanup()

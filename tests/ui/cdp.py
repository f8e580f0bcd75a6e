"""Headless chromium driven over the DevTools protocol: evaluate JavaScript, take screenshots.

`--dump-dom` shows markup only; whether an image actually loaded (`naturalWidth > 0`) needs
JavaScript in the live page. One chromium per `Browser`, on a free debugging port, with its own
profile folder; stopped by its own process id.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import requests
import websocket

from tests.ui.test_dagit_browser import CHROMIUM_FLAGS, SCREEN, chromium


class Browser:
    """One headless chromium page, driven by DevTools protocol commands."""

    def __init__(self, profile: Path, timeout: float = 300.0) -> None:
        """Start chromium with a blank page and connect to it."""
        flags = [f for f in CHROMIUM_FLAGS if not f.startswith("--virtual-time-budget")]
        self.proc = subprocess.Popen(
            [
                chromium(),
                *flags,
                SCREEN,
                "--remote-debugging-port=0",
                "--remote-allow-origins=*",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._next = 0
        try:
            port_file = profile / "DevToolsActivePort"
            deadline = time.monotonic() + timeout
            while not port_file.is_file() or not port_file.read_text().strip():
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("chromium did not open its DevTools port")
                time.sleep(0.1)
            port = port_file.read_text().split()[0]
            pages = requests.get(f"http://127.0.0.1:{port}/json/list", timeout=120).json()
            page = next(p for p in pages if p["type"] == "page")
            self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=timeout)
        except BaseException:
            self.close()
            raise

    def send(self, method: str, **params: Any) -> dict:
        """Run one DevTools command; return its result."""
        self._next += 1
        self.ws.send(json.dumps({"id": self._next, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self._next:
                assert "error" not in message, message["error"]
                return message["result"]

    def goto(self, url: str) -> None:
        """Load `url` in the page."""
        self.send("Page.navigate", url=url)

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page."""
        got = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return got["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 300.0) -> Any:
        """Poll `expression` until it is truthy; return its value (AssertionError on timeout).

        A real condition with a deadline generous for a loaded machine (it ends when met).
        """
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting for {expression!r} (last: {value!r})")

    def screenshot(self, path: Path) -> Path:
        """Save the visible page as a PNG."""
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        """Stop this chromium (by its own process id)."""
        ws = getattr(self, "ws", None)
        if ws is not None:
            ws.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

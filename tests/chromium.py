"""Headless Chromium for tests, driven over the DevTools protocol (CDP): open a page, wait for a
condition, read the DOM, click, screenshot. A page of code instead of a browser-automation
framework: Debian's `chromium` and the `websockets` client that dagster-webserver already
installs (uvicorn[standard]) are all it needs, with no driver binary or browser download whose
version must match the browser's.

Waiting is by condition, never by a fixed sleep: `wait_for` evaluates a JavaScript expression
every half second until it is truthy or the timeout passes.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

from websockets.sync.client import connect

INSTALL_HINT = "install it with `apt-get install chromium` (Debian's package; .ci/run does this on CI)"


def find_chromium() -> str | None:
    """The Chromium executable: $CHROMIUM, else `chromium` on the PATH (Debian's /usr/bin/chromium)."""
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


class BrowserError(RuntimeError):
    """The browser did not start, a call failed, or a condition was not met in time."""


class Chromium:
    """One headless Chromium with one tab. Use as a context manager: the browser's process group is
    killed on exit, whatever happened."""

    def __init__(self, executable: str, profile_dir: Path, width: int = 1400, height: int = 1000,
                 start_timeout: float = 60):
        self.events: list[dict] = []  # CDP events received while waiting for replies (console, network)
        self._ids = itertools.count(1)
        self._connection = ExitStack()  # the websocket, closed by close()
        profile_dir.mkdir(parents=True, exist_ok=True)
        port_file = profile_dir / "DevToolsActivePort"
        port_file.unlink(missing_ok=True)  # a browser that used this profile before left its port there
        self._log = profile_dir / "chromium.log"  # a file, not a pipe nobody reads that could fill and block it
        with open(self._log, "wb") as log:
            self._process = subprocess.Popen(
                [executable, "--headless", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
                 # root in a CI container has no user namespace for the sandbox; the pages are our own
                 "--no-sandbox",
                 "--remote-debugging-port=0",  # Chromium picks a free port and writes it to DevToolsActivePort
                 f"--user-data-dir={profile_dir}", f"--window-size={width},{height}", "about:blank"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        try:
            port = self._wait_for_port(port_file, start_timeout)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
                page = next(t for t in json.load(response) if t["type"] == "page")
            self._ws = self._connection.enter_context(
                connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=30))
            self.resize(width, height)
            for domain in ("Page", "Runtime", "Network"):
                self.call(f"{domain}.enable")
        except BaseException:
            self.close()
            raise

    def _wait_for_port(self, port_file: Path, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while not (port_file.exists() and port_file.read_text().strip()):
            if self._process.poll() is not None:
                raise BrowserError(f"chromium exited with {self._process.returncode}: "
                                   f"{self._log.read_text(errors='replace')[-2000:]}")
            if time.monotonic() > deadline:
                raise BrowserError(f"chromium wrote no DevTools port within {timeout:.0f}s")
            time.sleep(0.2)
        return int(port_file.read_text().split()[0])

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._connection.close()
        if self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)  # the browser and its renderer, GPU and zygote processes
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait(timeout=20)

    def call(self, method: str, timeout: float = 60, **params) -> dict:
        """Send one CDP command and return its result; events that arrive meanwhile go to `events`."""
        call_id = next(self._ids)
        self._ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrowserError(f"{method}: no reply within {timeout:.0f}s")
            message = json.loads(self._ws.recv(timeout=remaining))
            if message.get("id") == call_id:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (JSON-serializable; promises awaited)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression[:80]!r} threw: {result['exceptionDetails'].get('text')} "
                               f"{result['exceptionDetails'].get('exception', {}).get('description', '')}")
        return result["result"].get("value")

    def navigate(self, url: str) -> None:
        result = self.call("Page.navigate", url=url)
        if result.get("errorText"):
            raise BrowserError(f"cannot open {url}: {result['errorText']}")

    def text(self) -> str:
        return self.evaluate("document.body ? document.body.innerText : ''") or ""

    def wait_for(self, expression: str, what: str, timeout: float = 60):
        """Poll `expression` until it is truthy; return its value. On timeout, fail naming `what` and
        showing the start of the page's text."""
        deadline = time.monotonic() + timeout
        problem = ""
        while True:
            try:
                value = self.evaluate(expression)
            except BrowserError as error:  # e.g. the page was navigating: its JavaScript context went away
                value, problem = None, f" (last error: {error})"
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"{what}: not there after {timeout:.0f}s{problem}; "
                                   f"the page says: {self.text()[:1500]!r}")
            time.sleep(0.5)

    def wait_for_text(self, needle: str, timeout: float = 60) -> None:
        self.wait_for(f"document.body && document.body.innerText.includes({json.dumps(needle)})",
                      f"text {needle!r}", timeout)

    def click_text(self, label: str, selector: str = "button, a, [role=tab], [role=button]") -> None:
        """Click the last element matching `selector` whose text is exactly `label`."""
        clicked = self.evaluate(f"""(() => {{
            const matches = [...document.querySelectorAll({json.dumps(selector)})]
                .filter(e => e.innerText && e.innerText.trim() === {json.dumps(label)});
            if (!matches.length) return false;
            matches[matches.length - 1].click();
            return true;
        }})()""")
        if not clicked:
            raise BrowserError(f"nothing to click labelled {label!r}; the page says: {self.text()[:1500]!r}")

    def resize(self, width: int, height: int) -> None:
        """The viewport, in CSS pixels. Apps that scroll inside their own panels (the Dagster UI) show
        more of a page in a screenshot only through a taller viewport."""
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                  mobile=False)

    def go_offline(self) -> None:
        """Every network request fails from now on (file:// pages still load)."""
        self._network(offline=True)

    def go_online(self) -> None:
        self._network(offline=False)

    def _network(self, offline: bool) -> None:
        self.call("Network.emulateNetworkConditions", offline=offline, latency=0, downloadThroughput=-1,
                  uploadThroughput=-1)

    def screenshot(self, path: Path, full_page: bool = False) -> Path:
        """A PNG of the viewport, or of the whole document (`full_page`, for pages the window scrolls)."""
        params: dict = {"format": "png"}
        if full_page:
            size = self.call("Page.getLayoutMetrics")["cssContentSize"]
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", **params)["data"]))
        return path

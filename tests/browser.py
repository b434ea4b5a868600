"""A real headless browser for the report tests: load an HTML file in Chromium and report what a user would see.

Why a browser and not an HTML parser: a page can parse and still show a broken image, a script error or a chart
that never loads. Chromium is driven over the DevTools protocol through `--remote-debugging-pipe` (JSON messages
separated by NUL bytes on file descriptors 3 and 4), so no websocket client or Playwright is needed.

API (import it as `from browser import check_page, require_browser`; pytest puts tests/ on the path):

    find_chromium() -> str | None
        Path of a chromium/chrome binary: $CURATE_CHROMIUM if set, else the first of chromium, chromium-browser,
        google-chrome(-stable), chrome on PATH. When none is found and we are root on a Debian-like system, installs
        Debian's `chromium` with apt-get (quiet, non-interactive, waiting for the dpkg lock) and looks again.
    require_browser() -> str
        find_chromium(), or pytest.skip with the reason when no browser can be found or installed; under CI=true it
        fails instead, so CI cannot pass by skipping.
    browser  (pytest fixture, session scope)
        require_browser() as a fixture. A test module opts in with
            from browser import browser  # noqa: F401  (imported so pytest finds the fixture)
            pytestmark = pytest.mark.usefixtures("browser")
        (naming `browser` as a test argument as well trips ruff's F811; check_page finds the binary itself).
    check_page(html: Path, screenshot: Path, width=1280, timeout=60.0) -> PageCheck
        Loads file://html in headless Chromium, waits for the load event (every <img> loaded or failed), and
        returns PageCheck(console_errors, images, title, text, screenshot): console errors, uncaught exceptions,
        error log entries and failed requests as strings; (src, naturalWidth, naturalHeight) per <img> in document
        order (0 x 0 means it did not render); document.title; document.body.innerText. Writes a full-page PNG
        screenshot to `screenshot`. Raises BrowserError when Chromium cannot start or does not answer in time.

Works as root in a container (gVisor included): Chromium runs with --no-sandbox, --disable-gpu and
--disable-dev-shm-usage, with a throwaway profile directory. One page takes ~2-4 s (a fresh browser per call, so
one page's state cannot leak into the next check).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import skip_or_fail

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-pipe",
)


class BrowserError(RuntimeError):
    """Chromium could not be started, or did not answer a DevTools command in time."""


@dataclass
class PageCheck:
    """What the browser saw on one page."""

    console_errors: list[str] = field(default_factory=list)
    images: list[tuple[str, int, int]] = field(default_factory=list)
    title: str = ""
    text: str = ""
    screenshot: Path | None = None


def find_chromium() -> str | None:
    """A Chromium binary, installing Debian's `chromium` when missing and we may (root, apt-get present)."""
    override = os.environ.get("CURATE_CHROMIUM")
    if override:
        return override if Path(override).exists() else shutil.which(override)
    found = _on_path()
    if found or not _can_apt_install():
        return found
    if not _apt_get("install", "-y", "-qq", "--no-install-recommends", "chromium"):
        _apt_get("update", "-qq")  # a fresh container has no package lists yet
        _apt_get("install", "-y", "-qq", "--no-install-recommends", "chromium")
    return _on_path()


def _apt_get(*args: str) -> bool:
    """Quiet, non-interactive apt-get that waits for another installer's dpkg lock instead of failing on it."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    command = ["apt-get", "-o", "DPkg::Lock::Timeout=600", *args]
    return subprocess.run(command, env=env, capture_output=True, timeout=900, check=False).returncode == 0


def _on_path() -> str | None:
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _can_apt_install() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get") is not None


def require_browser() -> str:
    """A Chromium binary, or a skip naming why (a failure under CI=true, where a skip would hide a missing check)."""
    path = find_chromium()
    if path is None:
        skip_or_fail("no chromium found (set CURATE_CHROMIUM, or install Debian's `chromium`; apt-get needs root)")
    return path


@pytest.fixture(scope="session")
def browser() -> str:
    return require_browser()


class _DevTools:
    """One Chromium process and its DevTools pipe: send a command, wait for its answer, keep every event seen."""

    def __init__(self, binary: str, timeout: float) -> None:
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="curate-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        args = [binary, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"]
        try:
            self.proc = subprocess.Popen(
                args,
                pass_fds=(3, 4),
                preexec_fn=lambda: _pipe_to_3_and_4(to_browser_r, from_browser_w),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        finally:
            os.close(to_browser_r)
            os.close(from_browser_w)
        self._messages: queue.Queue[dict | None] = queue.Queue()
        self._next_id = 0
        self.events: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        buffer = b""
        with os.fdopen(self._from_browser, "rb", buffering=0) as pipe:
            while chunk := pipe.read(1 << 16):
                buffer += chunk
                *messages, buffer = buffer.split(b"\0")
                for message in messages:
                    self._messages.put(json.loads(message))
        self._messages.put(None)  # the browser closed its end: it exited

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        try:
            os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        except BrokenPipeError:
            raise BrowserError(f"chromium exited before {method}: {self._stderr()}") from None
        while True:
            answer = self._next(f"an answer to {method}")
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise BrowserError(f"{method} failed: {answer['error']}")
                return answer.get("result", {})
            self.events.append(answer)

    def drain(self) -> list[dict]:
        """Every event already received, without waiting: what the page logged after the last answer."""
        while True:
            try:
                message = self._messages.get_nowait()
            except queue.Empty:
                return self.events
            if message is None:
                self._messages.put(None)
                return self.events
            self.events.append(message)

    def _next(self, what: str) -> dict:
        try:
            message = self._messages.get(timeout=self.timeout)
        except queue.Empty:
            raise BrowserError(f"chromium sent no {what} within {self.timeout:.0f} s") from None
        if message is None:
            raise BrowserError(f"chromium exited while waiting for {what}: {self._stderr()}")
        return message

    def _stderr(self) -> str:
        """The end of what the browser wrote to stderr, once it has exited: why it did."""
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            return "(still running)"
        return self.proc.stderr.read().decode(errors="replace")[-2000:] if self.proc.stderr else ""

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                os.write(self._to_browser, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
                self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        finally:
            os.close(self._to_browser)
            if self.proc.stderr:
                self.proc.stderr.close()
            shutil.rmtree(self.profile, ignore_errors=True)


def _pipe_to_3_and_4(read_end: int, write_end: int) -> None:
    """In the child before exec: the browser reads DevTools commands on fd 3 and writes answers on fd 4.

    Both ends are first copied above 9 so that placing one on 3 or 4 cannot overwrite the other.
    """
    high_read, high_write = fcntl.fcntl(read_end, fcntl.F_DUPFD, 10), fcntl.fcntl(write_end, fcntl.F_DUPFD, 10)
    os.dup2(high_read, 3)
    os.dup2(high_write, 4)


# Evaluated once the navigation committed: resolves after the new document's load event (all images loaded or
# failed), so an about:blank load event arriving late cannot be mistaken for the page's.
PAGE_STATE = """new Promise(done => {
  const report = () => done(JSON.stringify({
  url: location.href,
  title: document.title,
  text: document.body ? document.body.innerText : "",
  images: Array.from(document.images).map(i => [i.getAttribute("src") || i.currentSrc, i.naturalWidth, i.naturalHeight])
  }));
  if (document.readyState === "complete") report(); else addEventListener("load", report);
})"""


def check_page(html: Path, screenshot: Path, width: int = 1280, timeout: float = 60.0) -> PageCheck:
    """Load `html` in headless Chromium; return its errors, images, title and text; write a full-page screenshot."""
    binary = find_chromium()
    if binary is None:
        raise BrowserError("no chromium found; call require_browser() first to skip or fail cleanly")
    tools = _DevTools(binary, timeout)
    try:
        target = tools.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = tools.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            tools.send(f"{domain}.enable", session=session)
        tools.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        started = time.monotonic()
        url = Path(html).resolve().as_uri()
        navigated = tools.send("Page.navigate", {"url": url}, session=session)
        if navigated.get("errorText"):
            raise BrowserError(f"cannot open {html}: {navigated['errorText']}")
        state = tools.send(
            "Runtime.evaluate",
            {"expression": PAGE_STATE, "returnByValue": True, "awaitPromise": True},
            session=session,
        )
        page = json.loads(state["result"]["value"])
        if page["url"] != url:
            raise BrowserError(f"expected {url} to be loaded, found {page['url']}")
        size = tools.send("Page.getLayoutMetrics", session=session)["cssContentSize"]
        shot = tools.send(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": max(1, int(size["height"])), "scale": 1},
            },
            session=session,
        )
        screenshot = Path(screenshot)
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        if time.monotonic() - started > timeout:
            raise BrowserError(f"{html} took over {timeout:.0f} s to load")
        return PageCheck(
            console_errors=_errors(tools.drain()),
            images=[(str(src), int(w), int(h)) for src, w, h in page["images"]],
            title=page["title"],
            text=page["text"],
            screenshot=screenshot,
        )
    finally:
        tools.close()


def _errors(events: list[dict]) -> list[str]:
    """Console errors, uncaught exceptions, error log entries and failed requests, as one line each."""
    urls: dict[str, str] = {}
    errors = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            errors.append(f"console.{params['type']}: {args}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            description = details.get("exception", {}).get("description") or details.get("text", "")
            errors.append(f"uncaught exception: {description}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            errors.append(f"log ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}".rstrip())
        elif method == "Network.requestWillBeSent":
            urls[params["requestId"]] = params["request"]["url"]
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            url = urls.get(params.get("requestId", ""), "?")
            errors.append(f"failed request: {url} ({params.get('errorText')})")
        elif method == "Network.responseReceived" and params.get("response", {}).get("status", 0) >= 400:
            response = params["response"]
            errors.append(f"failed request: {response['url']} (HTTP {response['status']})")
    return errors

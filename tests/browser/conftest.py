"""Fixtures for the web page tests: a real controller and Debian's headless Chromium.

The browser is Debian's /usr/bin/chromium (installed by ./setup.sh), driven by
Playwright through `executable_path`; Playwright's own browser download is
never used. A missing browser fails the tests with a message saying what to
install — the CI runs them, so they must not quietly skip.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest

from topologies.controller import ControllerProcess

CHROMIUM = os.environ.get("QOS_CHROMIUM", "/usr/bin/chromium")
#: 1366x768 is the laptop screen the page is designed for.
VIEWPORT = {"width": 1366, "height": 768}
#: Quiet, offline, throw-away: no sync, no updates, no background requests.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str:
    """Debian's chromium, or a test failure that says how to get it."""
    path = CHROMIUM if os.path.isabs(CHROMIUM) else shutil.which(CHROMIUM)
    if not path or not os.access(path, os.X_OK):
        pytest.fail(f"headless Chromium not found at {CHROMIUM!r}: the browser tests need Debian's "
                    "'chromium' package (./setup.sh installs it; or apt-get install chromium)", pytrace=False)
    return path


@dataclass
class ConsoleError:
    """One console error (or uncaught exception) and the URL it names."""

    text: str
    url: str = ""

    def is_failed_load(self, url: str, status: int) -> bool:
        """Chromium's line for a fetch() that got `status` back from `url`."""
        return self.url == url and self.text.startswith(
            f"Failed to load resource: the server responded with a status of {status} ")


@dataclass
class BrowserPage:
    """A Playwright page plus every console error and uncaught exception it produced."""

    page: Any
    base_url: str
    errors: list[ConsoleError] = field(default_factory=list)
    #: requests that left the controller's origin (the page must work offline).
    foreign_requests: list[str] = field(default_factory=list)

    def open_ui(self, path: str = "/qos/ui/") -> None:
        """Load the page and wait for its first complete refresh."""
        resp = self.page.goto(self.base_url + path)
        assert resp is not None and resp.status == 200, (
            f"GET {path} -> {resp.status if resp else 'no answer'}: is qosapp.http.ui.UiController "
            "in the controllers qosapp.http.rest.register mounts?")
        self.page.wait_for_selector("body[data-ready='1']", state="attached")

    def unexpected_errors(self, *provoked: tuple[str, int]) -> list[str]:
        """Console and page errors, minus the 4xx answers a test provoked on purpose.

        Chromium logs every 4xx answer to fetch() as a console error, also the
        400 a test asks for by submitting a bad IP; `provoked` lists those as
        (path, status) pairs.
        """
        return [err.text for err in self.errors
                if not any(err.is_failed_load(self.base_url + path, status) for path, status in provoked)]


@pytest.fixture()
def controller(tmp_path: Path) -> Iterator[ControllerProcess]:
    """A real qos-controller process on free loopback ports; no switch, no OVSDB."""
    with ControllerProcess(tmp_path / "controller", extra_args=["--no-queues"]) as ctl:
        yield ctl


@pytest.fixture()
def browser_page(tmp_path: Path, controller: ControllerProcess) -> Iterator[BrowserPage]:
    """Headless Debian Chromium with a fresh profile, pointed at `controller`."""
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as err:
        pytest.fail(f"playwright is not installed ({err}); run ./setup.sh (test extra)", pytrace=False)
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=executable, headless=True,
            args=CHROMIUM_ARGS, viewport=VIEWPORT, locale="en-US", timezone_id="UTC")
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(10_000)
            bp = BrowserPage(page=page, base_url=controller.url)
            _collect(bp)
            yield bp
        finally:
            context.close()


def _collect(bp: BrowserPage) -> None:
    """Record console errors, uncaught exceptions and requests to other origins."""
    page = bp.page

    def on_console(msg: Any) -> None:
        if msg.type == "error":
            bp.errors.append(ConsoleError(msg.text, (msg.location or {}).get("url", "")))

    def on_request(request: Any) -> None:
        if not request.url.startswith(bp.base_url) and not request.url.startswith("data:"):
            bp.foreign_requests.append(request.url)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: bp.errors.append(ConsoleError(f"uncaught: {exc}")))
    page.on("request", on_request)

"""One place for what every real-browser test needs (Debian chromium via Playwright).

* ``CHROMIUM``, ``ARGS`` (the developers' guide's flags), ``ARTIFACTS`` (screenshots);
* ``BROWSER_MARKS``: ``pytestmark = BROWSER_MARKS`` marks a module ``browser`` and
  ``slow`` and skips it, with the reason, where /usr/bin/chromium is absent;
* ``free_port()``, ``serve(app)``: a real uvicorn server on 127.0.0.1 in a thread, stopped
  when the ``with`` block ends (``ready`` waits for more than "started", e.g. a
  published checkpoint);
* ``launch()`` and the module-scoped ``browser`` fixture (import it into a test module:
  ``from tests.browser import browser``);
* ``login(page, base, handle, password)`` through the login form;
* ``overflow(page)``: how much wider than the window the page is (<= 0: it fits).

Never ``playwright install``: the browser is the system's.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}
SMALL_PHONE = {"width": 360, "height": 740}

BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install -y chromium)"
    ),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(
    app: Any,
    *,
    lifespan: str = "off",
    ready: Callable[[], bool] | None = None,
    timeout: float = 15.0,
    join: float = 10.0,
) -> Iterator[str]:
    """Run ``app`` under uvicorn on 127.0.0.1 (a free port); yields the base URL."""
    import uvicorn

    port = free_port()
    srv = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
            lifespan=lifespan,
        )
    )  # fmt: skip
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not (srv.started and (ready is None or ready())):
        if not thread.is_alive():
            raise RuntimeError("uvicorn stopped before it started")
        if time.monotonic() > deadline:
            srv.should_exit = True
            raise RuntimeError("uvicorn did not start (or was not ready) in time")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(join)


@contextmanager
def launch() -> Iterator[Any]:
    """A headless system Chromium, closed afterwards."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launch() as b:
        yield b


def login(page: Any, base: str, handle: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Handle").fill(handle)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def overflow(page: Any) -> int:
    """How many CSS pixels wider than the window the page is (<= 0 when it fits:
    ``document.documentElement.scrollWidth <= innerWidth``)."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))

"""What every browser test shares: Debian's Chromium driven by Playwright, an app served by
uvicorn in a thread, a page on it, and a screenshots folder.

A test module calls `sync_api, uvicorn = require_browser()` at import: it skips the module, with
the reason, only when Chromium or Playwright is missing (.ci/browsers.sh installs Chromium).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

CHROMIUM = os.environ.get("CRMFLOW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ROOT = Path(__file__).resolve().parents[1]


def require_browser() -> tuple[ModuleType, ModuleType]:
    """(playwright.sync_api, uvicorn); skips the calling module when Chromium or Playwright is missing."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"Chromium not found at {CHROMIUM} (run .ci/browsers.sh, or set CRMFLOW_CHROMIUM)",
                    allow_module_level=True)
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
    return sync_api, pytest.importorskip("uvicorn")


def shots_folder(tmp_path: Path) -> Path:
    """The test's own folder; CRMFLOW_SCREENSHOTS=folder keeps them (=1: docs/screenshots for the README)."""
    wanted = os.environ.get("CRMFLOW_SCREENSHOTS")
    folder = (ROOT / "docs" / "screenshots" if wanted == "1" else Path(wanted)) if wanted else tmp_path / "shots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """The app under uvicorn in a thread, on a free port; the socket listens before the thread
    starts, so the first request simply waits in the backlog (no polling, no sleeping)."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=15)
        sock.close()


@contextmanager
def chromium() -> Iterator[Any]:
    """A fresh headless Chromium (a test that needs several contexts or viewports makes them)."""
    from playwright import sync_api

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def open_page(base_url: str, *, width: int = 1280, height: int = 800, timeout_ms: int = 15_000,
              **context_options: Any) -> Iterator[Any]:
    """A fresh Chromium with one page on `base_url`."""
    with chromium() as browser:
        context = browser.new_context(viewport={"width": width, "height": height}, base_url=base_url,
                                      **context_options)
        page = context.new_page()
        page.set_default_timeout(timeout_ms)
        try:
            yield page
        finally:
            context.close()


def log_in(page: Any, user: str, password: str | None = None) -> None:
    """Fill and send the login form as `user` (the demo password unless told otherwise)."""
    from crmflow.demo_seed import DEMO_PASSWORD

    page.goto("/login")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(DEMO_PASSWORD if password is None else password)
    page.get_by_role("button", name="Log in").click()

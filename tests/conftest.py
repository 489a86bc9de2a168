"""Fixtures: every test starts from the same state of torch's global generator; and, for the browser
test (tests/test_site_browser.py), the built site served on localhost and one headless Chromium that
never downloads anything and never leaves the machine."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import tempfile
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "_build" / "html"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture(autouse=True)
def _same_global_generator_for_every_test():
    """Seed torch's global generator before each test, as torch's own TestCase.setUp does: about 270 tests
    draw from it (modules built with their default init, the ported torch suite's laws), and without this
    what they draw would depend on which tests ran before them. A test that means a particular draw passes
    its own torch.Generator."""
    import torch

    torch.manual_seed(0)


class _RecordingHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the site and records (path, status) for every request the browser makes."""

    requests: list[tuple[str, int]]

    def log_request(self, code="-", size="-"):
        self.requests.append((self.path, int(getattr(code, "value", code))))

    def log_message(self, format, *args):  # quiet: the test reports what matters
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    """The browser drops connections it no longer needs (a page navigated away mid-download):
    that is not a failure of the site, so it is not printed as a traceback."""

    def handle_error(self, request, client_address):
        import sys

        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


@pytest.fixture(scope="session")
def site_dir() -> Path:
    if not (SITE / "index.html").is_file():
        pytest.fail(
            f"{SITE.relative_to(ROOT)}/index.html is missing: run `make site` first "
            "(`make test` builds the site before the browser test)."
        )
    return SITE


@pytest.fixture(scope="session")
def site_server(site_dir):
    """Yield (base_url, requests): an http.server on 127.0.0.1 at an ephemeral port, in a thread."""
    requests: list[tuple[str, int]] = []
    handler = type("Handler", (_RecordingHandler,), {"requests": requests})
    server = _QuietServer(("127.0.0.1", 0), functools.partial(handler, directory=str(site_dir)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium driven by Debian's chromedriver (Selenium Manager is bypassed)."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        message = f"browser test needs {' and '.join(missing)} (apt-get install -y chromium chromium-driver)"
        if os.environ.get("INITLIB_REQUIRE_BROWSER") == "1":
            pytest.fail(message + "; INITLIB_REQUIRE_BROWSER=1 makes this a failure")
        pytest.skip(message)

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="initlib-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--disable-extensions",
        "--window-size=1280,900",
        # Any host but localhost fails to resolve: a page that needs the network breaks here
        # even on a machine that has one.
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)

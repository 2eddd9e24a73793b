"""Fixtures for the chat widget tests, which drive Debian's Chromium through Playwright.

The server comes from the `live_server` fixture (tests/conftest.py). To try the widget against a
server that is already running, set MSA_WIDGET_BASE_URL (for example http://127.0.0.1:8765).
"""

from __future__ import annotations

import os

import pytest

from .support import CHROMIUM, CHROMIUM_ARGS, DESKTOP, PHONE, OwnServer


@pytest.fixture(scope="session")
def base_url(request) -> str:
    url = os.environ.get("MSA_WIDGET_BASE_URL")
    if url:
        return url.rstrip("/")
    return request.getfixturevalue("live_server").rstrip("/")


@pytest.fixture
def new_page(browser):
    """Factory for pages in fresh browser contexts (fresh sessionStorage/localStorage)."""
    contexts = []

    def make(viewport=DESKTOP, **options):
        context = browser.new_context(viewport=viewport, **options)
        context.set_default_timeout(30_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page, base_url):
    """The demo clinic page at desktop size, with the widget loaded."""
    p = new_page()
    p.goto(base_url + "/")
    p.locator(".msa-launcher").wait_for()
    return p


@pytest.fixture
def phone_page(new_page, base_url):
    p = new_page(PHONE, is_mobile=True, has_touch=True)
    p.goto(base_url + "/")
    p.locator(".msa-launcher").wait_for()
    return p


@pytest.fixture
def own_server(tmp_path):
    """A server of this test's own, which it may stop and start again (see support.OwnServer)."""
    if os.environ.get("MSA_WIDGET_BASE_URL"):
        pytest.skip("needs a server the test can stop and start: unset MSA_WIDGET_BASE_URL")
    server = OwnServer(tmp_path)
    server.start()
    yield server
    server.stop()

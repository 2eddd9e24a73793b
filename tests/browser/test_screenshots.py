"""Screenshots of the widget on the demo clinic page, at desktop and phone sizes.

They are written to a temporary folder on every run. To refresh the ones in docs/, run:
    MSA_UPDATE_SCREENSHOTS=1 .venv/bin/pytest tests/browser/test_screenshots.py -q
"""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

from .support import DESKTOP, FOLLOW_UP, PHONE, REPO, SIDE_EFFECTS, URGENT, ask, open_panel, set_text_size

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(
    ("name", "viewport"),
    [("widget-desktop.png", DESKTOP), ("widget-phone.png", PHONE)],
)
def test_screenshot(new_page, base_url, tmp_path, name, viewport):
    phone = viewport == PHONE
    page = new_page(viewport, is_mobile=phone, has_touch=phone, reduced_motion="reduce")
    page.goto(base_url + "/")
    open_panel(page)
    ask(page, SIDE_EFFECTS)
    message = page.locator(".msa-log > .msa-bot").last
    # Desktop: a [n] marker was followed to its opened source. Phone: the question and the answer.
    message.locator(".msa-cite").first.click()
    expect(message.locator(".msa-source-details").first).to_be_visible()
    if phone:
        page.locator(".msa-log > .msa-user").last.evaluate("m => m.scrollIntoView({block: 'start'})")
    page.mouse.move(0, 0)

    folder = REPO / "docs" if os.environ.get("MSA_UPDATE_SCREENSHOTS") == "1" else tmp_path
    path = folder / name
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000


def phone_page(new_page, base_url):
    page = new_page(PHONE, is_mobile=True, has_touch=True, reduced_motion="reduce")
    page.goto(base_url + "/")
    open_panel(page)
    return page


def save(page, tmp_path, name: str) -> None:
    page.mouse.move(0, 0)
    folder = REPO / "docs" if os.environ.get("MSA_UPDATE_SCREENSHOTS") == "1" else tmp_path
    path = folder / name
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000


def test_screenshot_urgent_reply_on_a_phone(new_page, base_url, tmp_path):
    """An urgent reply: the guidance first, with its tap-to-call numbers, in view."""
    page = phone_page(new_page, base_url)
    ask(page, SIDE_EFFECTS)
    ask(page, URGENT)
    expect(page.locator(".msa-log > .msa-bot").last.locator(".msa-alert")).to_be_in_viewport()
    save(page, tmp_path, "widget-urgent-phone.png")


def test_screenshot_error_on_a_phone(new_page, base_url, tmp_path):
    """The assistant not responding (the request is refused, as by a stopped server): plain words and Retry."""
    page = phone_page(new_page, base_url)
    ask(page, SIDE_EFFECTS)
    page.route(base_url + "/api/chat/stream", lambda route: route.abort("connectionrefused"))
    page.locator(".msa-composer textarea").fill("Do they cause flu-like symptoms?")
    page.keyboard.press("Enter")
    expect(page.locator(".msa-log > .msa-error-msg [role=alert]")).to_be_in_viewport()
    page.locator(".msa-composer textarea").blur()
    save(page, tmp_path, "widget-error-phone.png")


def test_screenshot_largest_text_on_a_phone(new_page, base_url, tmp_path):
    """A later reply at the largest text size on a 390x844 phone: the header with Close on screen, and the
    notices in their compact form under the answer."""
    page = new_page({"width": 390, "height": 844}, is_mobile=True, has_touch=True, reduced_motion="reduce")
    page.goto(base_url + "/")
    page.locator(".msa-launcher").wait_for()
    set_text_size(page, 3)
    open_panel(page)
    ask(page, SIDE_EFFECTS)
    ask(page, FOLLOW_UP)
    notice = page.locator(".msa-log > .msa-bot").last.locator(".msa-notice-compact")
    notice.evaluate("n => n.scrollIntoView({block: 'end'})")
    expect(notice).to_be_in_viewport()
    page.locator(".msa-composer textarea").blur()
    save(page, tmp_path, "widget-largest-text-phone.png")

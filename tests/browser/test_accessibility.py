"""Accessibility of the chat widget: keyboard-only use, axe-core audits, phone size, zoom, motion."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .support import ACTIVE_ELEMENT_JS, DESKTOP, PHONE, SIDE_EFFECTS, URGENT, ask, open_panel, run_axe

pytestmark = pytest.mark.browser


def focused(page) -> dict:
    return page.evaluate(ACTIVE_ELEMENT_JS) or {}


def tab_until(page, predicate, key="Tab", limit=60) -> dict:
    """Presses Tab (or Shift+Tab) until the focused element matches; fails if it never does."""
    for _ in range(limit):
        page.keyboard.press(key)
        current = focused(page)
        if predicate(current):
            return current
    raise AssertionError(f"focus never reached the expected element (last: {focused(page)})")


def wait_for_replies(page, count: int) -> None:
    expect(page.locator(".msa-log > .msa-bot")).to_have_count(count)
    expect(page.locator(".msa-streaming")).to_be_hidden()


def test_full_conversation_by_keyboard_alone(page):
    # Reach the launcher from the top of the page and open it: focus moves to the question box.
    tab_until(page, lambda f: "msa-launcher" in f.get("cls", ""))
    page.keyboard.press("Enter")
    expect(page.locator(".msa-panel")).to_be_visible()
    assert focused(page)["tag"] == "textarea"

    page.keyboard.type(SIDE_EFFECTS)
    page.keyboard.press("Enter")
    wait_for_replies(page, 1)

    # Back up from the question box into the reply: a source opens with Space.
    source = tab_until(page, lambda f: "msa-source-toggle" in f.get("cls", ""), key="Shift+Tab")
    assert source["expanded"] == "false"
    page.keyboard.press("Space")
    assert focused(page)["expanded"] == "true"
    expect(page.locator(".msa-source-details:visible")).to_have_count(1)

    # Rate the reply and leave a comment, by keyboard.
    tab_until(page, lambda f: f.get("text") == "Not helpful")
    page.keyboard.press("Enter")
    assert focused(page)["tag"] == "textarea"
    page.keyboard.type("Too long for me to read.")
    page.keyboard.press("Tab")
    assert focused(page)["text"] == "Send feedback"
    page.keyboard.press("Enter")
    expect(page.locator(".msa-thanks")).to_be_visible()

    # Esc closes the panel and focus returns to the launcher; Enter opens it again.
    page.keyboard.press("Escape")
    expect(page.locator(".msa-panel")).to_be_hidden()
    assert "msa-launcher" in focused(page)["cls"]
    page.keyboard.press("Enter")
    assert focused(page)["tag"] == "textarea"

    # Delete the conversation: the confirmation takes focus, Esc cancels, then confirm with Space.
    tab_until(page, lambda f: f.get("text") == "Delete my conversation", key="Shift+Tab")
    page.keyboard.press("Enter")
    assert focused(page)["text"] == "Cancel, keep it"
    page.keyboard.press("Escape")
    expect(page.locator(".msa-confirm")).to_be_hidden()
    assert focused(page)["text"] == "Delete my conversation"
    expect(page.locator(".msa-panel")).to_be_visible()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert focused(page)["text"] == "Yes, delete it"
    page.keyboard.press("Space")
    expect(page.locator(".msa-status")).to_have_text("Your conversation was deleted.")
    expect(page.locator(".msa-log > *")).to_have_count(0)
    assert focused(page)["tag"] == "textarea"


def test_every_control_is_large_named_and_shows_focus(page):
    open_panel(page)
    ask(page, SIDE_EFFECTS)
    page.locator(".msa-log .msa-cite").first.click()
    controls = page.evaluate(
        """() => {
          const root = document.querySelector('msa-chat-widget').shadowRoot;
          return Array.from(root.querySelectorAll('button, textarea'))
            .filter(e => e.getClientRects().length)
            .map(e => {
              const r = e.getBoundingClientRect();
              const labelled = e.getAttribute('aria-label') || e.textContent.trim() ||
                (e.id && root.querySelector(`label[for="${e.id}"]`));
              return {cls: e.className, w: r.width, h: r.height, named: !!labelled};
            });
        }"""
    )
    assert len(controls) > 10
    for control in controls:
        assert control["named"], control
        assert control["w"] >= 44 and control["h"] >= 44, control

    # The keyboard focus ring: at least 2px, solid, high contrast.
    page.locator(".msa-composer textarea").focus()
    page.keyboard.press("Tab")
    ring = page.evaluate(
        """() => {
          const root = document.querySelector('msa-chat-widget').shadowRoot;
          const s = getComputedStyle(root.activeElement);
          return {width: parseFloat(s.outlineWidth), style: s.outlineStyle, color: s.outlineColor};
        }"""
    )
    assert ring == {"width": 3, "style": "solid", "color": "rgb(17, 17, 17)"}


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_axe_finds_no_serious_or_critical_problems(new_page, base_url, size):
    viewport = DESKTOP if size == "desktop" else PHONE
    page = new_page(viewport, is_mobile=size == "phone")
    page.goto(base_url + "/")
    open_panel(page)
    ask(page, SIDE_EFFECTS)
    message = page.locator(".msa-log > .msa-bot").last
    message.locator(".msa-cite").first.click()  # an open source
    message.get_by_role("button", name="Not helpful").click()  # the comment form
    ask(page, URGENT)  # an urgent reply with its alert
    if size == "phone":
        page.get_by_role("button", name="Options").click()  # the toolbar folds away on phones
    page.get_by_role("button", name="Delete my conversation").click()  # the confirmation

    # Axe sees inside the widget's (open) shadow root.
    result = run_axe(page)
    inside = page.evaluate(
        """() => axe.utils.querySelectorAllFilter(axe.utils.getFlattenedTree(document), 'button', () => true)
                 .filter(n => n.actualNode.getRootNode() !== document).length"""
    )
    assert inside > 10, "axe must traverse the widget's shadow root"

    serious = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert serious == [], serious
    others = [(v["id"], v["impact"]) for v in result["violations"]]
    print(f"axe {size}: {result['passes']} rules passed; other findings: {others or 'none'}")


def test_phone_panel_is_full_screen(phone_page):
    page = phone_page
    launcher = page.locator(".msa-launcher").bounding_box()
    assert launcher["width"] >= 44 and launcher["height"] >= 44
    open_panel(page)
    ask(page, SIDE_EFFECTS)

    box = page.locator(".msa-panel").bounding_box()
    assert box == {"x": 0, "y": 0, "width": PHONE["width"], "height": PHONE["height"]}
    expect(page.get_by_role("dialog")).to_have_attribute("aria-modal", "true")
    # Nothing spills sideways at 375px.
    overflow = page.locator(".msa-panel").evaluate("p => p.scrollWidth - p.clientWidth")
    assert overflow == 0
    # The toolbar folds away behind "Options" to leave room for the conversation.
    options = page.get_by_role("button", name="Options")
    expect(options).to_have_attribute("aria-expanded", "false")
    expect(page.get_by_role("button", name="Start over")).to_be_hidden()
    options.click()
    expect(options).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_role("button", name="Start over")).to_be_visible()
    expect(page.get_by_role("button", name="Larger")).to_be_visible()
    # While it covers the page, Tab stays inside the panel.
    page.locator(".msa-composer .msa-btn-primary").focus()
    page.keyboard.press("Tab")
    assert "msa-btn-header" in focused(page)["cls"]


def test_works_at_200_percent_zoom(new_page, base_url):
    """200% browser zoom on a 1280x800 laptop screen is a 640x400 CSS-pixel viewport at scale 2."""
    page = new_page({"width": 640, "height": 400}, device_scale_factor=2)
    page.goto(base_url + "/")
    open_panel(page)
    ask(page, SIDE_EFFECTS)

    panel = page.locator(".msa-panel")
    assert panel.bounding_box() == {"x": 0, "y": 0, "width": 640, "height": 400}
    assert panel.evaluate("p => p.scrollWidth - p.clientWidth") == 0
    # Everything is reachable: the reply, its sources and the question box scroll into view.
    page.locator(".msa-log .msa-source-toggle").first.scroll_into_view_if_needed()
    expect(page.locator(".msa-log .msa-source-toggle").first).to_be_in_viewport()
    page.locator(".msa-composer textarea").scroll_into_view_if_needed()
    expect(page.locator(".msa-composer textarea")).to_be_in_viewport()


def test_reduced_motion_turns_off_animation(new_page, base_url):
    page = new_page(reduced_motion="reduce")
    page.goto(base_url + "/")
    open_panel(page)
    ask(page, SIDE_EFFECTS)
    chevron = page.locator(".msa-log .msa-chevron").first
    assert chevron.evaluate("e => getComputedStyle(e).transitionDuration") == "0s"


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_axe_finds_nothing_on_urgent_crisis_and_error_states(new_page, base_url, size):
    """Every axe finding counts here, not only serious ones. The failures come from aborted requests
    (page.route): the same errors a stopped server gives (see test_a_stopped_server_gives_plain_errors_with_retry)."""
    phone = size == "phone"
    page = new_page(PHONE if phone else DESKTOP, is_mobile=phone)
    page.goto(base_url + "/")
    open_panel(page)
    ask(page, URGENT)
    ask(page, "i don't want to be here anymore, i have been saving up my pills")
    page.route(base_url + "/api/**", lambda route: route.abort("connectionrefused"))
    urgent = page.locator(".msa-log > .msa-bot").first
    urgent.get_by_role("button", name="Not helpful").click()
    urgent.get_by_role("button", name="Send feedback").click()
    expect(urgent.get_by_role("alert")).to_have_count(2)  # the guidance, and the feedback problem
    page.locator(".msa-composer textarea").fill(SIDE_EFFECTS)
    page.keyboard.press("Enter")
    expect(page.locator(".msa-log > .msa-error-msg [role=alert]")).to_be_visible()
    if phone:
        page.get_by_role("button", name="Options").click()
    page.get_by_role("button", name="Delete my conversation").click()
    page.get_by_role("button", name="Yes, delete it").click()
    expect(page.locator(".msa-confirm [role=alert]")).to_be_visible()

    result = run_axe(page)
    assert result["violations"] == [], result["violations"]

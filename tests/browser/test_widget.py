"""The website chat widget in a real browser: asking, sources, safety, feedback, persistence, security."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from .support import SIDE_EFFECTS, URGENT, ask, open_panel, text_lines

pytestmark = pytest.mark.browser

# Records what the streaming bubble showed, to prove the reply was drawn piece by piece.
WATCH_STREAM_JS = """() => {
  const root = document.querySelector('msa-chat-widget').shadowRoot;
  const stream = root.querySelector('.msa-streaming');
  window.__streamed = [];
  new MutationObserver(() => {
    const text = stream.querySelector('.msa-stream-body').textContent;
    if (!stream.hidden && text) window.__streamed.push(text.length);
  }).observe(stream, {subtree: true, childList: true, characterData: true});
}"""


def test_question_streams_an_answer_with_citations(page):
    open_panel(page)
    page.evaluate(WATCH_STREAM_JS)
    reply = ask(page, SIDE_EFFECTS)

    assert reply["category"] == "answer"
    assert reply["citations"], "the corpus covers injection side effects"
    streamed = page.evaluate("window.__streamed")
    assert streamed, "text should appear while the answer streams in"
    assert streamed == sorted(streamed), "streamed text only grows"

    message = page.locator(".msa-log > .msa-bot").last
    expect(page.locator(".msa-streaming")).to_be_hidden()
    expect(message.locator(".msa-cite").first).to_be_visible()
    expect(message.locator(".msa-source-toggle")).to_have_count(len(reply["citations"]))

    # The safety notices are shown once, in their own block, and not repeated in the body.
    notice = message.locator(".msa-notice")
    expect(notice).to_contain_text(reply["safety"]["care_team"])
    expect(notice).to_contain_text(reply["safety"]["red_flags"])
    body = message.locator(".msa-body").inner_text()
    assert reply["safety"]["care_team"] not in body
    assert reply["safety"]["red_flags"] not in body


def test_citation_opens_the_exact_passage(page):
    open_panel(page)
    reply = ask(page, SIDE_EFFECTS)
    message = page.locator(".msa-log > .msa-bot").last

    marker = message.locator(".msa-cite").first
    number = int(marker.inner_text().strip("[]"))
    citation = next(c for c in reply["citations"] if c["id"] == number)
    marker.click()

    toggle = message.locator(".msa-source-toggle").nth(reply["citations"].index(citation))
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(toggle).to_be_focused()
    details = message.locator("#" + toggle.get_attribute("aria-controls"))
    expect(details).to_be_visible()
    expect(details.locator(".msa-passage")).to_have_text(citation["passage"])
    expect(details).to_contain_text(citation["title"])
    expect(details.locator(".msa-kind")).to_have_text(citation["kind"])
    expect(details.locator(".msa-credibility")).to_have_text(citation["credibility"])

    toggle.click()  # and it closes again
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(details).to_be_hidden()


def test_urgent_reply_is_announced_at_once(page):
    open_panel(page)
    reply = ask(page, URGENT)

    assert reply["category"] == "urgent"
    message = page.locator(".msa-log > .msa-bot").last
    expect(message).to_have_class("msa-msg msa-bot msa-urgent msa-level-urgent")
    alert = message.get_by_role("alert")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text(reply["safety"]["urgent"])
    # The urgent guidance comes before the body, and the usual notices still follow.
    expect(message.locator(".msa-notice")).to_contain_text(reply["safety"]["red_flags"])
    assert reply["safety"]["urgent"] not in message.locator(".msa-body").inner_text()


def test_crisis_numbers_are_tap_to_call_links(page):
    open_panel(page)
    reply = ask(page, "i dont want to be here anymore, ive been saving up my pills")
    assert reply["category"] == "urgent"
    alert = page.locator(".msa-log > .msa-bot").last.get_by_role("alert")
    expect(alert).to_contain_text(reply["safety"]["urgent"])
    links = alert.locator("a.msa-call")
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    digits = {re.sub(r"\D", "", n) for n in re.findall(r"\d{2,3}(?:[ -]\d{2,4}){0,3}", reply["safety"]["urgent"])}
    assert {h.removeprefix("tel:") for h in hrefs} == {d for d in digits if len(d) >= 3} and hrefs
    box = links.first.bounding_box()
    assert box and box["height"] >= 44  # a finger-sized target


def test_thumbs_down_with_a_comment(page):
    open_panel(page)
    reply = ask(page, SIDE_EFFECTS)
    message = page.locator(".msa-log > .msa-bot").last

    down = message.get_by_role("button", name="Not helpful")
    down.click()
    expect(down).to_have_attribute("aria-pressed", "true")
    comment = message.get_by_label("Add a comment (optional)")
    expect(comment).to_be_focused()
    comment.fill("I wanted to know about tablets too.")
    with page.expect_response(lambda r: r.url.endswith("/api/feedback")) as info:
        message.get_by_role("button", name="Send feedback").click()

    sent = json.loads(info.value.request.post_data)
    assert sent == {"turn_id": reply["turn_id"], "rating": "down", "comment": "I wanted to know about tablets too."}
    assert info.value.status == 200 and info.value.json() == {"ok": True}
    thanks = message.locator(".msa-thanks")
    expect(thanks).to_have_text("Thanks for your feedback.")
    expect(thanks).to_be_focused()


def test_reload_keeps_the_conversation(page):
    open_panel(page)
    reply = ask(page, SIDE_EFFECTS)
    page.reload()

    expect(page.locator(".msa-panel")).to_be_visible()  # it was open, so it stays open
    expect(page.locator(".msa-log > .msa-user")).to_have_text("You" + SIDE_EFFECTS)
    message = page.locator(".msa-log > .msa-bot")
    expect(message).to_have_count(1)
    expect(message.locator(".msa-source-toggle")).to_have_count(len(reply["citations"]))
    expect(message.locator(".msa-notice")).to_contain_text(reply["safety"]["care_team"])

    # The next question continues the same session.
    with page.expect_request(lambda r: r.url.endswith("/api/chat/stream")) as info:
        ask(page, "Do they cause flu-like symptoms?")
    assert json.loads(info.value.post_data)["session_id"] == reply["session_id"]


def test_typed_markup_is_shown_as_text_and_never_runs(page):
    open_panel(page)
    typed = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
    ask(page, typed)

    expect(page.locator(".msa-log > .msa-user .msa-text")).to_have_text(typed)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    injected = page.evaluate(
        "() => document.querySelector('msa-chat-widget').shadowRoot.querySelectorAll('script, img').length"
    )
    assert injected == 0


def test_follow_up_buttons_send_that_question(page):
    open_panel(page)
    reply = ask(page, SIDE_EFFECTS)
    if not reply["follow_ups"]:
        pytest.skip("this reply has no suggested follow-up questions")
    follow_up = reply["follow_ups"][0]
    with page.expect_request(lambda r: r.url.endswith("/api/chat/stream")) as info:
        page.locator(".msa-log > .msa-bot").last.get_by_role("button", name=follow_up).click()
    assert json.loads(info.value.post_data) == {"message": follow_up, "session_id": reply["session_id"]}
    expect(page.locator(".msa-log > .msa-bot")).to_have_count(2)


def test_start_over_begins_a_new_session(page):
    open_panel(page)
    ask(page, SIDE_EFFECTS)
    page.get_by_role("button", name="Start over").click()

    expect(page.locator(".msa-log > *")).to_have_count(0)
    expect(page.locator(".msa-status")).to_have_text("Started a new conversation.")
    expect(page.locator(".msa-composer textarea")).to_be_focused()
    with page.expect_request(lambda r: r.url.endswith("/api/chat/stream")) as info:
        ask(page, SIDE_EFFECTS)
    assert json.loads(info.value.post_data)["session_id"] is None


def test_delete_my_conversation_after_confirming(page):
    open_panel(page)
    reply = ask(page, SIDE_EFFECTS)
    page.get_by_role("button", name="Delete my conversation").click()

    cancel = page.get_by_role("button", name="Cancel, keep it")
    expect(cancel).to_be_focused()
    cancel.click()  # changing one's mind keeps everything
    expect(page.locator(".msa-log > .msa-bot")).to_have_count(1)

    page.get_by_role("button", name="Delete my conversation").click()
    with page.expect_response(lambda r: r.request.method == "DELETE") as info:
        page.get_by_role("button", name="Yes, delete it").click()
    assert info.value.url.endswith("/api/sessions/" + reply["session_id"])
    assert info.value.status == 200  # Chromium does not hand a no-store DELETE body to the test: the removal is checked below
    expect(page.locator(".msa-log > *")).to_have_count(0)
    expect(page.locator(".msa-status")).to_have_text("Your conversation was deleted.")

    page.reload()  # and it stays gone
    expect(page.locator(".msa-log > *")).to_have_count(0)


def test_text_size_control_persists(page):
    open_panel(page)
    root = page.locator(".msa-root")
    size = lambda: float(root.evaluate("e => parseFloat(getComputedStyle(e).fontSize)"))  # noqa: E731
    smaller = page.get_by_role("button", name="Smaller")
    expect(smaller).to_have_attribute("aria-disabled", "true")
    standard = size()

    page.get_by_role("button", name="Larger").click()
    page.get_by_role("button", name="Larger").click()
    larger = size()
    assert larger >= standard * 1.35
    expect(page.locator(".msa-status")).to_have_text("Text size: larger.")

    page.reload()
    expect(page.locator(".msa-panel")).to_be_visible()
    assert size() == larger


def test_host_page_styles_do_not_leak_in_or_out(new_page, base_url):
    """A page with aggressive global styles: the widget looks the same, and its styles stay inside."""
    hostile = """<!doctype html><html lang="en"><head><title>Hostile page</title><style>
      * { color: red !important; background: yellow !important; font-size: 40px !important;
          font-family: monospace !important; visibility: visible; letter-spacing: 5px !important; }
      button { padding: 60px !important; border: 10px dashed green !important; display: none !important; }
      div, textarea { display: none !important; }
      html { font-size: 8px !important; }
    </style></head><body><main><h1>Clinic</h1>
      <button class="msa-btn msa-btn-primary" id="host-button">Host button</button>
      <p class="msa-sr-only" id="host-text">Host text</p></main>
      <script src="/widget.js" data-api=""></script></body></html>"""
    page = new_page()
    page.route(base_url + "/hostile.html", lambda route: route.fulfill(body=hostile, content_type="text/html"))
    page.goto(base_url + "/hostile.html")

    launcher = page.locator(".msa-launcher")
    expect(launcher).to_be_visible()
    style = lambda loc, prop: loc.evaluate(f"e => getComputedStyle(e)['{prop}']")  # noqa: E731
    assert style(launcher, "backgroundColor") == "rgb(11, 79, 138)"
    assert style(launcher, "color") == "rgb(255, 255, 255)"
    assert style(launcher, "letterSpacing") == "normal"

    open_panel(page)
    ask(page, SIDE_EFFECTS)
    body_text = page.locator(".msa-log > .msa-bot .msa-text").first
    assert style(body_text, "color") == "rgb(27, 27, 27)"
    assert 14 <= float(style(body_text, "fontSize").removesuffix("px")) <= 24
    expect(page.locator(".msa-composer textarea")).to_be_visible()

    # Widget class names on the host page get none of the widget's styles.
    assert style(page.locator("#host-button"), "borderTopStyle") == "dashed"
    assert style(page.locator("#host-text"), "position") == "static"


def test_data_attributes_configure_the_widget(new_page, base_url):
    page_html = f"""<!doctype html><html lang="en"><head><title>Configured</title></head><body>
      <main><h1>Configured page</h1><a href="#top">A link</a></main>
      <script src="/widget.js" data-api="{base_url}" data-title="Neurology Help" data-open="true"
              data-position="left"></script></body></html>"""
    page = new_page()
    page.route(base_url + "/configured.html", lambda route: route.fulfill(body=page_html, content_type="text/html"))
    page.goto(base_url + "/configured.html")

    panel = page.get_by_role("dialog", name="Neurology Help")
    expect(panel).to_be_visible()  # data-open="true"
    assert panel.bounding_box()["x"] < 100  # data-position="left"
    assert page.evaluate("document.activeElement === document.body"), "opening on load must not steal focus"
    reply = ask(page, SIDE_EFFECTS)
    assert reply["citations"]


def test_notices_in_full_first_then_compact_and_full_again_when_urgent(page):
    open_panel(page)
    first = ask(page, SIDE_EFFECTS)
    replies = page.locator(".msa-log > .msa-bot")
    expect(replies.nth(0).locator(".msa-notice")).not_to_have_class(re.compile("msa-notice-compact"))
    second = ask(page, "Do they cause flu-like symptoms?")
    compact = replies.nth(1).locator(".msa-notice-compact")
    expect(compact).to_be_visible()
    summary = compact.locator("summary")
    expect(summary).to_have_text(second["safety"]["compact"])
    assert "care team" in second["safety"]["compact"] and "get help" in second["safety"]["compact"]
    full = compact.locator("p").first
    expect(full).to_be_hidden()
    summary.click()  # the full text opens in place
    expect(full).to_have_text(second["safety"]["care_team"])
    assert text_lines(summary) <= 2, "the compact notice takes two lines at most"
    third = ask(page, URGENT)
    assert third["category"] == "urgent"
    expect(replies.nth(2).locator(".msa-notice")).not_to_have_class(re.compile("msa-notice-compact"))
    assert first["safety"]["care_team"] == second["safety"]["care_team"]  # the API keeps the full text

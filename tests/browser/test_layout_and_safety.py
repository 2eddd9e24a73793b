"""The widget at every text size and at 200% zoom, its error states, urgent and crisis replies, promotional
sources, streaming and what screen readers are told. All against the real server. test_every_size.py checks
these points again at each phone size and text size, and measures the compact notices."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from .support import (
    CRISIS,
    FOLLOW_UP,
    MYELIN,
    NOT_RESPONDING,
    SIDE_EFFECTS,
    SIZES,
    SLOW_STREAM_JS,
    URGENT,
    ask,
    in_viewport,
    open_panel,
    set_text_size,
    shadow_eval,
    watch_announcements,
)

pytestmark = pytest.mark.browser

def rounded(box: dict) -> dict:
    return {k: round(v) for k, v in box.items()}


# ---------- 1. header and toolbar at every text size and at 200% zoom ----------

@pytest.mark.parametrize("size", list(SIZES))
def test_close_and_options_stay_on_screen_at_every_text_size(new_page, base_url, size):
    viewport = SIZES[size]["viewport"]
    page = new_page(**SIZES[size])
    page.goto(base_url + "/")
    open_panel(page)
    ask(page, SIDE_EFFECTS)  # a reply in the conversation, as in real use
    positions = []
    for index in range(4):
        set_text_size(page, index)
        expect(page.locator(".msa-panel")).to_be_visible()
        close = page.get_by_role("button", name="Close chat")
        options = page.get_by_role("button", name="Options")
        box = close.bounding_box()
        positions.append(rounded(box))
        assert in_viewport(box, viewport), (index, box)
        assert in_viewport(options.bounding_box(), viewport), index
        assert box["width"] >= 44 and box["height"] >= 44
        assert page.locator(".msa-panel").evaluate("p => p.scrollWidth - p.clientWidth") == 0, index

        # The Options panel: every control can be reached by scrolling the options, while Close stays put.
        options.click()
        for name in ("Smaller", "Larger", "Start over", "Delete my conversation"):
            control = page.get_by_role("button", name=name)
            control.scroll_into_view_if_needed()
            assert in_viewport(control.bounding_box(), viewport), (index, name)
            assert close.bounding_box() == box, "the header never scrolls with the options"
        options.click()

        close.click()  # and it really is the button under the finger
        expect(page.locator(".msa-panel")).to_be_hidden()
        page.locator(".msa-launcher").click()
    print(f"Close button at {size}, text sizes 1-4: {positions}")


def test_200_percent_zoom_keeps_header_and_question_box_in_view(new_page, base_url):
    """Browser zoom at 200% on a 1280x844 window: a 640x422 CSS-pixel viewport with 2 device pixels per CSS
    pixel, which is what the media queries and layout see under real zoom (CSS `zoom` on the page would
    leave the viewport at 1280 px and so would not test the zoomed layout)."""
    viewport = {"width": 640, "height": 422}
    page = new_page(viewport, device_scale_factor=2)
    page.goto(base_url + "/")
    open_panel(page)
    ask(page, SIDE_EFFECTS)
    ask(page, FOLLOW_UP)
    for index in range(4):
        set_text_size(page, index)
        scroll = page.locator(".msa-scroll")
        assert scroll.evaluate("s => s.scrollHeight > s.clientHeight"), "the conversation is longer than the view"
        for where in ("s => { s.scrollTop = 0; }", "s => { s.scrollTop = s.scrollHeight; }",
                      "s => { s.scrollTop = s.scrollHeight / 2; }"):
            scroll.evaluate(where)
            for part in (".msa-header", ".msa-composer textarea", ".msa-composer .msa-btn-primary"):
                assert in_viewport(page.locator(part).bounding_box(), viewport), (index, where, part)
            expect(page.get_by_role("button", name="Close chat")).to_be_in_viewport()
        assert page.locator(".msa-panel").evaluate("p => p.scrollTop") == 0, "only the conversation scrolls"
        assert page.locator(".msa-panel").evaluate("p => p.scrollWidth - p.clientWidth") == 0


# ---------- 2. errors in plain words, with a server that is really stopped ----------

def test_a_stopped_server_gives_plain_errors_with_retry(new_page, own_server):
    page = new_page({"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page.goto(own_server.url + "/")
    page.locator(".msa-launcher").wait_for()
    open_panel(page)
    first = ask(page, SIDE_EFFECTS)
    message = page.locator(".msa-log > .msa-bot").first
    message.get_by_role("button", name="Not helpful").click()
    message.get_by_label("Add a comment (optional)").fill("Too long.")

    own_server.stop()
    attempts = []
    page.on("request", lambda r: attempts.append(r.url) if "/api/" in r.url else None)

    # A question: plain words in an alert, in view, the question kept, and Retry sends it again.
    page.locator(".msa-composer textarea").fill(FOLLOW_UP)
    page.keyboard.press("Enter")
    problem = page.locator(".msa-log > .msa-error-msg [role=alert]")
    expect(problem.locator(".msa-problem-text")).to_have_text(NOT_RESPONDING)
    expect(problem).to_be_in_viewport()
    expect(page.locator(".msa-composer textarea")).to_have_value(FOLLOW_UP)
    expect(page.locator(".msa-streaming")).to_be_hidden()
    tried = len(attempts)
    problem.get_by_role("button", name="Retry").click()
    expect(problem.locator(".msa-problem-text")).to_have_text(NOT_RESPONDING)
    assert len(attempts) > tried and attempts[-1].endswith("/api/chat/stream"), "Retry sends the question again"
    expect(page.locator(".msa-log > .msa-user")).to_have_count(2)  # the question is not repeated in the conversation

    # Feedback: plain words, an alert and Retry.
    message.get_by_role("button", name="Send feedback").click()
    feedback_problem = message.locator(".msa-feedback [role=alert]")
    expect(feedback_problem.locator(".msa-problem-text")).to_have_text(
        "Your feedback wasn't sent. The assistant isn't responding.")

    # Deleting: the same.
    page.get_by_role("button", name="Options").click()
    page.get_by_role("button", name="Delete my conversation").click()
    page.get_by_role("button", name="Yes, delete it").click()
    delete_problem = page.locator(".msa-confirm [role=alert]")
    expect(delete_problem.locator(".msa-problem-text")).to_have_text(
        "Your conversation wasn't deleted. The assistant isn't responding.")
    expect(delete_problem).to_be_in_viewport()
    texts = shadow_eval(page, "return root.textContent;")
    assert "Failed to fetch" not in texts and "TypeError" not in texts
    assert shadow_eval(page, "return root.querySelectorAll('[role=alert]').length;") == 3

    # The server is back: each Retry now succeeds.
    own_server.start()
    with page.expect_response(lambda r: r.url.endswith("/api/chat/stream")) as info:
        problem.get_by_role("button", name="Retry").click()
    assert json.loads(info.value.request.post_data) == {"message": FOLLOW_UP, "session_id": first["session_id"]}
    expect(page.locator(".msa-log > .msa-bot")).to_have_count(2)
    expect(page.locator(".msa-log > .msa-error-msg")).to_have_count(0)
    expect(page.locator(".msa-log > .msa-user")).to_have_count(2)
    expect(page.locator(".msa-composer textarea")).to_have_value("")

    feedback_problem.get_by_role("button", name="Retry").click()
    expect(message.locator(".msa-thanks")).to_have_text("Thanks for your feedback.")

    delete_problem.get_by_role("button", name="Retry").click()
    expect(page.locator(".msa-status")).to_have_text("Your conversation was deleted.")
    expect(page.locator(".msa-log > *")).to_have_count(0)


# ---------- 3. crisis and urgent replies ----------

def test_crisis_reply_is_the_guidance_and_numbers_only(page):
    open_panel(page)
    reply = ask(page, CRISIS)
    # What the server sends: category "urgent", the crisis guidance, no sources and no suggestions.
    assert reply["category"] == "urgent"
    assert reply["safety"]["urgent"].startswith("I am really sorry you are feeling this way.")
    assert reply["citations"] == [] and reply["follow_ups"] == []

    message = page.locator(".msa-log > .msa-bot").last
    expect(message).to_have_class(re.compile(r"\bmsa-level-crisis\b"))
    first_block = message.locator(":scope > :not(.msa-who)").first
    expect(first_block).to_have_class("msa-alert")
    expect(first_block).to_have_attribute("role", "alert")
    expect(first_block).to_contain_text(reply["safety"]["urgent"])
    assert first_block.locator("a.msa-call").count() >= 3  # 988, 116 123, 13 11 14 and the emergency numbers
    expect(message.locator(".msa-notice")).to_have_count(0)
    expect(message).not_to_contain_text(reply["safety"]["care_team"])
    expect(message).not_to_contain_text("Was this answer helpful?")
    expect(message.locator(".msa-feedback, .msa-thumb")).to_have_count(0)
    expect(message.locator(".msa-followups")).to_have_count(0)
    expect(message.get_by_role("alert")).to_have_count(1)

    # The next reply still gets the notices in full: the crisis reply showed none.
    ask(page, SIDE_EFFECTS)
    later = page.locator(".msa-log > .msa-bot").last
    expect(later.locator(".msa-notice")).not_to_have_class(re.compile("msa-notice-compact"))


def test_urgent_reply_is_guidance_then_one_passage(page):
    open_panel(page)
    ask(page, SIDE_EFFECTS)
    reply = ask(page, URGENT)
    assert reply["category"] == "urgent"
    message = page.locator(".msa-log > .msa-bot").last
    expect(message).to_have_class(re.compile(r"\bmsa-level-urgent\b"))
    expect(message.locator(":scope > :not(.msa-who)").first).to_have_class("msa-alert")
    assert message.locator(".msa-source-toggle").count() <= 1
    cited = set(re.findall(r"\[(\d+)\]", message.locator(".msa-body").inner_text()))
    assert len(cited) <= 1
    expect(message.locator(".msa-followups")).to_have_count(0)
    # Urgent (not crisis): the notices and the rating stay.
    expect(message.locator(".msa-notice")).to_contain_text(reply["safety"]["red_flags"])
    expect(message.get_by_role("button", name="Helpful", exact=True)).to_be_visible()
    # The reply was scrolled so that its start, the guidance, is in view.
    expect(message.locator(".msa-alert")).to_be_in_viewport()


# ---------- 4. promotional sources ----------

def test_promotional_caution_is_a_warning_box_before_the_claims(page):
    open_panel(page)
    reply = ask(page, MYELIN)
    promo = [c["id"] for c in reply["citations"] if c["credibility"].startswith("Promotional")]
    assert promo, "the answer cites the promotional remyelination article"
    message = page.locator(".msa-log > .msa-bot").last
    box = message.locator(".msa-body > .msa-promo")
    expect(box).to_have_count(1)
    expect(box).to_have_attribute("role", "note")
    expect(box.locator(".msa-promo-title")).to_have_text("Caution: promotional source")
    expect(box).to_contain_text("promotional article")
    # The box comes before every paragraph that repeats the article's claims.
    order = message.locator(".msa-body").evaluate(
        """(body, promo) => {
          const blocks = Array.from(body.children);
          const box = blocks.findIndex(b => b.classList.contains('msa-promo'));
          const claims = blocks.findIndex(b => !b.classList.contains('msa-promo') &&
            promo.some(id => b.textContent.includes('[' + id + ']')));
          return {box, claims};
        }""", promo)
    assert 0 <= order["box"] < order["claims"], order
    # Its text is not repeated as an ordinary paragraph, and the source list labels the source.
    assert not message.locator(".msa-body > p").filter(has_text=re.compile("^Caution:")).count()
    expect(message.locator(".msa-source-toggle .msa-tag").first).to_have_text("Promotional")
    box_style = box.evaluate("b => { const s = getComputedStyle(b); return [s.borderLeftStyle, s.borderLeftWidth]; }")
    assert box_style[0] == "solid" and float(box_style[1].removesuffix("px")) >= 6


# ---------- 5. streaming, forced colours ----------

def test_streaming_shows_structure_from_the_first_piece_and_keeps_the_start_in_view(new_page, base_url):
    page = new_page({"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page.goto(base_url + "/")
    open_panel(page)
    page.evaluate(SLOW_STREAM_JS)

    # A first reply: the widget has not seen the notices yet, and still never shows them as answer text.
    first = ask(page, SIDE_EFFECTS)  # and something above the next reply, so following it means scrolling
    frames = page.evaluate("window.__frames.splice(0)")
    assert len(frames) > 10, "the reply was drawn piece by piece"
    assert any(f["cites"] for f in frames) and any(f["notices"] for f in frames)
    for frame in frames:
        assert frame["startInView"]
        for paragraph in frame["paragraphs"]:
            assert not paragraph.startswith(first["safety"]["care_team"][:12]), paragraph
            assert not paragraph.startswith(first["safety"]["red_flags"][:12]), paragraph

    reply = ask(page, URGENT)
    frames = page.evaluate("window.__frames")
    assert len(frames) > 10, "the reply was drawn piece by piece"
    safety = reply["safety"]
    # The urgent guidance is in its box from the first piece, and that start stays in view.
    assert all(f["first"] == "msa-alert" for f in frames), frames[:3]
    assert all(f["startInView"] for f in frames), [i for i, f in enumerate(frames) if not f["startInView"]]
    # Paragraphs with [n] buttons appear while the reply is written; notices only ever in their own block.
    assert any(f["cites"] for f in frames), "[n] markers are drawn as buttons while the answer streams"
    assert any(f["notices"] for f in frames)
    for frame in frames:
        for paragraph in frame["paragraphs"]:
            assert not paragraph.startswith(safety["care_team"][:20]) and not paragraph.startswith(safety["red_flags"][:20])
            assert not re.search(r"\[\d", paragraph), "markers are buttons, never raw text"
    expect(page.locator(".msa-log > .msa-bot").last.locator(".msa-alert")).to_be_in_viewport()


def test_forced_colours_keep_the_urgent_borders(new_page, base_url):
    page = new_page()
    page.emulate_media(forced_colors="active")
    page.goto(base_url + "/")
    open_panel(page)
    ask(page, URGENT)
    message = page.locator(".msa-log > .msa-bot").last
    assert page.evaluate("matchMedia('(forced-colors: active)').matches")
    for part in (message, message.locator(".msa-alert")):
        style = part.evaluate("e => { const s = getComputedStyle(e); return [s.borderTopStyle, s.borderTopWidth]; }")
        assert style[0] not in ("none", "hidden") and float(style[1].removesuffix("px")) >= 2, style


# ---------- 6. screen readers ----------

def test_screen_readers_hear_each_reply_once_and_never_their_own_question(page):
    open_panel(page)
    watch_announcements(page)
    first = ask(page, SIDE_EFFECTS)
    urgent = ask(page, URGENT)

    structure = shadow_eval(page, """
      const live = Array.from(root.querySelectorAll('[role=log], [role=status], [role=alert], [aria-live]'));
      const log = root.querySelectorAll('[role=log]');
      const user = Array.from(root.querySelectorAll('.msa-user'));
      return {
        logs: log.length,
        attrs: ['aria-live', 'aria-atomic', 'aria-relevant'].map(a => log[0].getAttribute(a)),
        userInLive: user.some(u => live.some(l => l.contains(u))),
        userHidden: user.some(u => u.closest('[aria-hidden=true]')),
        logHasMessages: log[0].querySelectorAll('.msa-msg').length,
        logLines: Array.from(log[0].querySelectorAll('p')).map(p => p.textContent),
        alerts: Array.from(root.querySelectorAll('[role=alert]')).map(a => a.textContent),
        streamHidden: root.querySelector('.msa-streaming').getAttribute('aria-hidden'),
        conversationLive: root.querySelector('.msa-log').matches('[aria-live], [role=log]'),
      };""")
    assert structure["logs"] == 1
    assert structure["attrs"] == ["polite", "false", "additions"]
    assert not structure["conversationLive"], "the conversation itself is not a live region"
    assert not structure["userInLive"] and not structure["userHidden"], "own questions: browsable, never announced"
    assert structure["logHasMessages"] == 0
    assert structure["streamHidden"] == "true"
    # The latest reply: its answer, then one short line for the notices.
    assert len(structure["logLines"]) == 2
    assert structure["logLines"][0].startswith("Answer: ")
    assert structure["logLines"][1] == "Safety notes: " + urgent["safety"]["compact"]
    assert urgent["safety"]["urgent"] not in structure["logLines"][0], "the guidance is said once, by the alert"
    assert "[1]" not in structure["logLines"][0]
    # One alert: the urgent guidance.
    assert len(structure["alerts"]) == 1 and urgent["safety"]["urgent"] in structure["alerts"][0]
    # Each reply was announced once; no question was.
    said = page.evaluate("window.__said")
    assert len(said) == 2, said
    assert all(SIDE_EFFECTS not in s and URGENT not in s for s in said)
    assert first["safety"]["compact"] in said[0]

    # After a reload the conversation is back, but nothing is announced again.
    page.reload()
    expect(page.locator(".msa-log > .msa-bot")).to_have_count(2)
    assert shadow_eval(page, "return root.querySelectorAll('[role=alert]').length;") == 0
    assert shadow_eval(page, "return root.querySelector('[role=log]').children.length;") == 0
    expect(page.locator(".msa-log > .msa-bot").last.locator(".msa-alert")).to_contain_text(urgent["safety"]["urgent"])

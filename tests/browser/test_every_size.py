"""Every point of the phone layout, checked at 320, 375 and 390 px and at 200% zoom, at each of the four text
sizes: one scripted conversation per size (a first reply, a later one, an urgent one, a question about the
promotional article and a crisis message), the stopped-server errors, and axe on what that conversation shows.
All against the real server."""

from __future__ import annotations

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
    TEXT_SIZES,
    URGENT,
    ask,
    in_viewport,
    open_panel,
    run_axe,
    set_text_size,
    shadow_eval,
    text_lines,
    watch_announcements,
)

pytestmark = pytest.mark.browser

MATRIX = [pytest.param(size, index, id=f"{size}-{name}") for size in SIZES for index, name in enumerate(TEXT_SIZES)]


def open_at(new_page, url: str, size: str, index: int):
    page = new_page(**SIZES[size])
    page.goto(url + "/")
    page.locator(".msa-launcher").wait_for()
    set_text_size(page, index)
    open_panel(page)
    return page


def check_controls_reachable(page, viewport: dict, where: str) -> None:
    """The header with Close and Options and the question box are on screen, and nothing scrolls sideways."""
    for part in (".msa-header", ".msa-composer textarea", ".msa-composer .msa-btn-primary"):
        assert in_viewport(page.locator(part).bounding_box(), viewport), (where, part)
    for name in ("Close chat", "Options"):
        box = page.get_by_role("button", name=name).bounding_box()
        assert in_viewport(box, viewport) and box["width"] >= 44 and box["height"] >= 44, (where, name, box)
    assert page.locator(".msa-panel").evaluate("p => p.scrollWidth - p.clientWidth") == 0, where
    assert page.locator(".msa-panel").evaluate("p => p.scrollTop") == 0, (where, "only the conversation scrolls")


def check_inside_width(message, viewport: dict, where: str) -> None:
    """No block of a reply runs off the side of the screen (long words, numbers and links wrap)."""
    widest = message.evaluate("m => Math.max(...Array.from(m.querySelectorAll('*')).map(e => e.getBoundingClientRect().right))")
    assert widest <= viewport["width"] + 0.5, (where, widest)


@pytest.mark.parametrize("size,index", MATRIX)
def test_each_point_of_the_phone_layout(new_page, base_url, size, index):
    viewport = SIZES[size]["viewport"]
    page = open_at(new_page, base_url, size, index)
    watch_announcements(page)
    page.evaluate(SLOW_STREAM_JS)  # each reply arrives in small pieces, so that streaming is seen as it happens
    replies = page.locator(".msa-log > .msa-bot")
    measured = {}

    # The first reply: the notices in full.
    ask(page, SIDE_EFFECTS)
    first = replies.last
    expect(first.locator(".msa-notice")).not_to_have_class(re.compile("msa-notice-compact"))
    check_controls_reachable(page, viewport, "first reply")
    check_inside_width(first, viewport, "first reply")

    # A later reply: two short lines that say both things and open the full text in place.
    later_reply = ask(page, FOLLOW_UP)
    later = replies.last
    notice = later.locator(".msa-notice")
    expect(notice).to_have_class(re.compile("msa-notice-compact"))
    summary = notice.locator(".msa-notice-summary")
    expect(summary).to_have_text(later_reply["safety"]["compact"])
    measured["compact_px"] = round(notice.bounding_box()["height"])
    measured["compact_lines"] = text_lines(summary)
    if size in ("390x844", "zoom200"):  # the phone the notices were measured on, and 200% zoom
        assert measured["compact_px"] <= 120, measured
        if index == 0:
            assert measured["compact_lines"] <= 2, measured
    summary.click()
    expect(notice).to_contain_text(later_reply["safety"]["care_team"])
    expect(notice).to_contain_text(later_reply["safety"]["red_flags"])
    assert notice.locator("details").evaluate("d => d.open")
    check_inside_width(later, viewport, "later reply")

    # Urgent: the guidance first, as an alert in view, then at most one passage, no suggestions, full notices.
    page.evaluate("window.__frames.splice(0)")
    urgent = ask(page, URGENT)
    assert urgent["category"] == "urgent"
    frames = page.evaluate("window.__frames.splice(0)")
    assert len(frames) > 5, "the reply was drawn piece by piece"
    assert all(f["first"] == "msa-alert" for f in frames), "the guidance is in its box from the first piece"
    assert all(f["startInView"] for f in frames), [i for i, f in enumerate(frames) if not f["startInView"]]
    for frame in frames:
        for paragraph in frame["paragraphs"]:
            assert not re.search(r"\[\d", paragraph), "markers are buttons, never raw text"
            assert not paragraph.startswith(urgent["safety"]["red_flags"][:20]), "notices only in their own block"
    message = replies.last
    expect(message).to_have_class(re.compile(r"\bmsa-level-urgent\b"))
    guidance = message.locator(":scope > :not(.msa-who)").first
    expect(guidance).to_have_class("msa-alert")
    expect(guidance).to_have_attribute("role", "alert")
    expect(guidance).to_be_in_viewport()
    assert guidance.bounding_box()["y"] >= page.locator(".msa-scroll").bounding_box()["y"] - 1, "its start is in view"
    assert len(set(re.findall(r"\[(\d+)\]", message.locator(".msa-body").inner_text()))) <= 1
    assert message.locator(".msa-source-toggle").count() <= 1
    expect(message.locator(".msa-followups")).to_have_count(0)
    expect(message.locator(".msa-notice")).not_to_have_class(re.compile("msa-notice-compact"))
    expect(message.locator(".msa-notice")).to_contain_text(urgent["safety"]["red_flags"])
    check_controls_reachable(page, viewport, "urgent reply")
    check_inside_width(message, viewport, "urgent reply")

    # The promotional article: its caution is a warning box before the claims.
    myelin = ask(page, MYELIN)
    message = replies.last
    promo = [c["id"] for c in myelin["citations"] if c["credibility"].startswith("Promotional")]
    assert promo, "the answer cites the promotional article"
    box = message.locator(".msa-body > .msa-promo")
    expect(box).to_have_count(1)
    expect(box.locator(".msa-promo-title")).to_have_text("Caution: promotional source")
    order = message.locator(".msa-body").evaluate(
        """(body, promo) => {
          const blocks = Array.from(body.children);
          return {box: blocks.findIndex(b => b.classList.contains('msa-promo')),
                  claims: blocks.findIndex(b => !b.classList.contains('msa-promo') &&
                    promo.some(id => b.textContent.includes('[' + id + ']')))};
        }""", promo)
    assert 0 <= order["box"] < order["claims"], order
    check_inside_width(message, viewport, "promotional reply")

    # Crisis: the guidance and tap-to-call numbers alone, which fit the screen and are large enough to tap.
    crisis = ask(page, CRISIS)
    message = replies.last
    expect(message).to_have_class(re.compile(r"\bmsa-level-crisis\b"))
    guidance = message.locator(":scope > :not(.msa-who)").first
    expect(guidance).to_have_class("msa-alert")
    expect(guidance).to_contain_text(crisis["safety"]["urgent"])
    expect(guidance).to_be_in_viewport()
    calls = guidance.locator("a.msa-call")
    assert calls.count() >= 3
    for i in range(calls.count()):
        link = calls.nth(i)
        assert link.get_attribute("href").startswith("tel:")
        call_box = link.bounding_box()
        assert call_box["height"] >= 24 and call_box["x"] + call_box["width"] <= viewport["width"], (i, call_box)
    expect(message.locator(".msa-notice, .msa-feedback, .msa-followups")).to_have_count(0)
    expect(message).not_to_contain_text(crisis["safety"]["care_team"])
    expect(message.get_by_role("alert")).to_have_count(1)
    check_controls_reachable(page, viewport, "crisis reply")
    check_inside_width(message, viewport, "crisis reply")

    # Screen readers: each reply announced once as its answer and one line of notes; no question read back.
    # The crisis reply is its guidance alone, which its alert announces: the log adds nothing for it.
    said = page.evaluate("window.__said")
    assert len(said) == 4, said
    for question in (SIDE_EFFECTS, FOLLOW_UP, URGENT, MYELIN, CRISIS):
        assert all(question not in s for s in said), question
    assert all(s.startswith("Answer: ") for s in said), said
    assert said[1].endswith("Safety notes: " + later_reply["safety"]["compact"])
    assert all(urgent["safety"]["urgent"] not in s and crisis["safety"]["urgent"] not in s for s in said)
    assert shadow_eval(page, "return root.querySelectorAll('[role=alert]').length;") == 2  # urgent and crisis

    # Forced colours keep the borders of the urgent and crisis boxes.
    page.emulate_media(forced_colors="active")
    for alert in page.locator(".msa-log > .msa-bot .msa-alert").all():
        style = alert.evaluate("e => { const s = getComputedStyle(e); return [s.borderTopStyle, s.borderTopWidth]; }")
        assert style[0] not in ("none", "hidden") and float(style[1].removesuffix("px")) >= 2, style
    page.emulate_media(forced_colors="none")

    # Scrolled anywhere in the conversation, the controls stay; Close really closes.
    scroll = page.locator(".msa-scroll")
    for where in ("s => { s.scrollTop = 0; }", "s => { s.scrollTop = s.scrollHeight / 2; }"):
        scroll.evaluate(where)
        check_controls_reachable(page, viewport, where)

    result = run_axe(page)
    assert result["violations"] == [], result["violations"]
    page.get_by_role("button", name="Close chat").click()
    expect(page.locator(".msa-panel")).to_be_hidden()
    print(f"{size} text size {TEXT_SIZES[index]}: {measured}")


@pytest.mark.parametrize("size", list(SIZES))
def test_a_stopped_server_at_every_text_size(new_page, own_server, size):
    """For each text size, a conversation is begun; then the server really stops. A question, a feedback and a
    delete each fail in plain words in a role=alert box that is in view, with Retry; once the server is back,
    each Retry succeeds."""
    viewport = SIZES[size]["viewport"]
    pages = []
    for index in range(len(TEXT_SIZES)):
        page = open_at(new_page, own_server.url, size, index)
        ask(page, SIDE_EFFECTS)
        message = page.locator(".msa-log > .msa-bot").first
        message.get_by_role("button", name="Not helpful").click()
        message.get_by_label("Add a comment (optional)").fill("Too long.")
        pages.append(page)

    own_server.stop()
    problems = []
    for index, page in enumerate(pages):
        where = f"{size} {TEXT_SIZES[index]}"
        page.locator(".msa-composer textarea").fill(FOLLOW_UP)
        page.keyboard.press("Enter")
        question = page.locator(".msa-log > .msa-error-msg [role=alert]")
        expect(question.locator(".msa-problem-text")).to_have_text(NOT_RESPONDING)
        expect(question).to_be_in_viewport()
        retry = question.get_by_role("button", name="Retry")
        assert in_viewport(retry.bounding_box(), viewport), where
        expect(page.locator(".msa-composer textarea")).to_have_value(FOLLOW_UP)
        check_controls_reachable(page, viewport, where)

        message = page.locator(".msa-log > .msa-bot").first
        message.get_by_role("button", name="Send feedback").click()
        feedback = message.locator(".msa-feedback [role=alert]")
        expect(feedback.locator(".msa-problem-text")).to_have_text("Your feedback wasn't sent. The assistant isn't responding.")
        expect(feedback).to_be_in_viewport()

        page.get_by_role("button", name="Options").click()
        page.get_by_role("button", name="Delete my conversation").scroll_into_view_if_needed()
        page.get_by_role("button", name="Delete my conversation").click()
        page.get_by_role("button", name="Yes, delete it").click()
        delete = page.locator(".msa-confirm [role=alert]")
        expect(delete.locator(".msa-problem-text")).to_have_text("Your conversation wasn't deleted. The assistant isn't responding.")
        expect(delete).to_be_in_viewport()
        assert "Failed to fetch" not in shadow_eval(page, "return root.textContent;")
        result = run_axe(page)
        assert result["violations"] == [], (where, result["violations"])
        problems.append((question, feedback, delete))

    own_server.start()
    for page, (question, feedback, delete) in zip(pages, problems):
        question.get_by_role("button", name="Retry").click()
        expect(page.locator(".msa-log > .msa-bot")).to_have_count(2)
        expect(page.locator(".msa-log > .msa-error-msg")).to_have_count(0)
        feedback.get_by_role("button", name="Retry").click()
        expect(page.locator(".msa-log > .msa-bot").first.locator(".msa-thanks")).to_have_text("Thanks for your feedback.")
        delete.get_by_role("button", name="Retry").click()
        expect(page.locator(".msa-status")).to_have_text("Your conversation was deleted.")

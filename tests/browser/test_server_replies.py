"""How the widget handles every kind of server reply in the HTTP contract.

The demo page and widget come from the live server; the chat endpoint is answered by the test,
so replies that the corpus does not produce on demand (follow-ups, errors, hostile text) are covered.
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from .support import open_panel

pytestmark = pytest.mark.browser

CARE = "Talk with your MS care team before changing anything about your treatment."
RED_FLAGS = "Get medical help the same day for sudden vision loss or limb weakness."


def reply(**overrides) -> dict:
    """A /api/chat reply with one cited passage."""
    body = {
        "session_id": "session-0001",
        "turn_id": "turn-0001",
        "category": "answer",
        "answer": f"Fatigue is common in MS [1].\n\n{CARE}\n\n{RED_FLAGS}",
        "citations": [{
            "id": 1, "source": "fatigue.txt", "title": "Living with MS fatigue",
            "passage": "Fatigue is one of the most common symptoms of MS.", "score": 0.8,
            "kind": "patient guide", "credibility": "Patient guide from a clinic.",
        }],
        "safety": {"urgent": None, "care_team": CARE, "red_flags": RED_FLAGS},
        "follow_ups": [],
    }
    body.update(overrides)
    return body


def sse(*events: tuple[str, dict]) -> str:
    """A server-sent event stream, with CRLF line ends and a keep-alive comment, like the server's."""
    return ": ping\r\n\r\n" + "".join(f"event: {name}\r\ndata: {json.dumps(data)}\r\n\r\n" for name, data in events)


def stream_of(final: dict) -> str:
    answer = final["answer"]
    pieces = [answer[i:i + 15] for i in range(0, len(answer), 15)]
    return sse(*[("delta", {"text": p}) for p in pieces], ("final", final))


@pytest.fixture
def chat(page, base_url):
    """Answers /api/chat/stream with the queued (status, body) responses (status None: connection refused)."""
    queue, sent = [], []

    def handle(route):
        sent.append(json.loads(route.request.post_data))
        status, body = queue.pop(0)
        if status is None:
            route.abort("connectionrefused")
        elif status == 200:
            route.fulfill(status=200, body=body, content_type="text/event-stream")
        else:
            route.fulfill(status=status, body=json.dumps(body), content_type="application/json")

    page.route(base_url + "/api/chat/stream", handle)
    open_panel(page)
    return queue, sent


def send(page, text: str) -> None:
    page.locator(".msa-composer textarea").fill(text)
    page.keyboard.press("Enter")


def test_follow_up_questions_are_buttons_that_ask_them(page, chat):
    queue, sent = chat
    queue.append((200, stream_of(reply(follow_ups=["What helps with MS fatigue?", "Is fatigue a relapse?"]))))
    queue.append((200, stream_of(reply(turn_id="turn-0002"))))
    send(page, "Why am I so tired?")

    follow_up = page.get_by_role("button", name="What helps with MS fatigue?")
    expect(follow_up).to_be_visible()
    follow_up.click()
    expect(page.locator(".msa-log > .msa-bot")).to_have_count(2)
    assert sent[1] == {"message": "What helps with MS fatigue?", "session_id": "session-0001"}
    expect(page.locator(".msa-log > .msa-user").last).to_contain_text("What helps with MS fatigue?")


def test_the_widget_sends_back_the_session_id_the_server_gave_last(page, chat):
    queue, sent = chat
    queue.append((200, stream_of(reply())))
    queue.append((200, stream_of(reply(session_id="session-0002", turn_id="turn-0002"))))  # the server started anew
    queue.append((200, stream_of(reply(session_id="session-0002", turn_id="turn-0003"))))
    for n, question in enumerate(["Why am I so tired?", "Is it MS?", "What helps?"], start=1):
        send(page, question)
        expect(page.locator(".msa-log > .msa-bot")).to_have_count(n)
    assert [s["session_id"] for s in sent] == [None, "session-0001", "session-0002"]


def test_server_text_is_never_treated_as_html(page, chat):
    queue, _ = chat
    hostile = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
    final = reply(
        answer=f"{hostile} [1]\n\n{CARE}\n\n{RED_FLAGS}",
        citations=[dict(reply()["citations"][0], title=hostile, passage=hostile, kind=hostile, credibility=hostile)],
        follow_ups=[hostile],
    )
    queue.append((200, stream_of(final)))
    send(page, "Hello")

    message = page.locator(".msa-log > .msa-bot")
    expect(message.locator(".msa-body")).to_contain_text(hostile)
    message.locator(".msa-cite").click()
    expect(message.locator(".msa-passage")).to_have_text(hostile)
    expect(message.get_by_role("button", name=hostile, exact=True)).to_be_visible()
    assert page.evaluate("typeof window.__pwned") == "undefined"
    count = page.evaluate("() => document.querySelector('msa-chat-widget').shadowRoot.querySelectorAll('img, script').length")
    assert count == 0


def test_a_stream_error_is_shown_and_the_question_kept(page, chat):
    queue, _ = chat
    queue.append((200, sse(("delta", {"text": "Fatigue is"}), ("error", {"detail": "The library is being updated."}))))
    send(page, "Why am I so tired?")

    problem = page.locator(".msa-log > .msa-error-msg")
    # Plain words, not the server's own detail.
    expect(problem.get_by_role("alert").locator(".msa-problem-text")).to_have_text(
        "The assistant couldn't finish the answer. Your question is saved.")
    expect(problem).not_to_contain_text("The library is being updated.")
    expect(page.locator(".msa-streaming")).to_be_hidden()
    # The question is put back, so it need not be typed again.
    expect(page.locator(".msa-composer textarea")).to_have_value("Why am I so tired?")


def test_rate_limit_asks_to_wait(page, chat):
    queue, _ = chat
    queue.append((429, {"detail": "Rate limit exceeded: 10 per 1 minute"}))
    send(page, "Why am I so tired?")
    expect(page.locator(".msa-log > .msa-error-msg")).to_contain_text("Please wait a minute, then try again.")


def test_invalid_input_shows_the_reason(page, chat):
    queue, _ = chat
    queue.append((422, {"detail": [{"loc": ["body", "message"], "msg": "Value error, message is empty: type a question"}]}))
    send(page, "   x")
    expect(page.locator(".msa-log > .msa-error-msg")).to_contain_text("message is empty: type a question")


def test_a_stream_without_a_final_reply_is_reported(page, chat):
    queue, _ = chat
    queue.append((200, sse(("delta", {"text": "Fatigue is"}))))
    send(page, "Why am I so tired?")
    expect(page.locator(".msa-log > .msa-error-msg")).to_contain_text("The answer was cut off.")
    expect(page.locator(".msa-log > .msa-bot")).to_have_count(0)


def test_an_unreachable_server_is_explained(page, chat):
    queue, _ = chat
    queue.append((None, None))
    send(page, "Why am I so tired?")
    expect(page.locator(".msa-log > .msa-error-msg")).to_contain_text("The assistant isn't responding. Your question is saved.")
    expect(page.locator(".msa-composer textarea")).to_have_value("Why am I so tired?")


PROMO = {"id": 2, "source": "promo.txt", "title": "A miracle cure", "passage": "It repaired my myelin in a week.",
         "score": 0.7, "kind": "news/promotional article",
         "credibility": "Promotional article: relies on personal stories. Its claims have not been verified."}
CAUTION = ("Caution: [2] comes from a promotional article. It relies on personal stories and names no study or "
           "journal, so its claims have not been verified. Ask your care team before acting on it.")


def test_a_caution_said_after_the_answer_is_shown_before_the_claims(page, chat):
    queue, _ = chat
    answer = (f"The treatment guide says:\n\nFatigue is common in MS [1].\n\nA promotional article claims:\n\n"
              f"It repaired my myelin in a week [2].\n\n{CAUTION}\n\n{CARE}\n\n{RED_FLAGS}")
    queue.append((200, stream_of(reply(answer=answer, citations=[reply()["citations"][0], PROMO]))))
    send(page, "Does the myelin cure work?")

    blocks = page.locator(".msa-log > .msa-bot .msa-body > *")
    expect(blocks).to_have_count(5)
    texts = [blocks.nth(i).inner_text() for i in range(5)]
    assert texts[0] == "The treatment guide says:"
    assert texts[2].startswith("Caution: promotional source") and "comes from a promotional article" in texts[2]
    assert texts[3] == "A promotional article claims:"  # the box comes before the group's lead line
    expect(blocks.nth(2)).to_have_class("msa-promo")


def test_promotional_sources_get_a_warning_even_without_a_caution_in_the_text(page, chat):
    queue, _ = chat
    queue.append((200, stream_of(reply(answer=f"It repaired my myelin in a week [2].\n\n{CARE}\n\n{RED_FLAGS}",
                                       citations=[PROMO]))))
    send(page, "Does the myelin cure work?")
    box = page.locator(".msa-log > .msa-bot .msa-body > .msa-promo")
    expect(box).to_contain_text("Caution: promotional source" + PROMO["credibility"])


def test_an_urgent_reply_shows_one_passage_and_no_suggestions(page, chat):
    queue, _ = chat
    urgent = "Please contact your MS care team or a doctor today. What you describe should be checked soon."
    second = dict(reply()["citations"][0], id=2, title="Second source", passage="Another passage.")
    answer = (f"{urgent}\n\nThe treatment guide says:\n\nFatigue is common in MS [1].\n\nA study found:\n\n"
              f"Another thing [2].\n\n{CARE}\n\n{RED_FLAGS}")
    queue.append((200, stream_of(reply(category="urgent", answer=answer, citations=[reply()["citations"][0], second],
                                       safety={"urgent": urgent, "care_team": CARE, "red_flags": RED_FLAGS},
                                       follow_ups=["What is a relapse?"]))))
    send(page, "My leg went numb yesterday")
    message = page.locator(".msa-log > .msa-bot")
    expect(message.locator(".msa-alert")).to_contain_text(urgent)
    expect(message.locator(".msa-source-toggle")).to_have_count(1)
    expect(message.locator(".msa-body")).to_have_text("The treatment guide says:Fatigue is common in MS [1].")
    expect(message.locator(".msa-followups")).to_have_count(0)
    expect(message.locator(".msa-feedback")).to_have_count(1)


def test_a_reply_that_names_its_level_is_taken_at_its_word(page, chat):
    queue, _ = chat
    guidance = "Please call the crisis line on 988 now."
    queue.append((200, stream_of(reply(category="urgent", answer=f"{guidance}\n\n{CARE}\n\n{RED_FLAGS}", citations=[],
                                       safety={"urgent": guidance, "care_team": CARE, "red_flags": RED_FLAGS,
                                               "level": "crisis"}))))
    send(page, "I can't go on")
    message = page.locator(".msa-log > .msa-bot")
    expect(message).to_have_class("msa-msg msa-bot msa-urgent msa-level-crisis")
    expect(message.locator("a.msa-call")).to_have_attribute("href", "tel:988")
    expect(message.locator(".msa-notice, .msa-feedback")).to_have_count(0)

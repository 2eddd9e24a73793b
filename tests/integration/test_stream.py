"""Streaming: POST /api/chat/stream sends the answer as server-sent events, read here from a real server.

`delta` events carry pieces of the answer in order (urgent guidance first, sent before retrieval starts),
then one `final` event carries exactly the JSON of /api/chat; the deltas joined are the final answer.
"""

from __future__ import annotations

import json

import httpx
import pytest

from msassistant.schemas import ChatReply

from unit.test_stream import URGENT


def read_events(url: str, payload: dict) -> list[tuple[str, str]]:
    """The (event, data) pairs of one SSE response, in order."""
    events: list[tuple[str, str]] = []
    event, data = "message", []
    with httpx.stream("POST", url + "/api/chat/stream", json=payload, timeout=120) as resp:
        assert resp.status_code == 200, resp.read()
        assert resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if not line:
                if data:
                    events.append((event, "\n".join(data)))
                event, data = "message", []
            elif line.startswith(":"):
                continue  # keep-alive comment
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
    if data:
        events.append((event, "\n".join(data)))
    return events


def split(events):
    deltas = [json.loads(d)["text"] for e, d in events if e == "delta"]
    finals = [d for e, d in events if e == "final"]
    return deltas, finals


def check_stream(events) -> ChatReply:
    kinds = [e for e, _ in events]
    assert "error" not in kinds
    assert kinds[-1] == "final" and kinds.count("final") == 1
    assert set(kinds[:-1]) == {"delta"} and len(kinds) >= 3
    deltas, (final,) = split(events)
    reply = ChatReply.model_validate_json(final)  # exactly the /api/chat contract
    assert json.loads(final) == reply.model_dump(mode="json")
    assert "".join(deltas) == reply.answer
    assert reply.answer.endswith(reply.safety.red_flags) and reply.safety.care_team in reply.answer
    return reply


def test_a_stream_ends_with_the_reply_its_deltas_spell(live_server):
    events = read_events(live_server, {"message": "Why do I need an ECG when starting fingolimod?"})
    reply = check_stream(events)
    assert reply.category == "answer" and reply.citations
    assert any("ECG" in c.passage for c in reply.citations)
    assert 2 <= len(reply.follow_ups) <= 3
    deltas, _ = split(events)
    assert deltas[0].startswith(reply.answer.split("\n\n")[0])  # piece by piece, not one block


def test_urgent_guidance_is_the_first_piece(live_server):
    events = read_events(live_server, {"message": URGENT})
    reply = check_stream(events)
    assert reply.category == "urgent" and reply.safety.urgent
    assert events[0][0] == "delta" and json.loads(events[0][1])["text"] == reply.safety.urgent


def test_a_streamed_conversation_continues_on_the_json_endpoint(live_server):
    first = check_stream(read_events(live_server, {"message": "What did the study find about azathioprine?"}))
    second = check_stream(read_events(live_server, {"message": "What are its side effects?",
                                                    "session_id": first.session_id}))
    assert second.session_id == first.session_id
    assert any("serious side effects" in c.passage for c in second.citations)
    third = httpx.post(live_server + "/api/chat", json={"message": "Any other risks?", "session_id": first.session_id},
                       timeout=60).json()
    assert any("azathioprine" in c["passage"].lower() for c in third["citations"])


@pytest.mark.parametrize("payload", [
    {"message": ""},
    {"message": "   "},
    {"message": "x" * 2001},
    {"message": 42},
    {"message": "What is MS?", "session_id": "bad id!"},
    {},
])
def test_invalid_input_is_refused_before_any_stream_opens(live_server, payload):
    resp = httpx.post(live_server + "/api/chat/stream", json=payload, timeout=30)
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.json()["detail"]


def test_a_body_that_is_not_json_gets_422(live_server):
    resp = httpx.post(live_server + "/api/chat/stream", content=b"{not json", timeout=30,
                      headers={"Content-Type": "application/json"})
    assert resp.status_code == 422 and "event:" not in resp.text

"""Streaming: POST /api/chat/stream sends the answer as server-sent events, read here from a real server.

`delta` events carry pieces of the answer in order (urgent guidance first, sent before retrieval starts),
then one `final` event carries exactly the JSON of /api/chat; the deltas joined are the final answer. Sessions
named in a stream are checked in process too, where the log can be read.
"""

from __future__ import annotations

import json
import re

import httpx
import pytest
from fastapi.testclient import TestClient

from msassistant.api import create_app
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


def test_streamed_sessions_get_new_random_ids(live_server):
    ids = [check_stream(read_events(live_server, {"message": "Is fatigue common in MS?"})).session_id for _ in range(2)]
    assert ids[0] != ids[1]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", s) and len(s) * 6 >= 128 for s in ids)  # URL-safe base64


# ---- the same stream in process, where the log can be read -------------------------------------------------------
@pytest.fixture(scope="module")
def client(assistant):
    with TestClient(create_app(assistant.settings, assistant)) as c:
        yield c


def stream_in_process(client, payload: dict) -> ChatReply:
    r = client.post("/api/chat/stream", json=payload)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = []
    for block in re.split(r"\r?\n\r?\n", r.text):
        lines = [line for line in block.splitlines() if line and not line.startswith(":")]
        kind = next((line[6:].strip() for line in lines if line.startswith("event:")), "message")
        data = "\n".join(line[5:].removeprefix(" ") for line in lines if line.startswith("data:"))
        if data:
            events.append((kind, data))
    return check_stream(events)


@pytest.mark.parametrize("session", ["zzzzzzzzzzzzzzzz", "bad id!"])
def test_a_stream_naming_an_unknown_session_starts_a_new_one(client, assistant, session):
    other = stream_in_process(client, {"message": "What did the study find about azathioprine?"})
    reply = stream_in_process(client, {"message": "What are its side effects?", "session_id": session})
    assert reply.session_id not in {session, other.session_id}
    assert assistant.logstore.history(session) == []
    (turn,) = assistant.logstore.history(reply.session_id)  # no earlier turn to borrow a topic from
    assert turn.topic == "" and not next(s for s in turn.steps if s["step"] == "resolve")["follow_up"]
    again = stream_in_process(client, {"message": "What are its side effects?", "session_id": other.session_id})
    assert again.session_id == other.session_id  # an issued id continues
    assert [t.topic for t in assistant.logstore.history(other.session_id)] == ["azathioprine", "azathioprine"]


@pytest.mark.parametrize("payload", [
    {"message": ""},
    {"message": "   "},
    {"message": "x" * 2001},
    {"message": 42},
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

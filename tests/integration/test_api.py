"""The HTTP contract and its 422s, through FastAPI's test client on the real assistant."""

import json
import re

import pytest
from fastapi.testclient import TestClient

from conftest import make_settings
from msassistant.api import create_app


@pytest.fixture(scope="module")
def client(assistant):
    with TestClient(create_app(assistant.settings, assistant)) as c:
        yield c


def check_contract(body: dict) -> None:
    assert set(body) >= {"session_id", "turn_id", "category", "answer", "citations", "safety"}
    assert body["category"] in {"answer", "no_coverage", "out_of_scope", "urgent"}
    assert isinstance(body["session_id"], str) and isinstance(body["turn_id"], str)
    safety = body["safety"]
    assert set(safety) == {"urgent", "level", "care_team", "red_flags", "compact"}
    assert safety["compact"] and safety["compact"] not in body["answer"]  # the widget's short form, not the answer
    assert safety["care_team"] in body["answer"] and safety["red_flags"] in body["answer"]
    assert body["answer"].rstrip().endswith(safety["red_flags"])
    for c in body["citations"]:
        assert set(c) == {"id", "source", "title", "passage", "score", "kind", "credibility"}
        assert isinstance(c["id"], int) and isinstance(c["score"], float)


def test_chat_contract(client):
    r = client.post("/api/chat", json={"message": "How much do interferon beta and glatiramer acetate reduce relapses?"})
    assert r.status_code == 200
    body = r.json()
    check_contract(body)
    assert body["category"] == "answer" and body["safety"]["urgent"] is None and body["safety"]["level"] is None
    assert any("30-50%" in c["passage"] for c in body["citations"])
    again = client.post("/api/chat", json={"message": "What are the side effects?", "session_id": body["session_id"]})
    assert again.status_code == 200 and again.json()["session_id"] == body["session_id"]


@pytest.mark.parametrize("payload, fragment", [
    ({"message": ""}, "empty"),
    ({"message": "   \n\t "}, "empty"),
    ({"message": "x" * 2001}, "2000"),
    ({"message": 123}, "string"),
    ({"message": ["a"]}, "string"),
    ({"message": "hi", "session_id": 5}, "string"),
    ({}, "message"),
])
def test_invalid_input_is_422_with_reason(client, payload, fragment):
    r = client.post("/api/chat", json=payload)
    assert r.status_code == 422
    assert fragment.lower() in json.dumps(r.json()).lower()
    assert "x" * 100 not in r.text  # huge input is not echoed back


# ---- session ids are issued by the server ----------------------------------------------------------------------
def test_new_sessions_get_ids_of_at_least_128_random_bits(client):
    ids = [client.post("/api/chat", json={"message": "Is fatigue common in MS?"}).json()["session_id"] for _ in range(2)]
    assert ids[0] != ids[1]
    for session in ids:  # URL-safe base64: 6 bits a character
        assert re.fullmatch(r"[A-Za-z0-9_-]+", session) and len(session) * 6 >= 128


@pytest.mark.parametrize("session", ["zzzzzzzzzzzzzzzz", "abcdefgh12345678", "../../etc", "bad id!", "", "x" * 65])
def test_an_unknown_or_malformed_session_id_starts_a_new_session(client, assistant, session):
    client.post("/api/chat", json={"message": "What did the study find about azathioprine?"})  # someone else's turn
    r = client.post("/api/chat", json={"message": "What are its side effects?", "session_id": session})
    assert r.status_code == 200
    body = r.json()
    check_contract(body)
    assert body["session_id"] != session
    assert assistant.logstore.history(session) == []  # the named session was not created
    (turn,) = assistant.logstore.history(body["session_id"])  # nothing earlier: "its" refers to no topic
    assert turn.topic == "" and not next(s for s in turn.steps if s["step"] == "resolve")["follow_up"]
    follow = client.post("/api/chat", json={"message": "Is it a pill?", "session_id": body["session_id"]}).json()
    assert follow["session_id"] == body["session_id"]  # the issued id continues
    assert len(assistant.logstore.history(body["session_id"])) == 2


def test_an_issued_session_id_continues_its_conversation(client, assistant):
    first = client.post("/api/chat", json={"message": "What did the study find about azathioprine?"}).json()
    second = client.post("/api/chat", json={"message": "What are its side effects?",
                                            "session_id": first["session_id"]}).json()
    assert second["session_id"] == first["session_id"]
    turns = assistant.logstore.history(first["session_id"])
    assert [t.id for t in turns] == [first["turn_id"], second["turn_id"]]
    assert turns[1].topic == "azathioprine"


def test_malformed_json_is_422(client):
    r = client.post("/api/chat", content=b'{"message": "hi"', headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "JSON" in r.text


def test_exactly_2000_characters_is_accepted(client):
    r = client.post("/api/chat", json={"message": ("What helps fatigue? " * 100)[:2000]})
    assert r.status_code == 200
    check_contract(r.json())


@pytest.mark.parametrize("message", [
    "<script>alert('x')</script> what is MS?",
    "\x00\x01 fatigue \u202e\u200b help",
    "💊💊 does MS medication cause tiredness?? 😴",
    "'; DROP TABLE turns; --",
    "{{7*7}} ${7*7} %s %n",
])
def test_hostile_messages_get_normal_replies(client, message):
    r = client.post("/api/chat", json={"message": message})
    assert r.status_code == 200
    check_contract(r.json())


def test_health(client):
    body = client.get("/api/health").json()
    assert body["status"] == "ok" and body["documents"] == 5 and body["chunks"] > 20
    assert body["embedding_model"] == "sentence-transformers/all-MiniLM-L6-v2"


def test_feedback_and_delete(client):
    body = client.post("/api/chat", json={"message": "Does smoking make MS worse?"}).json()
    assert client.post("/api/feedback", json={"turn_id": body["turn_id"], "rating": "down", "comment": "unclear"}).json() == {"ok": True}
    assert client.post("/api/feedback", json={"turn_id": "nope", "rating": "up"}).status_code == 404
    assert client.post("/api/feedback", json={"turn_id": body["turn_id"], "rating": "meh"}).status_code == 422
    assert client.delete(f"/api/sessions/{body['session_id']}").json() == {"deleted": 1}
    assert client.delete(f"/api/sessions/{body['session_id']}").json() == {"deleted": 0}


def test_cors_allows_only_configured_origins(client, assistant):
    allowed = assistant.settings.allowed_origins[0]
    ok = client.options("/api/chat", headers={"Origin": allowed, "Access-Control-Request-Method": "POST"})
    assert ok.headers.get("access-control-allow-origin") == allowed
    bad = client.options("/api/chat", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in bad.headers


def test_every_turn_is_logged(client, assistant):
    body = client.post("/api/chat", json={"message": "What does the EDSS score measure?"}).json()
    turns = assistant.logstore.history(body["session_id"])
    assert len(turns) == 1
    turn = turns[0]
    assert turn.id == body["turn_id"] and turn.category == "answer" and turn.answer == body["answer"]
    assert [c["source"] for c in turn.citations] == [c["source"] for c in body["citations"]]
    assert all("chunk_id" in c and "score" in c for c in turn.citations)
    assert any(step["step"] == "retrieve" for step in turn.steps)


# ---- a Settings passed to create_app governs the app it builds -------------------------------------------------
def test_the_apps_rate_limit_comes_from_its_settings(assistant, tmp_path, client):
    app = create_app(make_settings(tmp_path, rate_limit="2/minute"), assistant)
    with TestClient(app) as limited:
        replies = [limited.post("/api/chat", json={"message": "What is MS?"}) for _ in range(3)]
    assert [r.status_code for r in replies] == [200, 200, 429]
    assert replies[-1].json() == {"error": "Rate limit exceeded: 2 per 1 minute"}
    assert 1 <= int(replies[-1].headers["Retry-After"]) <= 60  # seconds until the window resets
    assert client.post("/api/chat", json={"message": "What is MS?"}).status_code == 200  # each app counts its own


def test_the_apps_message_limit_comes_from_its_settings(assistant, tmp_path):
    app = create_app(make_settings(tmp_path, max_message_chars=50), assistant)
    with TestClient(app) as short:
        for path in ("/api/chat", "/api/chat/stream"):
            r = short.post(path, json={"message": "x" * 60})
            assert r.status_code == 422, path
            assert r.json() == {"detail": [{"loc": ["body", "message"], "type": "value_error",
                                            "msg": "message is 60 characters long; the limit is 50"}]}
        assert short.post("/api/chat", json={"message": ("What helps fatigue? " * 3)[:50]}).status_code == 200


def test_the_app_builds_one_store_and_an_assistant_from_its_settings(tmp_path, monkeypatch):
    built = {}

    class Recorder:
        def __init__(self, settings, embeddings=None, logstore=None, **kwargs):
            built.update(settings=settings, embeddings=embeddings, logstore=logstore)

        def warm_up(self) -> None:
            pass

    monkeypatch.setattr("msassistant.api.app.Assistant", Recorder)
    settings = make_settings(tmp_path, torch_threads=3)
    app = create_app(settings)
    with TestClient(app):
        pass
    assert built["settings"] is settings and built["embeddings"].threads == 3  # MSA_TORCH_THREADS, via Settings
    assert built["logstore"] is app.state.store  # the console and the assistant share one store
    app.state.store.engine.dispose()

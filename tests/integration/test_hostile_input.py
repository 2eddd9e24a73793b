"""Hostile input at the HTTP edge: every request below gets its own expected status, never a 5xx.

Also here: a crisis message with a lone surrogate gets the crisis guidance and is logged (JSON and stream), the
request-body limit answers 413 before anything is parsed, the security headers, the OpenAPI schema's limits, and
the rate limits (chat and stream share one count; feedback and delete have theirs; Retry-After on every 429).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request

from conftest import make_settings
from msassistant.api import create_app
from msassistant.api.widget import STATIC
from msassistant.admin.routes import SECURITY_HEADERS as CONSOLE_HEADERS

JSON = {"Content-Type": "application/json"}
CRISIS = b'{"message": "I want to kill myself \\ud800"}'
TWO_MB = b'{"message": "' + b"x" * (2 * 1024 * 1024) + b'"}'
SESSION = "abcdefgh12345678"


@pytest.fixture(scope="module")
def client(assistant):
    with TestClient(create_app(assistant.settings, assistant)) as c:
        yield c


@pytest.fixture(scope="module")
def turn_id(client) -> str:
    return client.post("/api/chat", json={"message": "Does heat make MS symptoms worse?"}).json()["turn_id"]


def events(text: str) -> list[tuple[str, dict]]:
    """The (event, data) pairs of a server-sent-events body."""
    out = []
    for block in re.split(r"\r?\n\r?\n", text):
        lines = [line for line in block.splitlines() if line and not line.startswith(":")]
        kind = next((line[6:].strip() for line in lines if line.startswith("event:")), "message")
        data = "\n".join(line[5:].removeprefix(" ") for line in lines if line.startswith("data:"))
        if data:
            out.append((kind, json.loads(data)))
    return out


def chunks(body: bytes, size: int = 8192):
    """A body sent in pieces with no Content-Length (Transfer-Encoding: chunked)."""
    for i in range(0, len(body), size):
        yield body[i:i + size]


# ---- the hostile list ------------------------------------------------------------------------------------------
CHAT_ROUTES = ["/api/chat", "/api/chat/stream"]
BODIES = [  # (name, body, headers, expected status on each chat route)
    ("lone high surrogate", b'{"message": "Is fatigue part of MS? \\ud800"}', JSON, 200),
    ("lone low surrogate", b'{"message": "\\udfff Is fatigue part of MS?"}', JSON, 200),
    ("reversed surrogate pair", b'{"message": "What is MS? \\udc00\\ud800"}', JSON, 200),
    ("NUL characters", b'{"message": "What\\u0000 is\\u0000 MS?"}', JSON, 200),
    ("only NULs and spaces", b'{"message": "\\u0000 \\u0000"}', JSON, 422),
    ("only a lone surrogate", b'{"message": "\\ud800"}', JSON, 200),
    ("surrogate in session_id", b'{"message": "What is MS?", "session_id": "abcdefgh\\ud800"}', JSON, 200),
    ("NUL in session_id", b'{"message": "What is MS?", "session_id": "abcdefgh\\u0000"}', JSON, 200),
    ("newline after session_id", b'{"message": "What is MS?", "session_id": "abcdefgh1234\\n"}', JSON, 200),
    ("2 MB body", TWO_MB, JSON, 413),
    ("deeply nested JSON", b"[" * 50_000 + b"]" * 50_000, JSON, 413),
    ("deeply nested JSON within the size limit", b"[" * 30_000 + b"]" * 30_000, JSON, 422),
    ("deep nesting beside the message", b'{"message": "What is MS?", "x": ' + b"[" * 20_000 + b"]" * 20_000 + b"}",
     JSON, 422),
    ("nested message", b'{"message": {"message": {"message": "What is MS?"}}}', JSON, 422),
    ("message is a number", b'{"message": 123}', JSON, 422),
    ("message is a list", b'{"message": ["What is MS?"]}', JSON, 422),
    ("message is null", b'{"message": null}', JSON, 422),
    ("message is true", b'{"message": true}', JSON, 422),
    ("message is NaN", b'{"message": NaN}', JSON, 422),
    ("session_id is a number", b'{"message": "What is MS?", "session_id": 12345678}', JSON, 422),
    ("huge integer", b'{"message": ' + b"9" * 10_000 + b"}", JSON, 422),
    ("huge integer as session_id", b'{"message": "What is MS?", "session_id": 1' + b"0" * 5000 + b"}", JSON, 422),
    ("big but readable integer", b'{"message": ' + b"9" * 400 + b"}", JSON, 422),
    ("invalid UTF-8", b'{"message": "What is MS? \xff\xfe\xc3"}', JSON, 422),
    ("UTF-8 encoded surrogate", b'{"message": "What is MS? \xed\xa0\x80"}', JSON, 200),  # read, then replaced
    ("empty body", b"", JSON, 422),
    ("malformed JSON", b'{"message": "What is MS?"', JSON, 422),
    ("a JSON list", b'["What is MS?"]', JSON, 422),
    ("a JSON string", b'"What is MS?"', JSON, 422),
    ("text/plain", b'{"message": "What is MS?"}', {"Content-Type": "text/plain"}, 422),
    ("a form", b"message=What+is+MS%3F", {"Content-Type": "application/x-www-form-urlencoded"}, 422),
    ("no content type", b'{"message": "What is MS?"}', {}, 422),
    ("XML", b"<message>What is MS?</message>", {"Content-Type": "application/xml"}, 422),
]


@pytest.mark.parametrize("path", CHAT_ROUTES)
@pytest.mark.parametrize("name, body, headers, expected", BODIES, ids=[b[0] for b in BODIES])
def test_hostile_chat_bodies(client, path, name, body, headers, expected):
    r = client.post(path, content=body, headers=headers)
    assert r.status_code == expected, (name, r.status_code, r.text[:300])
    if expected != 200 or path == "/api/chat":
        assert r.headers["content-type"].startswith("application/json")
        assert r.json()
    else:
        assert [kind for kind, _ in events(r.text)][-1] == "final"
    assert "x" * 100 not in r.text and "[[[[" not in r.text  # the input is not echoed back


@pytest.mark.parametrize("session", [b"abcdefgh\\ud800", b"abcdefgh\\u0000", b"abcdefgh1234\\n", b"s" * 60_000,
                                     b"zzzzzzzzzzzzzzzz", b"..\\/..\\/etc\\/passwd"])
def test_a_hostile_session_id_starts_a_new_session(client, assistant, session):
    r = client.post("/api/chat", content=b'{"message": "What is MS?", "session_id": "' + session + b'"}', headers=JSON)
    assert r.status_code == 200
    issued = r.json()["session_id"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", issued) and len(assistant.logstore.history(issued)) == 1
    assert "sssss" not in r.text  # the input is not echoed back


def _feedback_cases(turn: str) -> list[tuple[str, bytes, dict, int]]:
    t = turn.encode()
    return [
        ("comment with surrogates and NUL", b'{"turn_id": "' + t + b'", "rating": "up", "comment": "ok\\ud800\\u0000"}',
         JSON, 200),
        ("turn_id with a lone surrogate", b'{"turn_id": "\\ud800", "rating": "up"}', JSON, 404),
        ("turn_id with NUL", b'{"turn_id": "\\u0000' + t + b'", "rating": "up"}', JSON, 200),
        ("turn_id of NULs only", b'{"turn_id": "\\u0000\\u0000", "rating": "up"}', JSON, 422),
        ("rating with a surrogate", b'{"turn_id": "' + t + b'", "rating": "up\\ud800"}', JSON, 422),
        ("turn_id is a huge integer", b'{"turn_id": ' + b"9" * 10_000 + b', "rating": "up"}', JSON, 422),
        ("turn_id is a number", b'{"turn_id": 5, "rating": "up"}', JSON, 422),
        ("comment is a list", b'{"turn_id": "' + t + b'", "rating": "up", "comment": ["a"]}', JSON, 422),
        ("comment too long", b'{"turn_id": "' + t + b'", "rating": "up", "comment": "' + b"c" * 2001 + b'"}', JSON, 422),
        ("2 MB comment", b'{"turn_id": "' + t + b'", "rating": "up", "comment": "' + b"c" * 2_000_000 + b'"}', JSON, 413),
        ("deeply nested", b"{" + b'"a":{' * 8_000 + b"}" * 8_001, JSON, 422),
        ("invalid UTF-8", b'{"turn_id": "\xff", "rating": "up"}', JSON, 422),
        ("empty body", b"", JSON, 422),
        ("text/plain", b'{"turn_id": "' + t + b'", "rating": "up"}', {"Content-Type": "text/plain"}, 422),
    ]


FEEDBACK_NAMES = [c[0] for c in _feedback_cases("t")]


@pytest.mark.parametrize("case", range(len(FEEDBACK_NAMES)), ids=FEEDBACK_NAMES)
def test_hostile_feedback_bodies(client, turn_id, case):
    name, body, headers, expected = _feedback_cases(turn_id)[case]
    r = client.post("/api/feedback", content=body, headers=headers)
    assert r.status_code == expected, (name, r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/json") and "ccccc" not in r.text


@pytest.mark.parametrize("session, expected", [
    ("abcdefgh12345678", 200),
    ("%00abcdefgh1234", 422),  # a NUL
    ("abcdefgh%ED%A0%80", 422),  # a surrogate's UTF-8 bytes, read as U+FFFD
    ("abcdefgh%FF%FE", 422),  # bytes that are not UTF-8
    ("short", 422),
    ("x" * 65, 422),
    ("..%2F..%2Fetc%2Fpasswd", 404),  # no such route
    ("zzzzzzzz;DROP TABLE turns", 422),
    ("9" * 5000, 422),
])
def test_hostile_session_ids_in_delete(client, session, expected):
    r = client.delete(f"/api/sessions/{session}")
    assert r.status_code == expected, r.text[:300]


@pytest.mark.parametrize("method, path", [
    ("POST", "/api/chat"), ("POST", "/api/chat/stream"), ("POST", "/api/feedback"),
    ("DELETE", f"/api/sessions/{SESSION}"), ("GET", "/api/health"), ("GET", "/"), ("GET", "/widget.js"),
    ("POST", "/admin/login"), ("POST", "/admin/api/turns"), ("PUT", "/api/chat"), ("POST", "/no/such/route"),
])
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_2mb_body_is_refused_on_every_route_before_it_is_parsed(client, monkeypatch, method, path, chunked):
    read = []
    original = Request.stream

    def spy(self):  # every way of reading a body (JSON, a form, raw bytes) goes through Request.stream
        read.append(self.url.path)
        return original(self)

    monkeypatch.setattr(Request, "stream", spy)
    r = client.request(method, path, content=chunks(TWO_MB) if chunked else TWO_MB, headers=JSON)
    assert r.status_code == 413, r.text[:300]
    assert r.json() == {"detail": f"the request body is larger than the limit of {64 * 1024} bytes"}
    assert read == []  # no route read (let alone parsed) any of it


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_the_real_server_refuses_a_2mb_body_and_keeps_serving(live_server, chunked):
    with httpx.Client(base_url=live_server, timeout=60) as c:  # one kept-alive connection for both requests
        r = c.post("/api/chat", content=chunks(TWO_MB) if chunked else TWO_MB, headers=JSON)
        assert r.status_code == 413 and "limit" in r.json()["detail"]
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["cache-control"] == "no-store"
        assert c.post("/api/chat", content=CRISIS, headers=JSON).json()["category"] == "urgent"


def test_a_body_at_the_limit_is_accepted_and_one_byte_more_is_not(assistant, tmp_path):
    app = create_app(make_settings(tmp_path, max_body_bytes=4096), assistant)
    message = b'{"message": "What is MS?", "pad": "'
    body = message + b"p" * (4096 - len(message) - 2) + b'"}'
    assert len(body) == 4096
    with TestClient(app) as c:
        assert c.post("/api/chat", content=body, headers=JSON).status_code == 200
        assert c.post("/api/chat", content=body + b" ", headers=JSON).status_code == 413
        assert c.post("/api/chat", content=chunks(body + b" ", 1000), headers=JSON).status_code == 413
        assert c.post("/api/chat", content=chunks(body, 1000), headers=JSON).status_code == 200


# ---- a crisis message with junk in it is still a crisis, and is logged ------------------------------------------
def _check_crisis(reply: dict, assistant) -> None:
    assert reply["category"] == "urgent" and reply["safety"]["urgent"] and reply["safety"]["level"] == "crisis"
    assert "988" in reply["safety"]["urgent"] and reply["answer"].startswith(reply["safety"]["urgent"])
    (turn,) = assistant.logstore.history(reply["session_id"])
    assert turn.id == reply["turn_id"] and turn.category == "urgent"
    assert "\ud800" not in turn.message and "kill myself" in turn.message
    triage = next(step for step in turn.steps if step["step"] == "triage")
    assert triage["level"] == "crisis"


def test_a_crisis_message_with_a_lone_surrogate_gets_the_crisis_guidance(client, assistant):
    r = client.post("/api/chat", content=CRISIS, headers=JSON)
    assert r.status_code == 200, r.text
    _check_crisis(r.json(), assistant)


def test_a_streamed_crisis_message_with_a_lone_surrogate_gets_the_crisis_guidance(client, assistant):
    r = client.post("/api/chat/stream", content=CRISIS, headers=JSON)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    got = events(r.text)
    assert "error" not in [kind for kind, _ in got]
    assert got[0][0] == "delta" and got[-1][0] == "final"
    reply = got[-1][1]
    assert got[0][1]["text"] == reply["safety"]["urgent"]  # the guidance comes first
    _check_crisis(reply, assistant)


def test_a_nul_is_not_stored(client, assistant):
    reply = client.post("/api/chat", content=b'{"message": "Does heat\\u0000 worsen MS fatigue?"}', headers=JSON).json()
    (turn,) = assistant.logstore.history(reply["session_id"])
    assert "\x00" not in turn.message and "heat worsen" in turn.message


# ---- security headers --------------------------------------------------------------------------------------------
def _inline_style_hash() -> str:
    style = re.search(r"<style>(.*?)</style>", (STATIC / "demo.html").read_text(encoding="utf-8"), re.DOTALL).group(1)
    return "'sha256-" + base64.b64encode(hashlib.sha256(style.encode()).digest()).decode() + "'"


def _directives(policy: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in (p.strip() for p in policy.split(";")) if d}


@pytest.mark.parametrize("method, path, body", [
    ("GET", "/", None), ("GET", "/widget.js", None), ("GET", "/widget.css", None), ("GET", "/api/health", None),
    ("POST", "/api/chat", {"message": "What is MS?"}), ("POST", "/api/chat/stream", {"message": "What is MS?"}),
    ("POST", "/api/chat", {"message": ""}), ("POST", "/api/feedback", {"turn_id": "nope", "rating": "up"}),
    ("DELETE", f"/api/sessions/{SESSION}", None), ("GET", "/openapi.json", None), ("GET", "/nowhere", None),
])
def test_every_response_carries_the_security_headers(client, method, path, body):
    r = client.request(method, path, json=body)
    assert r.status_code < 500
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] in {"no-referrer", "strict-origin-when-cross-origin"}
    policy = _directives(r.headers["content-security-policy"])
    assert policy["frame-ancestors"] == ["'none'"] and "'unsafe-inline'" not in str(policy)
    if path.startswith("/api/"):
        assert r.headers["cache-control"] == "no-store"


def test_the_demo_page_policy_lets_the_widget_run_and_nothing_else(client):
    r = client.get("/")
    policy = _directives(r.headers["content-security-policy"])
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]  # /widget.js; the page has no inline script
    assert policy["style-src"] == ["'self'", _inline_style_hash()]  # widget.css, and the page's own <style> by hash
    assert policy["connect-src"] == ["'self'"]  # the widget's API calls
    assert policy["frame-ancestors"] == ["'none'"] and r.headers["x-frame-options"] == "DENY"
    html = r.text
    assert '<script src="/widget.js"' in html and not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"\son\w+=", html) and " style=" not in html  # no inline handlers or style attributes
    widget = client.get("/widget.js").text
    assert "innerHTML" not in widget and "eval(" not in widget and "new Function" not in widget
    assert not re.search(r"setAttribute\(\s*[\"']style", widget) and not re.search(r"\.style\s*=", widget)


@pytest.mark.parametrize("method, path", [("POST", "/api/chat"), ("POST", "/api/chat/stream")])
def test_answers_are_never_cached(client, method, path):
    r = client.request(method, path, json={"message": "Does heat make MS symptoms worse?"})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"


def test_the_console_keeps_its_own_headers(client):
    r = client.get("/admin/login")
    assert r.status_code == 200
    for name, value in CONSOLE_HEADERS:
        assert r.headers[name] == value
    assert client.get("/admin/static/admin.css").headers["content-security-policy"] == dict(CONSOLE_HEADERS)[
        "content-security-policy"]


# ---- the OpenAPI schema states the limits -------------------------------------------------------------------------
def test_the_schema_states_the_message_limit_and_the_session_id_pattern(assistant, tmp_path):
    with TestClient(create_app(make_settings(tmp_path, max_message_chars=50), assistant)) as c:
        schema = c.get("/openapi.json").json()
    request = schema["components"]["schemas"]["ChatRequest"]["properties"]
    assert request["message"]["minLength"] == 1 and request["message"]["maxLength"] == 50  # the app's own limit
    # any string is taken as a session id: one the server did not issue starts a new session
    assert {"type": "string"} in request["session_id"]["anyOf"] and "issue" in request["session_id"]["description"]
    reply = schema["components"]["schemas"]["ChatReply"]["properties"]
    assert reply["session_id"]["pattern"] == "^[A-Za-z0-9_-]{8,64}$"  # the form of every id the server issues
    (param,) = schema["paths"]["/api/sessions/{session_id}"]["delete"]["parameters"]
    assert param["schema"]["pattern"] == "^[A-Za-z0-9_-]{8,64}$"
    feedback = schema["components"]["schemas"]["FeedbackRequest"]["properties"]
    assert feedback["turn_id"]["maxLength"] == 64


# ---- rate limits ----------------------------------------------------------------------------------------------------
@pytest.fixture
def limited(assistant, tmp_path):
    with TestClient(create_app(make_settings(tmp_path, rate_limit="2/minute"), assistant)) as c:
        yield c


def _check_429(r) -> None:
    assert r.status_code == 429 and r.json() == {"error": "Rate limit exceeded: 2 per 1 minute"}
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert r.headers["cache-control"] == "no-store" and r.headers["x-content-type-options"] == "nosniff"


def test_chat_and_stream_share_one_limit(limited):
    first = limited.post("/api/chat", json={"message": "What is MS?"})
    second = limited.post("/api/chat/stream", json={"message": "What is MS?"})
    assert first.status_code == 200 and second.status_code == 200
    _check_429(limited.post("/api/chat", json={"message": "What is MS?"}))
    _check_429(limited.post("/api/chat/stream", json={"message": "What is MS?"}))


def test_feedback_and_delete_are_limited_with_retry_after(limited):
    assert [limited.post("/api/feedback", json={"turn_id": "nope", "rating": "up"}).status_code
            for _ in range(2)] == [404, 404]
    _check_429(limited.post("/api/feedback", json={"turn_id": "nope", "rating": "up"}))
    assert [limited.delete(f"/api/sessions/{SESSION}").status_code for _ in range(2)] == [200, 200]
    _check_429(limited.delete(f"/api/sessions/{SESSION}"))
    assert limited.post("/api/chat", json={"message": "What is MS?"}).status_code == 200  # each has its own count

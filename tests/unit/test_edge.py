"""The HTTP edge's pure parts: text made valid, the body limit as plain ASGI, the demo page's content policy."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json

import pytest

from msassistant.api.edge import BodyLimit, SecurityHeaders
from msassistant.api.widget import demo_policy, inline_hashes
from msassistant.text import valid_text


def run_to_end(coroutine):
    """Runs an ASGI call to its end in a thread of its own: in the whole suite the browser tests' Playwright
    leaves an event loop running in this thread, where asyncio.run() refuses to start."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


# ---- valid_text ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("raw, clean", [
    ("I want to kill myself \ud800", "I want to kill myself \ufffd"),
    ("\udfff tired", "\ufffd tired"),
    ("a\udc00\ud800b", "a\ufffd\ufffdb"),  # a pair in the wrong order is two lone halves
    ("\ud83d\ude00 ok", "\U0001f600 ok"),  # a pair written as halves is its one character
    ("nul\x00 inside\x00", "nul inside"),
    ("\x00\ud800\x00", "\ufffd"),
    ("plain ascii", "plain ascii"),
    ("héllo – ’quotes’ 💊 \u202e\u200b", "héllo – ’quotes’ 💊 \u202e\u200b"),  # valid text is left alone
    ("", ""),
])
def test_valid_text(raw, clean):
    assert valid_text(raw) == clean
    valid_text(raw).encode("utf-8")  # always encodable
    assert valid_text(clean) == clean  # and idempotent


# ---- BodyLimit -------------------------------------------------------------------------------------------------
def run(app, *, headers=(), messages=(), method="POST"):
    """Drive an ASGI app once; the status, the JSON body, and how many messages were read from the client."""
    scope = {"type": "http", "method": method, "path": "/api/chat", "headers": [(k.encode(), v.encode()) for k, v in headers]}
    queue, sent, read = list(messages), [], []

    async def receive():
        read.append(1)
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    run_to_end(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start, json.loads(body) if body else None, len(read)


class Recorder:
    """The app behind the limit: records what it was given, answers 200."""

    def __init__(self):
        self.calls, self.bodies = 0, []

    async def __call__(self, scope, receive, send):
        self.calls += 1
        message = await receive()
        self.bodies.append((message.get("body", b""), message.get("more_body", False)))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


def test_a_declared_length_over_the_limit_is_refused_unread():
    app = Recorder()
    start, body, read = run(BodyLimit(app, 100), headers=[("content-length", "101")],
                            messages=[{"type": "http.request", "body": b"x" * 101}])
    assert start["status"] == 413 and body == {"detail": "the request body is larger than the limit of 100 bytes"}
    assert read == 0 and app.calls == 0  # not a byte read, the app never called
    assert (b"content-type", b"application/json") in start["headers"]


def test_a_chunked_body_is_counted_and_refused_as_it_passes_the_limit():
    app = Recorder()
    chunks = [{"type": "http.request", "body": b"x" * 40, "more_body": True} for _ in range(10)]
    start, _, read = run(BodyLimit(app, 100), messages=chunks)
    assert start["status"] == 413 and app.calls == 0
    assert read == 3  # stopped at the chunk that passed 100 bytes


def test_a_chunked_body_within_the_limit_reaches_the_app_whole():
    app = Recorder()
    chunks = [{"type": "http.request", "body": b"ab", "more_body": True}, {"type": "http.request", "body": b"cd"}]
    start, _, _ = run(BodyLimit(app, 100), messages=chunks)
    assert start["status"] == 200 and app.bodies == [(b"abcd", False)]


@pytest.mark.parametrize("length", ["100", "0"])
def test_a_declared_length_within_the_limit_passes_through(length):
    app = Recorder()
    start, _, _ = run(BodyLimit(app, 100), headers=[("content-length", length)],
                      messages=[{"type": "http.request", "body": b"x" * int(length)}])
    assert start["status"] == 200 and app.bodies == [(b"x" * int(length), False)]


@pytest.mark.parametrize("length", ["abc", "-5", "1e9", ""])
def test_a_content_length_that_is_not_a_number_is_a_400(length):
    app = Recorder()
    start, body, _ = run(BodyLimit(app, 100), headers=[("content-length", length)])
    assert start["status"] == 400 and "Content-Length" in body["detail"] and app.calls == 0


def test_a_client_that_leaves_mid_body_gets_no_response():
    app, sent = Recorder(), []
    scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
    messages = [{"type": "http.request", "body": b"ab", "more_body": True}, {"type": "http.disconnect"}]

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    run_to_end(BodyLimit(app, 100)(scope, receive, send))
    assert sent == [] and app.calls == 0


# ---- security headers ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path, csp, cache", [
    ("/api/chat", "default-src 'none'", "no-store"), ("/widget.js", "default-src 'none'", None),
    ("/docs", "frame-ancestors 'none'", None), ("/admin/login", None, None), ("/admin", None, None),
])
def test_security_headers_by_path(path, csp, cache):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"cache-control", b"no-cache")]})
        await send({"type": "http.response.body", "body": b""})

    sent = []

    async def send(message):
        sent.append(message)

    run_to_end(SecurityHeaders(app)({"type": "http", "path": path, "headers": []}, None, send))
    headers = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
    if csp is None:  # the console sends its own
        assert headers == {"cache-control": "no-cache"}
        return
    assert headers["x-content-type-options"] == "nosniff" and headers["referrer-policy"] == "no-referrer"
    assert headers["content-security-policy"].startswith(csp) and "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["cache-control"] == (cache or "no-cache")


# ---- the demo page's policy ---------------------------------------------------------------------------------------
def _sha(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_inline_blocks_are_hashed_as_a_browser_hashes_them():
    html = ("<style>\r\n  body { color: red }\r\n</style><script src='/widget.js'></script>"
            "<SCRIPT type='module'>go()</SCRIPT><style media=print>p{}</style>")
    assert inline_hashes(html, "style") == [_sha("\n  body { color: red }\n"), _sha("p{}")]
    assert inline_hashes(html, "script") == [_sha("go()")]  # the external script is not an inline block


def test_the_demo_policy_allows_only_this_server_and_the_pages_own_blocks():
    policy = demo_policy("<style>b{}</style><script src='/widget.js'></script>")
    assert f"style-src 'self' {_sha('b{}')};" in policy and "script-src 'self';" in policy
    assert "unsafe" not in policy and "frame-ancestors 'none'" in policy and policy.startswith("default-src 'none'")

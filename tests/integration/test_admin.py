"""The review console at /admin: access control, CSRF, sign-in limits, the review workflow, exports, escaping.

Every test runs on SQLite and on PostgreSQL (see `db_url` in test_postgres.py). The app is the real one,
`create_app(settings, assistant)`, with an assistant over the shared test index and its own log.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
import threading
import time
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from conftest import make_settings
from msassistant.admin import PUBLIC_ROUTES
from msassistant.admin.security import COOKIE, hash_password
from msassistant.api.app import create_app
from msassistant.store import LogStore
from msassistant.store.models import Review, Staff, as_utc, utcnow
from .test_postgres import db_url  # noqa: F401 - the SQLite/PostgreSQL fixture

PASSWORD = "correct horse battery staple"
CITATION = {"id": 1, "source": "cochrane-azathioprine", "title": "Can Azathioprine Help Manage MS Symptoms?",
            "passage": "Azathioprine might help reduce relapses in MS, but it may also increase serious side effects.",
            "score": 0.61, "kind": "plain-language summary", "credibility": "systematic review",
            "chunk_id": "002_5bd68b2e9fd4fbfd.txt#0"}
XSS = '<script>window.__pwned = 1; alert("x")</script><img src=x onerror="window.__pwned=2">'


class Console:
    """The app, its log and a helper to sign in."""

    def __init__(self, app, store: LogStore, settings, home: Path):
        self.app, self.store, self.settings, self.home = app, store, settings, home

    def client(self, base_url: str = "https://testserver") -> TestClient:
        return TestClient(self.app, base_url=base_url)

    def signed_in(self, name: str = "alice", base_url: str = "https://testserver") -> TestClient:
        if self.store.get_staff(name) is None:
            self.store.add_staff(name, hash_password(PASSWORD))
        client = self.client(base_url)
        response = login(client, name, PASSWORD)
        assert response.status_code == 303, response.text
        return client


@pytest.fixture
def console(db_url, assistant, tmp_path):
    from msassistant.pipeline.assistant import Assistant

    settings = make_settings(tmp_path, database_url=db_url)
    store = LogStore(db_url)
    bot = Assistant(settings, embeddings=assistant.embeddings, index=assistant.index, logstore=store, llm=None)
    yield Console(create_app(settings, bot), store, settings, tmp_path)
    store.engine.dispose()


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(client: TestClient, name: str, password: str, next: str = "/admin"):
    token = csrf_of(client.get("/admin/login").text)
    return client.post("/admin/login", data={"username": name, "password": password, "csrf_token": token, "next": next},
                       follow_redirects=False)


def add_turn(store: LogStore, session: str, message: str = "Is fatigue common in MS?", age=timedelta(0), **fields):
    fields.setdefault("answer", "Fatigue is one of the most common symptoms of MS [1].")
    fields.setdefault("category", "answer")
    fields.setdefault("citations", [CITATION])
    fields.setdefault("steps", [{"step": "triage", "level": None, "rule": None},
                                {"step": "compose", "sentences": 1, "citations": [CITATION["chunk_id"]]}])
    return store.record(session, message=message, created_at=utcnow() - age, **fields)


def admin_routes(app) -> list[tuple[str, str]]:
    """Every (method, path) under /admin, as the app really routes them (included routers flattened)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: included routes are plain APIRoutes
        contexts = [(route, route) for route in app.routes]
    else:
        contexts = [(ctx, ctx.original_route) for ctx in iter_route_contexts(app.routes)]
    out = []
    for route, original in contexts:
        path = getattr(route, "path", None) or ""
        if path.startswith("/admin"):
            assert isinstance(original, APIRoute), f"{path} is not a plain route: check its access control by hand"
            out += [(method, path) for method in sorted(set(route.methods) - {"HEAD", "OPTIONS"})]
    assert all(getattr(r, "path", None) is not None for r, _ in contexts), "some routes are hidden from this check"
    return out


def fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "placeholder-0001", path)


# ---- access control -----------------------------------------------------------------------------------------------
def test_every_admin_route_refuses_anonymous_requests(console):
    turn = add_turn(console.store, "anon-check-01", "my secret symptom")
    routes = admin_routes(console.app)
    assert len(routes) >= 12
    assert {r for r in routes if r in PUBLIC_ROUTES} == PUBLIC_ROUTES == {
        ("GET", "/admin/login"), ("POST", "/admin/login"), ("GET", "/admin/static/{name}")}
    client = console.client()
    checked = 0
    for method, path in routes:
        if (method, path) in PUBLIC_ROUTES:
            continue
        url = fill(path).replace("placeholder-0001", turn.session_id if "{session_id}" in path else turn.id)
        response = client.request(method, url, data={"verdict": "approved", "csrf_token": "x"}, follow_redirects=False)
        if path.startswith("/admin/api/"):
            assert response.status_code == 401, (method, path, response.status_code)
        else:
            assert response.status_code == 303, (method, path, response.status_code)
            assert urlparse(response.headers["location"]).path == "/admin/login", (method, path)
        assert "my secret symptom" not in response.text
        checked += 1
    assert checked == len(routes) - len(PUBLIC_ROUTES)
    with console.store.sessions() as db:
        assert db.query(Review).count() == 0


def test_public_routes_show_no_data(console):
    add_turn(console.store, "public-check1", "my secret symptom")
    client = console.client()
    page = client.get("/admin/login")
    assert page.status_code == 200 and "my secret symptom" not in page.text
    css = client.get("/admin/static/admin.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    for name in ("secret_key", "..%2Fsecret_key", "..%2F..%2Fdata%2Fsecret_key", "base.html"):
        assert client.get(f"/admin/static/{name}").status_code == 404


def test_forged_stale_and_removed_accounts_cookies_are_refused(console):
    client = console.signed_in("alice")
    assert client.get("/admin").status_code == 200
    good = client.cookies.get(COOKIE)
    payload, ts, sig = good.split(".")
    forged = TestClient(console.app, base_url="https://testserver")
    forged.cookies.set(COOKIE, payload + "." + ts + "." + sig[:-2] + ("AA" if sig[-2:] != "AA" else "BB"), path="/admin")
    assert forged.get("/admin/api/stats").status_code == 401
    # a cookie signed with another secret
    other = create_app(make_settings(console.home, database_url=console.settings.database_url, secret_key="x" * 40),
                       console.app.state.assistant)
    stranger = TestClient(other, base_url="https://testserver")
    stranger.cookies.set(COOKIE, good, path="/admin")
    assert stranger.get("/admin/api/stats").status_code == 401
    # removing the account ends its sessions at once
    console.store.remove_staff("alice")
    assert client.get("/admin/api/stats").status_code == 401
    assert client.get("/admin", follow_redirects=False).status_code == 303


def test_sign_out_ends_the_session_everywhere(console):
    client = console.signed_in("alice")
    cookie = client.cookies.get(COOKIE)
    home = client.get("/admin")
    response = client.post("/admin/logout", data={"csrf_token": csrf_of(home.text)}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/admin/login"
    replay = console.client()
    replay.cookies.set(COOKIE, cookie, path="/admin")
    assert replay.get("/admin/api/stats").status_code == 401


def test_sign_in_redirects_only_within_the_console(console):
    console.store.add_staff("alice", hash_password(PASSWORD))
    for target, expected in [("/admin/turns?unreviewed=1", "/admin/turns?unreviewed=1"), ("https://evil.example/", "/admin"),
                             ("//evil.example/admin", "/admin"), ("/api/chat", "/admin"), ("/admin\\@evil", "/admin")]:
        response = login(console.client(), "alice", PASSWORD, next=target)
        assert response.status_code == 303 and response.headers["location"] == expected, target
    anonymous = console.client().get("/admin/turns?negative=1", follow_redirects=False)
    assert parse_qs(urlparse(anonymous.headers["location"]).query) == {"next": ["/admin/turns?negative=1"]}


def test_cookie_is_httponly_samesite_and_secure_off_localhost(console):
    console.store.add_staff("alice", hash_password(PASSWORD))
    remote = console.client("https://clinic.example.org")
    cookie = remote.get("/admin/login").headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" in cookie and "Path=/admin" in cookie
    signed = login(remote, "alice", PASSWORD).headers["set-cookie"]
    assert "HttpOnly" in signed and "SameSite=strict" in signed and "Secure" in signed
    local = console.client("http://127.0.0.1:8000").get("/admin/login").headers["set-cookie"]
    assert "HttpOnly" in local and "Secure" not in local
    assert "Secure" not in console.client("http://localhost:8000").get("/admin/login").headers["set-cookie"]
    forced = create_app(make_settings(console.home, database_url=console.settings.database_url, cookie_secure=True),
                        console.app.state.assistant)
    assert "Secure" in TestClient(forced, base_url="http://localhost").get("/admin/login").headers["set-cookie"]


def test_signing_secret_is_generated_once_with_owner_only_permissions(console):
    path = console.settings.data_path / "secret_key"
    assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600
    secret = path.read_text()
    client = console.signed_in("alice")
    again = create_app(console.settings, console.app.state.assistant)  # a restart, or a second worker
    assert path.read_text() == secret
    second = TestClient(again, base_url="https://testserver")
    second.cookies.set(COOKIE, client.cookies.get(COOKIE), path="/admin")
    assert second.get("/admin/api/stats").status_code == 200


def test_security_headers(console):
    client = console.signed_in()
    for url in ("/admin", "/admin/login", "/admin/api/stats"):
        headers = client.get(url).headers
        assert "script-src" not in headers["content-security-policy"]  # default-src 'none': no scripts at all
        assert "default-src 'none'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY" and headers["cache-control"] == "no-store"
    console_policy = client.get("/admin").headers["content-security-policy"]
    assert client.get("/api/health").headers["content-security-policy"] != console_policy  # the API has its own


# ---- CSRF --------------------------------------------------------------------------------------------------------------
def test_login_form_needs_its_csrf_token(console):
    console.store.add_staff("alice", hash_password(PASSWORD))
    client = console.client()
    client.get("/admin/login")
    data = {"username": "alice", "password": PASSWORD}
    assert client.post("/admin/login", data=data, follow_redirects=False).status_code == 403
    assert client.post("/admin/login", data={**data, "csrf_token": "wrong"}, follow_redirects=False).status_code == 403
    # a token from another browser's session is worth nothing here
    other = console.client()
    foreign = csrf_of(other.get("/admin/login").text)
    assert client.post("/admin/login", data={**data, "csrf_token": foreign}, follow_redirects=False).status_code == 403
    # no cookie at all
    fresh = console.client()
    assert fresh.post("/admin/login", data={**data, "csrf_token": foreign}, follow_redirects=False).status_code == 403
    assert COOKIE not in client.cookies or "alice" not in client.get("/admin", follow_redirects=False).text


def test_every_form_post_checks_the_csrf_token(console):
    turn = add_turn(console.store, "csrf-check-01")
    client = console.signed_in("alice")
    token = csrf_of(client.get("/admin").text)
    other = console.signed_in("bob")
    other_token = csrf_of(other.get("/admin").text)
    posts = [(m, p) for m, p in admin_routes(console.app) if m == "POST" and (m, p) not in PUBLIC_ROUTES]
    assert ("POST", "/admin/logout") in posts and ("POST", "/admin/turns/{turn_id}/review") in posts
    for _, path in posts:
        url = fill(path).replace("placeholder-0001", turn.id)
        for bad in ({}, {"csrf_token": ""}, {"csrf_token": "wrong"}, {"csrf_token": other_token}, {"csrf_token": token[:-1]}):
            response = client.post(url, data={"verdict": "approved", **bad}, follow_redirects=False)
            assert response.status_code == 403, (path, bad)
        json_post = client.post(url, json={"verdict": "approved", "csrf_token": token}, follow_redirects=False)
        assert json_post.status_code == 403, path
    with console.store.sessions() as db:
        assert db.query(Review).count() == 0
    assert client.get("/admin/api/stats").status_code == 200  # still signed in: no logout happened


# ---- sign-in limits -----------------------------------------------------------------------------------------------------
def test_sign_in_attempts_are_rate_limited_per_address(console):
    console.store.add_staff("alice", hash_password(PASSWORD))
    client = console.client()
    token = csrf_of(client.get("/admin/login").text)
    statuses = []
    for i in range(6):
        response = client.post("/admin/login", data={"username": f"guess{i}", "password": "wrong password",
                                                     "csrf_token": token}, follow_redirects=False)
        statuses.append(response.status_code)
    assert statuses == [401] * 5 + [429]
    assert "Too many sign-in attempts" in response.text and response.headers["retry-after"] == "60"
    right = client.post("/admin/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token},
                        follow_redirects=False)
    assert right.status_code == 429
    # another app (another server) keeps its own count
    assert login(TestClient(create_app(console.settings, console.app.state.assistant), base_url="https://testserver"),
                 "alice", PASSWORD).status_code == 303


def test_wrong_passwords_lock_the_account(console, tmp_path):
    settings = make_settings(console.home, database_url=console.settings.database_url, admin_login_limit="100/minute")
    app = create_app(settings, console.app.state.assistant)
    console.store.add_staff("carol", hash_password(PASSWORD))
    client = TestClient(app, base_url="https://testserver")
    for _ in range(5):
        assert login(client, "carol", "not the password").status_code == 401
    assert as_utc(console.store.get_staff("carol").locked_until) > utcnow()
    locked = login(client, "carol", PASSWORD)
    assert locked.status_code == 401 and "locked" in locked.text  # even the right password, for a while
    with console.store.sessions.begin() as db:
        db.query(Staff).filter(Staff.username == "carol").update({"locked_until": utcnow() - timedelta(seconds=1)})
    assert login(client, "carol", PASSWORD).status_code == 303
    assert console.store.get_staff("carol").failed_logins == 0


def test_unknown_names_and_wrong_passwords_look_the_same(console):
    console.store.add_staff("alice", hash_password(PASSWORD))
    a = login(console.client(), "alice", "nope nope nope")
    b = login(console.client(), "mallory", "nope nope nope")
    assert a.status_code == b.status_code == 401
    strip = lambda html: re.sub(r'value="[^"]*"', "", html)  # noqa: E731
    assert strip(a.text) == strip(b.text)


# ---- the review workflow ------------------------------------------------------------------------------------------------
@pytest.fixture
def backlog(console):
    s = console.store
    turns = {
        "plain": add_turn(s, "wf-plain-0001", "What is MS?", age=timedelta(days=2)),
        "urgent": add_turn(s, "wf-urgent-001", "I suddenly lost vision in my left eye", age=timedelta(days=1),
                           category="urgent", triage_level="urgent", triage_rule="sudden_vision_loss"),
        "negative": add_turn(s, "wf-negative-1", "Is heat bad for my MS?", age=timedelta(hours=3)),
        "no_coverage": add_turn(s, "wf-nocover-01", "Does stem cell tourism work?", category="no_coverage", citations=[]),
    }
    s.add_feedback(turns["negative"].id, "down", "that did not answer my question")
    return turns


def test_backlog_first_and_review_recorded_with_who_and_when(console, backlog):
    backlog = {**backlog, "crisis": add_turn(console.store, "wf-crisis-001", "I can't go on like this",
                                             age=timedelta(days=3), category="urgent", triage_level="crisis",
                                             triage_rule="learned:crisis", citations=[])}
    client = console.signed_in("alice")
    page = client.get("/admin/turns")
    assert page.status_code == 200
    order = [backlog[k].id for k in ("crisis", "urgent", "negative", "no_coverage", "plain")]
    positions = [page.text.index(f"#turn-{turn_id}") for turn_id in order]
    assert positions == sorted(positions), "by severity: crisis, urgent, negative feedback, other flags, the rest"
    assert "urgent: sudden vision loss" in page.text and "crisis (learned net)" in page.text
    assert [t["turn_id"] for t in client.get("/admin/api/turns").json()["turns"]] == order

    conversation = client.get(f"/admin/conversations/{backlog['urgent'].session_id}")
    assert "Not reviewed yet" in conversation.text
    before = utcnow()
    response = client.post(f"/admin/turns/{backlog['urgent'].id}/review", follow_redirects=False, data={
        "csrf_token": csrf_of(conversation.text), "verdict": "needs_correction", "note": "Say: see a doctor today.",
        "corrected_answer": "Sudden loss of vision needs a same-day assessment."})
    assert response.status_code == 303
    assert response.headers["location"].endswith(f"#turn-{backlog['urgent'].id}")
    shown = client.get(response.headers["location"])
    assert "Review saved." in shown.text and "Needs correction" in shown.text and "alice" in shown.text
    assert f'#turn-{backlog["crisis"].id}">Next flagged turn</a>' in shown.text  # the most severe one waiting
    assert "Sudden loss of vision needs a same-day assessment." in shown.text

    [row] = console.store.conversation(backlog["urgent"].session_id)
    review = row.review
    assert (review.reviewer, review.verdict, review.note) == ("alice", "needs_correction", "Say: see a doctor today.")
    assert before - timedelta(seconds=5) <= as_utc(review.created_at) <= utcnow()

    unreviewed = client.get("/admin/api/turns", params={"unreviewed": "1"}).json()
    assert backlog["urgent"].id not in [t["turn_id"] for t in unreviewed["turns"]] and unreviewed["total"] == 4
    after = [t["turn_id"] for t in client.get("/admin/api/turns").json()["turns"]]
    assert after[-1] == backlog["urgent"].id, "a reviewed turn leaves the backlog"
    assert client.get("/admin/api/turns", params={"verdict": "needs_correction"}).json()["total"] == 1
    stats = client.get("/admin/api/stats").json()
    assert stats["backlog"] == {"unreviewed": 4, "flagged_unreviewed": 3}
    assert stats["verdicts"]["needs_correction"] == 1


def test_the_console_runs_on_a_store_alone_without_the_embedding_model(db_url, tmp_path, monkeypatch):
    """create_app with a store and no assistant: staff sign in and review a turn; no model is built or loaded."""
    from msassistant.index.embeddings import SentenceTransformerEmbeddings

    def no_model(*args, **kwargs):
        raise AssertionError("the console built or loaded the embedding model")

    monkeypatch.setattr(SentenceTransformerEmbeddings, "__init__", no_model)
    monkeypatch.setattr(SentenceTransformerEmbeddings, "_load", no_model)
    store = LogStore(db_url)
    turn = add_turn(store, "store-only-001", "Is heat bad for my MS?")
    store.add_staff("alice", hash_password(PASSWORD))
    app = create_app(make_settings(tmp_path, database_url=db_url), store=store, load_assistant=False)
    with TestClient(app, base_url="https://testserver") as client:  # the app starts (its lifespan runs)
        assert app.state.assistant is None and app.state.store is store
        assert login(client, "alice", PASSWORD).status_code == 303
        conversation = client.get(f"/admin/conversations/{turn.session_id}")
        assert conversation.status_code == 200 and "Is heat bad for my MS?" in conversation.text
        saved = client.post(f"/admin/turns/{turn.id}/review", follow_redirects=False, data={
            "csrf_token": csrf_of(conversation.text), "verdict": "approved", "note": "Clear and sourced."})
        assert saved.status_code == 303
        assert client.get("/admin/api/stats").json()["verdicts"]["approved"] == 1
        assert client.get("/api/health").status_code == 503  # no assistant in this app
    [row] = store.conversation(turn.session_id)
    assert (row.review.reviewer, row.review.verdict, row.review.note) == ("alice", "approved", "Clear and sourced.")
    store.engine.dispose()


def test_review_needs_a_known_verdict_and_turn(console, backlog):
    client = console.signed_in("alice")
    token = csrf_of(client.get("/admin").text)
    bad = client.post(f"/admin/turns/{backlog['plain'].id}/review", data={"csrf_token": token, "verdict": "great"})
    assert bad.status_code == 400
    missing = client.post("/admin/turns/nope/review", data={"csrf_token": token, "verdict": "approved"})
    assert missing.status_code == 404
    assert client.get("/admin/conversations/no-such-session").status_code == 404
    assert client.get("/admin/api/conversations/no-such-session").status_code == 404
    with console.store.sessions() as db:
        assert db.query(Review).count() == 0


def test_conversation_shows_citations_passages_and_steps(console):
    s = console.store
    session = "conv-view-0001"
    add_turn(s, session, "What is azathioprine?", age=timedelta(minutes=2))
    second = add_turn(s, session, "And its side effects?", resolved_query="azathioprine side effects",
                      steps=[{"step": "resolve", "follow_up": True, "carried": "azathioprine"},
                             {"step": "retrieve", "mode": "hybrid", "top_similarity": 0.59}],
                      llm_fallback="model unavailable: timeout")
    client = console.signed_in()
    page = client.get(f"/admin/conversations/{session}").text
    assert page.index("What is azathioprine?") < page.index("And its side effects?")
    assert "Azathioprine might help reduce relapses in MS, but it may also increase serious side effects." in page
    assert "002_5bd68b2e9fd4fbfd.txt#0" in page and "systematic review" in page and "cochrane-azathioprine" in page
    assert "&#34;follow_up&#34;: true" in page and "&#34;top_similarity&#34;: 0.59" in page
    assert "model unavailable: timeout" in page and "azathioprine side effects" in page
    api = client.get(f"/admin/api/conversations/{session}").json()
    assert [t["seq"] for t in api["turns"]] == [1, 2]
    assert api["turns"][1]["steps"][0] == {"step": "resolve", "follow_up": True, "carried": "azathioprine"}
    assert api["turns"][1]["citations"] == [CITATION] and api["turns"][1]["turn_id"] == second.id


def test_list_filters(console, backlog):
    client = console.signed_in()

    def ids(**params) -> set[str]:
        page = client.get("/admin/turns", params=params)
        assert page.status_code == 200
        return {t.id for t in backlog.values() if f"#turn-{t.id}" in page.text}

    assert ids() == {t.id for t in backlog.values()}
    assert ids(urgent="1") == {backlog["urgent"].id}
    assert ids(negative="on") == {backlog["negative"].id}
    assert ids(category="no_coverage") == {backlog["no_coverage"].id}
    assert ids(q="VISION") == {backlog["urgent"].id}
    assert ids(flagged="1") == {backlog[k].id for k in ("urgent", "negative", "no_coverage")}
    today = date.today().isoformat()
    two_days_ago = (utcnow() - timedelta(days=2)).date().isoformat()
    assert backlog["plain"].id not in ids(date_from=(utcnow() - timedelta(days=1)).date().isoformat())
    assert ids(date_from=two_days_ago, date_to=two_days_ago) == {backlog["plain"].id}
    assert backlog["no_coverage"].id in ids(date_from=today, date_to=today) or utcnow().date().isoformat() != today
    bad = client.get("/admin/turns", params={"date_from": "yesterday", "category": "nonsense"})
    assert bad.status_code == 200 and "use the form YYYY-MM-DD" in bad.text
    assert client.get("/admin/api/turns", params={"date_from": "yesterday"}).status_code == 400


@pytest.mark.parametrize("page", ["9" * 18, "9" * 30, str(2**63), "100001"])
def test_a_page_past_any_offset_sql_can_take_is_an_empty_page(console, backlog, page):
    client = console.signed_in()
    api = client.get("/admin/api/turns", params={"page": page, "per_page": "500"})
    assert api.status_code == 200
    assert api.json() == {"total": len(backlog), "page": 100_000, "per_page": 500, "turns": []}
    html = client.get("/admin/turns", params={"page": page})
    assert html.status_code == 200 and not any(f"#turn-{t.id}" in html.text for t in backlog.values())
    assert client.get("/admin/api/turns", params={"page": "9" * 5000}).status_code == 422  # not a number it reads


# ---- exports ---------------------------------------------------------------------------------------------------------------
def test_csv_export_with_filters(console, backlog):
    s = console.store
    s.add_review(backlog["urgent"].id, "alice", "approved", "fine")
    formula = add_turn(s, "wf-formula-01", '=HYPERLINK("http://evil.example","click") is this ok?', category="answer")
    client = console.signed_in()
    everything = client.get("/admin/api/export.csv")
    assert everything.status_code == 200 and everything.headers["content-type"].startswith("text/csv")
    assert "attachment" in everything.headers["content-disposition"]
    assert everything.content.startswith("\ufeff".encode())  # a byte-order mark: spreadsheets read UTF-8
    rows = list(csv.DictReader(io.StringIO(everything.content.decode("utf-8-sig"))))
    assert len(rows) == 5
    by_id = {r["turn_id"]: r for r in rows}
    urgent = by_id[backlog["urgent"].id]
    assert (urgent["review_verdict"], urgent["reviewer"], urgent["review_note"]) == ("approved", "alice", "fine")
    assert urgent["triage_level"] == "urgent" and urgent["message"] == "I suddenly lost vision in my left eye"
    assert "002_5bd68b2e9fd4fbfd.txt#0" in urgent["citations"]
    assert "[1] Can Azathioprine Help Manage MS Symptoms?" in urgent["citations"]  # named by title
    negative = by_id[backlog["negative"].id]
    assert (negative["feedback_down"], negative["feedback_comments"]) == ("1", "that did not answer my question")
    assert by_id[formula.id]["message"].startswith("'=HYPERLINK")  # a spreadsheet shows it, does not run it

    def read(**params):
        return list(csv.DictReader(io.StringIO(client.get("/admin/api/export.csv", params=params).content.decode("utf-8-sig"))))

    negative_only = read(negative="1")
    assert [r["turn_id"] for r in negative_only] == [backlog["negative"].id]
    unreviewed = read(unreviewed="1", category="answer")
    assert {r["turn_id"] for r in unreviewed} == {backlog["negative"].id, formula.id, backlog["plain"].id}
    empty = client.get("/admin/api/export.csv", params={"category": "out_of_scope"}).content.decode("utf-8-sig")
    assert empty.strip().split(",")[0] == "turn_id" and len(empty.strip().splitlines()) == 1


def test_jsonl_export_with_filters(console, backlog):
    s = console.store
    s.add_review(backlog["urgent"].id, "bob", "unsafe", "missed the red flag")
    client = console.signed_in()
    response = client.get("/admin/api/export.jsonl", params={"urgent": "1"})
    assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert len(lines) == 1
    record = lines[0]
    assert record["turn_id"] == backlog["urgent"].id and record["triage_rule"] == "sudden_vision_loss"
    assert record["citations"] == [CITATION] and record["steps"][0]["step"] == "triage"
    assert record["review"]["verdict"] == "unsafe" and record["reviews"][0]["reviewer"] == "bob"
    all_lines = client.get("/admin/api/export.jsonl").text.splitlines()
    assert [json.loads(x)["turn_id"] for x in all_lines] == [t["turn_id"] for t in client.get("/admin/api/turns").json()["turns"]]
    negative = [json.loads(x) for x in client.get("/admin/api/export.jsonl?negative=1").text.splitlines()]
    assert negative[0]["feedback_entries"][0]["comment"] == "that did not answer my question"
    assert client.get("/admin/api/export.jsonl", params={"verdict": "unknown"}).status_code == 400
    # the list page links to the exports with its own filters
    page = client.get("/admin/turns", params={"negative": "1", "q": "heat"}).text
    assert 'href="/admin/api/export.csv?negative=1&amp;q=heat"' in page
    assert 'href="/admin/api/export.jsonl?negative=1&amp;q=heat"' in page


# ---- dashboard ------------------------------------------------------------------------------------------------------------------
def test_dashboard_numbers_and_chart(console, backlog):
    console.store.add_feedback(backlog["plain"].id, "up", None)
    console.store.add_feedback(backlog["plain"].id, "up", None)
    client = console.signed_in()
    page = client.get("/admin").text
    assert "<svg" in page and 'role="img"' in page and "<script" not in page.lower()
    assert page.count('class="bar"') == 30
    assert "67%" in page  # 2 up, 1 down
    assert "helpful: 2 thumbs up, 1 thumbs down" in page
    assert re.search(r"Review backlog</h2>\s*<p class=\"big\">4</p>", page)
    assert f"{utcnow().date().isoformat()}: 1 turns, 0 urgent" in page or "1 turns" in page
    stats = client.get("/admin/api/stats").json()
    assert stats["urgent"] == 1 and stats["turns"] == 4


# ---- escaping ---------------------------------------------------------------------------------------------------------------
def test_logged_markup_stays_inert(console):
    s = console.store
    turn = add_turn(s, "xss-session-01", XSS, answer="Answer " + XSS, resolved_query=XSS, topic=XSS,
                    citations=[{**CITATION, "title": XSS, "passage": XSS, "source": XSS}],
                    steps=[{"step": XSS, "note": XSS}], llm_fallback=XSS, triage_level="urgent",
                    triage_rule="<b>rule</b>")
    s.add_feedback(turn.id, "down", XSS)
    s.add_review(turn.id, "alice", "unsafe", XSS, XSS)
    client = console.signed_in("alice")
    pages = [client.get(url).text for url in ("/admin", "/admin/turns", f"/admin/turns?q={XSS}",
                                              "/admin/conversations/xss-session-01")]
    for html in pages:
        assert "<script" not in html.lower() and "<img" not in html.lower() and "onerror=\"" not in html.lower()
    conversation = pages[-1]
    assert conversation.count("&lt;script&gt;window.__pwned = 1;") >= 8
    assert "&lt;b&gt;rule&lt;/b&gt;" in conversation


def test_forms_are_labelled(console, backlog):
    """Every visible form field has a label (accessible without a mouse or sight)."""

    class Fields(HTMLParser):
        def __init__(self):
            super().__init__()
            self.fields, self.labels_for, self.open_labels, self.wrapped = [], set(), 0, 0

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "label":
                self.open_labels += 1
                if "for" in a:
                    self.labels_for.add(a["for"])
            if tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit"):
                self.fields.append((a.get("id"), a.get("name"), self.open_labels > 0))

        def handle_endtag(self, tag):
            if tag == "label":
                self.open_labels -= 1

    client = console.signed_in()
    for url in ("/admin/login", "/admin/turns", f"/admin/conversations/{backlog['urgent'].session_id}", "/admin"):
        parser = Fields()
        parser.feed(client.get(url).text if url != "/admin/login" else console.client().get(url).text)
        for field_id, name, wrapped in parser.fields:
            assert wrapped or field_id in parser.labels_for, (url, name)
        html = client.get(url).text
        assert '<main id="main"' in html and 'lang="en"' in html and "Skip to main content" in html


# ---- a person's own controls, through the public API ---------------------------------------------------------------------
def test_chat_is_logged_redacted_and_delete_my_conversation_removes_reviews(console):
    api = console.client()
    message = ("My husband (DOB 04/12/1961, call me on 07700 900123) takes azathioprine. "
               "What are its side effects?")
    reply = api.post("/api/chat", json={"message": message})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    session = body["session_id"]
    api.post("/api/feedback", json={"turn_id": body["turn_id"], "rating": "down", "comment": "email me: a@b.org"})
    console.store.add_review(body["turn_id"], "alice", "approved", "ok")

    staff = console.signed_in("alice")
    page = staff.get(f"/admin/conversations/{session}").text
    assert "DOB [dob], call me on [phone]" in page and "07700" not in page and "1961" not in page
    assert "email me: [email]" in page and "a@b.org" not in page

    deleted = api.delete(f"/api/sessions/{session}")
    assert deleted.status_code == 200 and deleted.json() == {"deleted": 1}
    assert staff.get(f"/admin/conversations/{session}").status_code == 404
    with console.store.sessions() as db:
        assert db.query(Review).count() == 0
    assert staff.get("/admin/api/turns").json()["total"] == 0


# ---- a real browser ------------------------------------------------------------------------------------------------------
CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.browser
def test_console_in_a_real_browser(console, browser):
    """Sign in with the keyboard, open a conversation holding markup, check nothing ran."""
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium (run: bash scripts/browser-deps.sh)")
    import uvicorn
    from conftest import free_port

    add_turn(console.store, "browser-xss-01", XSS, answer="Answer " + XSS,
             citations=[{**CITATION, "title": XSS, "passage": XSS}])
    console.store.add_staff("alice", hash_password(PASSWORD))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(console.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    base = f"http://127.0.0.1:{port}"
    try:
        context = browser.new_context()
        page = context.new_page()
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(base + "/admin/conversations/browser-xss-01")
        assert page.url.startswith(base + "/admin/login")
        page.keyboard.press("Tab")  # the skip link comes first
        assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to main content"
        page.locator("#username").focus()
        page.keyboard.type("alice")
        page.keyboard.press("Tab")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(base + "/admin/conversations/browser-xss-01")
        message = page.locator(".message").first
        assert message.inner_text().startswith("<script>window.__pwned = 1;")
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert page.locator("script").count() == 0 and page.locator("article img").count() == 0
        assert dialogs == []
        # the review form works by keyboard alone
        page.locator("input[name=verdict][value=approved]").first.focus()
        page.keyboard.press("Space")
        page.locator("textarea[name=note]").first.focus()
        page.keyboard.type("checked with the keyboard")
        page.locator("form.review button[type=submit]").first.focus()
        page.keyboard.press("Enter")
        page.wait_for_load_state()
        assert page.locator("[role=status]").first.inner_text().startswith("Review saved.")
        try:
            from browser.support import run_axe
        except ImportError:  # pragma: no cover - the widget's helpers moved
            run_axe = None
        if run_axe is not None and (Path(__file__).parents[2] / "node_modules" / "axe-core").exists():
            # axe is injected as a script, which the console's CSP forbids: audit in a CSP-bypassing context
            audit = browser.new_context(bypass_csp=True, storage_state=context.storage_state()).new_page()
            for url in ("/admin", "/admin/turns", "/admin/conversations/browser-xss-01"):
                audit.goto(base + url)
                serious = [v for v in run_axe(audit)["violations"] if v["impact"] in ("moderate", "serious", "critical")]
                assert serious == [], (url, serious)
        context.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_secret_from_the_environment_and_a_read_only_data_folder(tmp_path, caplog):
    from msassistant.admin.security import load_secret

    settings = make_settings(tmp_path, secret_key="s" * 40)
    assert load_secret(settings) == "s" * 40 and not (settings.data_path / "secret_key").exists()
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the data folder should be")
    settings = make_settings(tmp_path, data_dir=blocked / "data")
    assert len(load_secret(settings)) >= 32
    assert "MSA_SECRET_KEY" in caplog.text

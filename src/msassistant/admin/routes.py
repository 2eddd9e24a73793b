"""The review console at /admin: sign-in, dashboard, the turn list, conversations, reviews and exports.

Pages are server-rendered Jinja2 templates (autoescaped, no scripts). Every route except the sign-in
form and the stylesheet needs a signed-in staff member: pages redirect to /admin/login, the JSON API
under /admin/api answers 401. Every POST carries the session's CSRF token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response, StreamingResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import MutableHeaders

from ..api.deps import StoreDep
from ..api.limits import RateLimit, TooManyRequests, too_many_requests
from ..config import Settings
from ..store import LogStore, TurnFilter
from ..store.models import CATEGORIES, VERDICTS, as_utc, utcnow
from . import charts
from .export import csv_lines, download_name, jsonl_lines, turn_json
from .filters import filter_query, parse_filters
from .steps import TurnSteps
from .security import AdminSession, Sessions, load_secret, needs_rehash, new_csrf, same_token, verify_password, hash_password

WEB = Path(__file__).resolve().parent.parent / "web"
TEMPLATES = WEB / "templates" / "admin"
STATIC = WEB / "admin-static"
STATIC_FILES = {"admin.css": "text/css; charset=utf-8"}
PAGE_SIZE = 50
MAX_PAGE = 100_000  # a page past this is shown as this one: the row offset stays within what SQL can take
# the only console routes open to anonymous requests (tests enumerate app.routes against this set)
PUBLIC_ROUTES = {("GET", "/admin/login"), ("POST", "/admin/login"), ("GET", "/admin/static/{name}")}
SECURITY_HEADERS = [
    ("content-security-policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                                "frame-ancestors 'none'; base-uri 'none'"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-store"),
]
VERDICT_LABELS = {"approved": "Approved", "needs_correction": "Needs correction", "unsafe": "Unsafe"}
CATEGORY_LABELS = {"answer": "Answer", "no_coverage": "No coverage", "out_of_scope": "Out of scope", "urgent": "Urgent"}


@dataclass
class Console:
    settings: Settings
    sessions: Sessions
    env: Environment
    login_limit: RateLimit  # MSA_ADMIN_LOGIN_LIMIT, counted by this app alone


class PageError(Exception):
    def __init__(self, status: int, title: str, message: str):
        self.status, self.title, self.message = status, title, message


def console(request: Request) -> Console:
    return request.app.state.admin


def render(request: Request, template: str, status: int = 200, **context) -> HTMLResponse:
    session: AdminSession | None = getattr(request.state, "admin_session", None)
    context.setdefault("user", getattr(request.state, "admin_user", None))
    context.setdefault("csrf", session.csrf if session else "")
    html = console(request).env.get_template(template).render(
        verdict_labels=VERDICT_LABELS, category_labels=CATEGORY_LABELS, **context)
    return HTMLResponse(html, status_code=status)


# ---- authentication and CSRF ------------------------------------------------------------------------
def _signed_in(request: Request, logs: LogStore) -> str | None:
    session = console(request).sessions.read(request)
    if session is None or not session.user:
        return None
    staff = logs.get_staff(session.user)
    if staff is None or staff.session_epoch != session.epoch:
        return None
    request.state.admin_session = session
    request.state.admin_user = staff.username
    return staff.username


def require_page(request: Request, logs: StoreDep) -> str:
    user = _signed_in(request, logs)
    if user is None:
        target = "/admin/login"
        if request.method == "GET":
            path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            target += "?" + urlencode({"next": path})
        raise HTTPException(status_code=303, detail="sign in first", headers={"Location": target})
    return user


def require_api(request: Request, logs: StoreDep) -> str:
    user = _signed_in(request, logs)
    if user is None:
        raise HTTPException(status_code=401, detail="sign in to the console at /admin/login first")
    return user


async def check_csrf(request: Request) -> None:
    form = await request.form()
    session = getattr(request.state, "admin_session", None) or console(request).sessions.read(request)
    if session is None or not same_token(session.csrf, form.get("csrf_token")):
        raise PageError(403, "Form expired", "This form has expired or did not come from this console. "
                                             "Go back, reload the page and try again.")


StaffPage = Annotated[str, Depends(require_page)]

public = APIRouter(prefix="/admin", include_in_schema=False)
pages = APIRouter(prefix="/admin", include_in_schema=False, dependencies=[Depends(require_page)])
api = APIRouter(prefix="/admin/api", tags=["admin"], dependencies=[Depends(require_api)])


def _safe_next(value: str | None) -> str:
    """Only console paths: no other host, no scheme-relative //."""
    if value and value.startswith("/admin") and not value.startswith("//") and "\\" not in value and "\n" not in value:
        return value
    return "/admin"


# ---- sign-in ----------------------------------------------------------------------------------------
@public.get("/login")
def login_form(request: Request, logs: StoreDep, next: str | None = None) -> Response:
    if _signed_in(request, logs):
        return RedirectResponse(_safe_next(next), status_code=303)
    c = console(request)
    session = c.sessions.read(request) or AdminSession(csrf=new_csrf())
    request.state.admin_session = session
    response = render(request, "login.html", next=_safe_next(next), error=None, username="")
    c.sessions.write(request, response, AdminSession(csrf=session.csrf))
    return response


@public.post("/login", dependencies=[Depends(check_csrf)])
def login(request: Request, logs: StoreDep, username: Annotated[str, Form(max_length=200)] = "",
          password: Annotated[str, Form(max_length=1000)] = "", next: Annotated[str, Form(max_length=2000)] = "/admin") -> Response:
    c = console(request)
    c.login_limit.hit(request, "login")
    s = c.settings
    username = username.strip()
    staff = logs.get_staff(username) if username else None
    locked = staff is not None and staff.locked_until is not None and as_utc(staff.locked_until) > utcnow()
    ok = verify_password(staff.password_hash if staff is not None else None, password)
    if staff is None or locked or not ok:
        if staff is not None and not locked:
            logs.login_failed(staff.username, s.admin_lockout_attempts, timedelta(minutes=s.admin_lockout_minutes))
        session = c.sessions.read(request) or AdminSession(csrf=new_csrf())
        request.state.admin_session = session
        return render(request, "login.html", status=401, next=_safe_next(next), username=username,
                      error="Wrong name or password, or the account is locked for a while after too many attempts.")
    logs.login_succeeded(staff.username, hash_password(password) if needs_rehash(staff.password_hash) else None)
    response = RedirectResponse(_safe_next(next), status_code=303)
    # a fresh token on sign-in: a token seen before signing in is worth nothing afterwards
    c.sessions.write(request, response, AdminSession(csrf=new_csrf(), user=staff.username, epoch=staff.session_epoch))
    return response


@pages.post("/logout", dependencies=[Depends(check_csrf)])
def logout(request: Request, user: StaffPage, logs: StoreDep) -> Response:
    logs.end_sessions(user)  # every cookie of this account stops working
    response = RedirectResponse("/admin/login", status_code=303)
    console(request).sessions.clear(request, response)
    return response


@public.get("/static/{name}")
def static(name: str) -> FileResponse:
    if name not in STATIC_FILES or not (STATIC / name).is_file():
        raise HTTPException(status_code=404, detail="not found")
    return FileResponse(STATIC / name, media_type=STATIC_FILES[name], headers={"Cache-Control": "no-cache"})


def _api_filters(request: Request) -> TurnFilter:
    f, errors = parse_filters(request.query_params)
    if errors:
        raise HTTPException(status_code=400, detail=errors)
    return f


# ---- pages ------------------------------------------------------------------------------------------------------
@pages.get("")
def dashboard(request: Request, user: StaffPage, logs: StoreDep) -> HTMLResponse:
    stats = logs.stats(days=30)
    return render(request, "dashboard.html", nav="dashboard", stats=stats, chart=charts.turns_per_day(stats["days"]))


@pages.get("/turns")
def turns_page(request: Request, user: StaffPage, logs: StoreDep, page: int = 1) -> HTMLResponse:
    f, errors = parse_filters(request.query_params)
    page = max(1, min(page, MAX_PAGE))
    rows, total = logs.list_turns(f, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    query = filter_query(f)
    pages_total = max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)
    return render(
        request, "turns.html", nav="backlog" if query == {"unreviewed": "1"} else "turns", rows=rows, total=total,
        f=f, errors=errors, page=page, pages=pages_total, first=(page - 1) * PAGE_SIZE + 1 if total else 0,
        last=min(total, page * PAGE_SIZE), qs=urlencode(query), categories=CATEGORIES, verdicts=VERDICTS,
        prev_qs=urlencode({**query, "page": page - 1}), next_qs=urlencode({**query, "page": page + 1}),
    )


@pages.get("/conversations/{session_id}")
def conversation_page(request: Request, user: StaffPage, logs: StoreDep, session_id: str,
                      saved: str | None = None) -> HTMLResponse:
    rows = logs.conversation(session_id)
    if not rows:
        raise PageError(404, "Not found", "There is no conversation with this id. It may have been deleted by the "
                                          "person who had it, or removed by the retention policy.")
    steps = {row.turn.id: TurnSteps.of(row.turn.steps) for row in rows}
    waiting = logs.list_turns(TurnFilter(unreviewed=True, flagged=True), limit=1)[0] if saved else []
    return render(request, "conversation.html", nav="turns", rows=rows, session_id=session_id, steps=steps,
                  saved=saved, verdicts=VERDICTS, started=as_utc(rows[0].turn.created_at),
                  next_turn=waiting[0].turn if waiting else None)


@pages.post("/turns/{turn_id}/review", dependencies=[Depends(check_csrf)])
def review(request: Request, user: StaffPage, logs: StoreDep, turn_id: str, verdict: Annotated[str, Form()] = "",
           note: Annotated[str, Form(max_length=4000)] = "", corrected_answer: Annotated[str, Form(max_length=8000)] = "") -> Response:
    turn = logs.get_turn(turn_id)
    if turn is None:
        raise PageError(404, "Not found", "There is no such turn: it may have been deleted.")
    if verdict not in VERDICTS:
        raise PageError(400, "Choose a verdict", "Choose approved, needs correction or unsafe, then save the review.")
    logs.add_review(turn_id, user, verdict, note.strip() or None, corrected_answer.strip() or None)
    from .curation import after_review  # the review loop's pages import this module

    after_review(logs, turn_id, user, verdict, note.strip() or None, corrected_answer.strip() or None)
    url = f"/admin/conversations/{turn.session_id}?" + urlencode({"saved": turn_id}) + f"#turn-{turn_id}"
    return RedirectResponse(url, status_code=303)


# ---- JSON API and exports --------------------------------------------------------------------------------------
@api.get("/turns")
def api_turns(request: Request, logs: StoreDep, page: int = 1, per_page: int = PAGE_SIZE) -> dict:
    f = _api_filters(request)
    per_page = max(1, min(per_page, 500))
    page = max(1, min(page, MAX_PAGE))
    rows, total = logs.list_turns(f, limit=per_page, offset=(page - 1) * per_page)
    return {"total": total, "page": page, "per_page": per_page, "turns": [turn_json(r, full=False) for r in rows]}


@api.get("/stats")
def api_stats(logs: StoreDep, days: int = 30) -> dict:
    return logs.stats(days=max(1, min(days, 366)))


@api.get("/conversations/{session_id}")
def api_conversation(logs: StoreDep, session_id: str) -> dict:
    rows = logs.conversation(session_id)
    if not rows:
        raise HTTPException(status_code=404, detail="no such conversation")
    return {"session_id": session_id, "turns": [turn_json(r) for r in rows]}


@api.get("/export.csv")
def export_csv(request: Request, logs: StoreDep) -> StreamingResponse:
    rows = logs.iter_turns(_api_filters(request))
    return StreamingResponse(csv_lines(rows), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{download_name("csv")}"'})


@api.get("/export.jsonl")
def export_jsonl(request: Request, logs: StoreDep) -> StreamingResponse:
    rows = logs.iter_turns(_api_filters(request))
    return StreamingResponse(jsonl_lines(rows), media_type="application/x-ndjson; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{download_name("jsonl")}"'})


# ---- wiring -------------------------------------------------------------------------------------------------------
class SecurityHeaders:
    """Strict headers on every /admin response: no scripts, no framing, no caching of patient text."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not (scope["path"] == "/admin" or scope["path"].startswith("/admin/")):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    if name not in headers:
                        headers.append(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _dt(value, fmt: str = "%Y-%m-%d %H:%M UTC") -> str:
    value = as_utc(value)
    return value.strftime(fmt) if value else ""


def install(app: FastAPI, settings: Settings) -> None:
    """Add the console to the app: routes, the signed cookie, security headers, the sign-in rate limit."""
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["dt"] = _dt
    app.state.admin = Console(settings=settings, sessions=Sessions(load_secret(settings), settings), env=env,
                              login_limit=RateLimit(settings.admin_login_limit))
    from . import curation  # the review loop's pages, beside these

    for router in (public, pages, api, curation.pages, curation.api):
        app.include_router(router)
    app.add_middleware(SecurityHeaders)

    async def page_error(request: Request, exc: PageError) -> HTMLResponse:
        return render(request, "error.html", status=exc.status, title=exc.title, message=exc.message)

    previous = app.exception_handlers.get(TooManyRequests, too_many_requests)

    async def rate_limited(request: Request, exc: TooManyRequests) -> Response:
        if request.url.path.startswith("/admin"):
            response = render(request, "error.html", status=429, title="Too many attempts",
                              message="Too many sign-in attempts from this address. Wait a minute, then try again.")
            response.headers["Retry-After"] = "60"
            return response
        result = await run_in_threadpool(previous, request, exc)
        return result

    app.add_exception_handler(PageError, page_error)
    app.add_exception_handler(TooManyRequests, rate_limited)

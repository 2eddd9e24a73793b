"""The console's review-loop pages: reviewed answers (list, edit, approve, retire), answers stopped as unsafe,
and flagged passages (flag from a turn's citations, clear).

Saving a review (routes.review) feeds these: a corrected answer becomes a reviewed answer, an unsafe verdict
stops the answer it judged.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..api.deps import SettingsDep, StoreDep
from ..store import LogStore, TurnFilter
from ..store.models import FLAG_ACTIONS
from .routes import PageError, StaffPage, check_csrf, render, require_api, require_page

pages = APIRouter(prefix="/admin", include_in_schema=False, dependencies=[Depends(require_page)])
api = APIRouter(prefix="/admin/api", tags=["admin"], dependencies=[Depends(require_api)])


def after_review(logs: LogStore, turn_id: str, user: str, verdict: str, note: str | None,
                 corrected: str | None) -> None:
    """What a saved review changes for the next patient: a corrected answer is served to the same question;
    an unsafe answer is not served again."""
    if verdict == "unsafe":
        logs.curation.block(turn_id, user, note)
    if corrected:
        logs.curation.add_reviewed(turn_id, corrected, user)


@pages.get("/urgent-today")
def urgent_today(request: Request, user: StaffPage, logs: StoreDep, settings: SettingsDep) -> HTMLResponse:
    """Today's urgent, emergency and crisis turns, "today" in the clinic's time zone, most severe first."""
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(settings.clinic_timezone)
    midnight = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    rows, total = logs.list_turns(TurnFilter(urgent=True, since=midnight.astimezone(timezone.utc)), limit=500)
    return render(request, "urgent_today.html", nav="today", rows=rows, total=total, zone=settings.clinic_timezone,
                  day=midnight)


@pages.get("/reviewed")
def reviewed_page(request: Request, user: StaffPage, logs: StoreDep, settings: SettingsDep,
                  saved: str | None = None) -> HTMLResponse:
    return render(request, "reviewed.html", nav="reviewed", reviewed=logs.curation.list_reviewed(include_retired=True),
                  blocked=logs.curation.list_blocked(), flags=logs.curation.list_flags(), saved=saved,
                  second_approval=settings.reviewed_needs_second_approval)


def _back(what: str) -> Response:
    return RedirectResponse("/admin/reviewed?" + urlencode({"saved": what}), status_code=303)


@pages.post("/reviewed/{reviewed_id}/edit", dependencies=[Depends(check_csrf)])
def edit(user: StaffPage, logs: StoreDep, reviewed_id: int,
         answer: Annotated[str, Form(max_length=8000)] = "") -> Response:
    if not answer.strip():
        raise PageError(400, "Write the answer", "A reviewed answer cannot be empty; retire it instead.")
    if logs.curation.edit_reviewed(reviewed_id, answer, user) is None:
        raise PageError(404, "Not found", "There is no such reviewed answer in use: it may have been retired.")
    return _back("edited")


@pages.post("/reviewed/{reviewed_id}/approve", dependencies=[Depends(check_csrf)])
def approve(user: StaffPage, logs: StoreDep, reviewed_id: int) -> Response:
    if not logs.curation.approve_reviewed(reviewed_id, user):
        raise PageError(400, "Not approved", "A second reviewer approves a reviewed answer: not its author, and "
                                             "not once it has been retired.")
    return _back("approved")


@pages.post("/reviewed/{reviewed_id}/retire", dependencies=[Depends(check_csrf)])
def retire(user: StaffPage, logs: StoreDep, reviewed_id: int) -> Response:
    if not logs.curation.retire_reviewed(reviewed_id):
        raise PageError(404, "Not found", "There is no such reviewed answer in use.")
    return _back("retired")


@pages.post("/turns/{turn_id}/flag", dependencies=[Depends(check_csrf)])
def flag(user: StaffPage, logs: StoreDep, turn_id: str, citation: Annotated[int, Form()] = 0,
         action: Annotated[str, Form()] = "exclude", note: Annotated[str, Form(max_length=4000)] = "") -> Response:
    turn = logs.get_turn(turn_id)
    cited = [c for c in (turn.citations if turn else []) if c.get("id") == citation]
    if turn is None or not cited:
        raise PageError(404, "Not found", "There is no such passage in this turn's citations.")
    if action not in FLAG_ACTIONS or not note.strip():
        raise PageError(400, "Say what is wrong", "Choose whether to stop citing the passage or cite it with your "
                                                  "note, and write the note (for example what the drug's label says).")
    logs.curation.flag_passage(cited[0].get("chunk_id", ""), cited[0].get("passage", ""), action, note, user)
    url = f"/admin/conversations/{turn.session_id}?" + urlencode({"saved": turn_id}) + f"#turn-{turn_id}"
    return RedirectResponse(url, status_code=303)


@pages.post("/flags/{flag_id}/clear", dependencies=[Depends(check_csrf)])
def clear(user: StaffPage, logs: StoreDep, flag_id: int) -> Response:
    if not logs.curation.clear_flag(flag_id):
        raise PageError(404, "Not found", "There is no such flag in force.")
    return _back("cleared")


@api.get("/reviewed")
def api_reviewed(logs: StoreDep) -> dict:
    return {
        "reviewed": [{"id": r.id, "question": r.question, "answer": r.answer, "citations": r.citations,
                      "created_by": r.created_by, "approved_by": r.approved_by,
                      "retired": r.retired_at is not None} for r in logs.curation.list_reviewed(include_retired=True)],
        "blocked": [{"id": b.id, "turn_id": b.turn_id, "chunk_ids": b.chunk_ids, "reason": b.reason,
                     "created_by": b.created_by} for b in logs.curation.list_blocked()],
        "flags": [{"id": f.id, "chunk_id": f.chunk_id, "action": f.action, "note": f.note, "created_by": f.created_by}
                  for f in logs.curation.list_flags()],
    }

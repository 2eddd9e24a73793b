"""Turns as the console's JSON API and its exports show them: JSON (and JSON lines) and CSV rows."""

from __future__ import annotations

import csv
import io
import json
from typing import Iterable, Iterator

from ..store import TurnRow
from ..store.models import as_utc, utcnow


def _iso(value) -> str | None:
    value = as_utc(value)
    return value.isoformat() if value else None


def turn_json(row: TurnRow, full: bool = True) -> dict:
    t = row.turn
    out = {
        "turn_id": t.id, "session_id": t.session_id, "seq": t.seq, "created_at": _iso(t.created_at),
        "category": t.category, "triage_level": t.triage_level, "triage_rule": t.triage_rule,
        "message": t.message, "answer": t.answer, "flags": row.flags,
        "feedback": {"up": row.positive, "down": row.negative},
        "review": None if row.review is None else {
            "verdict": row.review.verdict, "reviewer": row.review.reviewer, "reviewed_at": _iso(row.review.created_at),
            "note": row.review.note, "corrected_answer": row.review.corrected_answer},
    }
    if full:
        out.update({
            "resolved_query": t.resolved_query, "topic": t.topic, "citations": t.citations or [],
            "retrieval_mode": t.retrieval_mode, "embedding_model": t.embedding_model, "latency_ms": t.latency_ms,
            "llm_fallback": t.llm_fallback, "steps": t.steps or [],
        })
        if "feedback" in t.__dict__:
            out["feedback_entries"] = [{"rating": fb.rating, "comment": fb.comment, "created_at": _iso(fb.created_at)}
                                       for fb in t.feedback]
        if "reviews" in t.__dict__:
            out["reviews"] = [{"verdict": r.verdict, "reviewer": r.reviewer, "reviewed_at": _iso(r.created_at),
                               "note": r.note, "corrected_answer": r.corrected_answer} for r in t.reviews]
    return out


CSV_COLUMNS = ["turn_id", "session_id", "seq", "created_at", "category", "triage_level", "triage_rule", "flags",
               "message", "answer", "citations", "retrieval_mode", "embedding_model", "latency_ms", "llm_fallback",
               "feedback_up", "feedback_down", "feedback_comments", "review_verdict", "reviewer", "reviewed_at",
               "review_note", "corrected_answer"]


def _cell(value) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def csv_row(row: TurnRow) -> list[str]:
    t, r = row.turn, row.review
    cites = "; ".join(f"[{c.get('id')}] {c.get('title') or c.get('source')} ({c.get('chunk_id')}, score {c.get('score')})"
                      for c in t.citations or [])
    comments = " | ".join(fb.comment for fb in t.feedback if fb.comment) if "feedback" in t.__dict__ else ""
    values = [t.id, t.session_id, t.seq, _iso(t.created_at), t.category, t.triage_level, t.triage_rule,
              "; ".join(row.flags), t.message, t.answer, cites, t.retrieval_mode, t.embedding_model, t.latency_ms,
              t.llm_fallback, row.positive, row.negative, comments, r.verdict if r else None,
              r.reviewer if r else None, _iso(r.created_at) if r else None, r.note if r else None,
              r.corrected_answer if r else None]
    return [_cell(v) for v in values]


def download_name(ext: str) -> str:
    return f"msassistant-turns-{utcnow():%Y%m%d-%H%M%S}.{ext}"


def csv_lines(rows: Iterable[TurnRow]) -> Iterator[str]:
    """The CSV export, a line at a time (the header first), opening with a UTF-8 byte-order mark so that
    spreadsheet programs read its accents and symbols as UTF-8."""
    yield "\ufeff"
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(csv_row(row))
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()
    yield buf.getvalue()


def jsonl_lines(rows: Iterable[TurnRow]) -> Iterator[str]:
    """The JSON lines export: one turn, in full, per line."""
    for row in rows:
        yield json.dumps(turn_json(row), ensure_ascii=False) + "\n"

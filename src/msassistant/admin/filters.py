"""The console's filters, read from a query string and written back into one (for links and paging)."""

from __future__ import annotations

from datetime import date

from ..store import TurnFilter
from ..store.models import CATEGORIES, VERDICTS

TRUE = {"1", "on", "true", "yes"}


def parse_filters(params) -> tuple[TurnFilter, list[str]]:
    errors: list[str] = []

    def day(name: str, label: str) -> date | None:
        value = (params.get(name) or "").strip()
        if not value:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            errors.append(f"{label}: use the form YYYY-MM-DD")
            return None

    f = TurnFilter(date_from=day("date_from", "From"), date_to=day("date_to", "To"))
    category = (params.get("category") or "").strip()
    if category and category not in CATEGORIES:
        errors.append(f"Category: choose one of {', '.join(CATEGORIES)}")
    f.category = category if category in CATEGORIES else None
    verdict = (params.get("verdict") or "").strip()
    if verdict and verdict not in VERDICTS:
        errors.append(f"Review: choose one of {', '.join(VERDICTS)}")
    f.verdict = verdict if verdict in VERDICTS else None
    for name in ("urgent", "negative", "unreviewed", "flagged"):
        setattr(f, name, (params.get(name) or "").lower() in TRUE)
    q = (params.get("q") or "").strip()
    f.q = q[:200] or None
    return f, errors


def filter_query(f: TurnFilter) -> dict[str, str]:
    out: dict[str, str] = {}
    if f.date_from:
        out["date_from"] = f.date_from.isoformat()
    if f.date_to:
        out["date_to"] = f.date_to.isoformat()
    if f.category:
        out["category"] = f.category
    if f.verdict:
        out["verdict"] = f.verdict
    for name in ("urgent", "negative", "unreviewed", "flagged"):
        if getattr(f, name):
            out[name] = "1"
    if f.q:
        out["q"] = f.q
    return out

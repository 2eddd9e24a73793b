"""The console dashboard's numbers: turns and urgent turns per day, feedback, verdicts and the review backlog."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, not_, or_, select
from sqlalchemy.orm import sessionmaker

from .models import VERDICTS, Feedback, Turn, as_utc, utcnow
from .reviews import flagged, latest_review_verdict, reviewed_exists, start_of


def stats(sessions: sessionmaker, days: int = 30, now: datetime | None = None) -> dict:
    """The last `days` days, one entry per day (today last), and the totals over the whole log."""
    now = now or utcnow()
    first = (now - timedelta(days=days - 1)).date()
    per_day = {first + timedelta(days=i): {"turns": 0, "urgent": 0} for i in range(days)}
    with sessions() as db:
        for created, category, level in db.execute(
            select(Turn.created_at, Turn.category, Turn.triage_level).where(Turn.created_at >= start_of(first))
        ):
            day = as_utc(created).date()
            if day in per_day:
                per_day[day]["turns"] += 1
                per_day[day]["urgent"] += int(category == "urgent" or level is not None)
        total = db.scalar(select(func.count()).select_from(Turn)) or 0
        urgent = db.scalar(select(func.count()).select_from(Turn).where(
            or_(Turn.category == "urgent", Turn.triage_level.is_not(None)))) or 0
        ratings = dict(db.execute(select(Feedback.rating, func.count()).group_by(Feedback.rating)).all())
        backlog = db.scalar(select(func.count()).select_from(Turn).where(not_(reviewed_exists()))) or 0
        flagged_unreviewed = db.scalar(
            select(func.count()).select_from(Turn).where(not_(reviewed_exists()), flagged())) or 0
        verdicts = dict(db.execute(
            # each reviewed turn counted once, under its latest verdict
            select(latest_review_verdict().label("v"), func.count()).select_from(Turn).where(reviewed_exists())
            .group_by("v")
        ).all())
        categories = dict(db.execute(select(Turn.category, func.count()).group_by(Turn.category)).all())
    up, down = ratings.get("up", 0), ratings.get("down", 0)
    return {
        "days": [{"day": d.isoformat(), **v} for d, v in per_day.items()],
        "turns": total, "urgent": urgent, "categories": categories,
        "feedback": {"up": up, "down": down, "positive_ratio": round(up / (up + down), 3) if up + down else None},
        "backlog": {"unreviewed": backlog, "flagged_unreviewed": flagged_unreviewed},
        "verdicts": {v: verdicts.get(v, 0) for v in VERDICTS},
    }

"""Staff review of the log: the console's filters, the backlog order, conversations and verdicts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Iterator

from sqlalchemy import and_, case, exists, func, not_, or_, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from .models import VERDICTS, Feedback, Review, Turn


@dataclass
class TurnFilter:
    """The console's filters; the list, the JSON API and both exports use the same ones."""

    date_from: date | None = None  # inclusive, UTC
    date_to: date | None = None  # inclusive, UTC
    category: str | None = None
    urgent: bool = False
    negative: bool = False  # at least one thumbs-down
    unreviewed: bool = False
    flagged: bool = False
    verdict: str | None = None  # the latest review's verdict
    q: str | None = None  # words in the message or the answer
    session_id: str | None = None
    since: datetime | None = None  # created at or after this moment (the clinic's "today")


@dataclass
class TurnRow:
    turn: Turn
    negative: int = 0
    positive: int = 0
    review: Review | None = None  # the latest one
    flags: list[str] = field(default_factory=list)

    @property
    def reviewed(self) -> bool:
        return self.review is not None


# ---- conditions shared with the dashboard's statistics ------------------------------------------------
def negative_exists():
    return exists().where(Feedback.turn_id == Turn.id, Feedback.rating == "down")


def reviewed_exists():
    return exists().where(Review.turn_id == Turn.id)


def flagged():
    """Needs a look: urgent, no coverage, the model fell back, or a thumbs-down."""
    return or_(Turn.category.in_(("urgent", "no_coverage")), Turn.triage_level.is_not(None),
               Turn.llm_fallback.is_not(None), negative_exists())


def latest_review_verdict():
    return (select(Review.verdict).where(Review.turn_id == Turn.id)
            .order_by(Review.created_at.desc(), Review.id.desc()).limit(1).scalar_subquery())


def start_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def triage_flag(level: str | None, rule: str | None) -> str:
    """A triage flag named by its rule: "urgent: vision loss or double vision", "crisis (learned net)"."""
    level = level or "urgent"
    if not rule:
        return level
    if rule.startswith("learned:"):
        return f"{level} (learned net)"
    return f"{level}: {' '.join(rule.replace('_', ' ').replace('-', ' ').split())}"


def flags_of(turn: Turn, negative: int) -> list[str]:
    """Why a turn needs a look, in words."""
    out = []
    if turn.category == "urgent" or turn.triage_level:
        out.append(triage_flag(turn.triage_level, turn.triage_rule))
    if negative:
        out.append("negative feedback")
    if turn.llm_fallback:
        out.append("LLM fallback")
    if turn.category == "no_coverage":
        out.append("no coverage")
    return out


def _where(f: TurnFilter) -> list:
    cond = []
    if f.date_from:
        cond.append(Turn.created_at >= start_of(f.date_from))
    if f.date_to:
        cond.append(Turn.created_at < start_of(f.date_to + timedelta(days=1)))
    if f.category:
        cond.append(Turn.category == f.category)
    if f.urgent:
        cond.append(or_(Turn.category == "urgent", Turn.triage_level.is_not(None)))
    if f.negative:
        cond.append(negative_exists())
    if f.unreviewed:
        cond.append(not_(reviewed_exists()))
    if f.flagged:
        cond.append(flagged())
    if f.verdict:
        cond.append(latest_review_verdict() == f.verdict)
    if f.q and f.q.strip():
        pattern = _like(f.q.strip())
        cond.append(or_(Turn.message.ilike(pattern, escape="\\"), Turn.answer.ilike(pattern, escape="\\")))
    if f.session_id:
        cond.append(Turn.session_id == f.session_id)
    if f.since:
        cond.append(Turn.created_at >= f.since)
    return cond


def _ordered(f: TurnFilter):
    """The backlog by severity, as a nurse works it: unreviewed emergency and crisis turns, then urgent ones,
    then negative feedback, then the other flagged ones, then the rest unreviewed; the reviewed last; newest
    first within each."""
    unreviewed = not_(reviewed_exists())
    severe = Turn.triage_level.in_(("emergency", "crisis"))
    urgent = or_(Turn.category == "urgent", Turn.triage_level.is_not(None))
    priority = case((and_(unreviewed, severe), 0), (and_(unreviewed, urgent), 1),
                    (and_(unreviewed, negative_exists()), 2), (and_(unreviewed, flagged()), 3), (unreviewed, 4),
                    else_=5)
    return select(Turn).where(*_where(f)).order_by(priority, Turn.created_at.desc(), Turn.id)


def _rows(db: Session, turns: list[Turn]) -> list[TurnRow]:
    """Each turn with its votes, its latest review and its flags."""
    if not turns:
        return []
    ids = [t.id for t in turns]
    votes: dict[str, dict[str, int]] = {}
    for turn_id, rating, n in db.execute(
        select(Feedback.turn_id, Feedback.rating, func.count()).where(Feedback.turn_id.in_(ids))
        .group_by(Feedback.turn_id, Feedback.rating)
    ):
        votes.setdefault(turn_id, {})[rating] = n
    latest: dict[str, Review] = {}
    for review in db.scalars(select(Review).where(Review.turn_id.in_(ids)).order_by(Review.created_at, Review.id)):
        latest[review.turn_id] = review
    rows = []
    for t in turns:
        v = votes.get(t.id, {})
        rows.append(TurnRow(turn=t, negative=v.get("down", 0), positive=v.get("up", 0), review=latest.get(t.id),
                            flags=flags_of(t, v.get("down", 0))))
    return rows


class Reviews:
    """What the review console reads and writes: filtered turn lists, conversations and verdicts."""

    def __init__(self, sessions: sessionmaker):
        self.sessions = sessions

    def add_review(self, turn_id: str, reviewer: str, verdict: str, note: str | None = None,
                   corrected_answer: str | None = None) -> Review | None:
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}")
        with self.sessions.begin() as db:
            if db.get(Turn, turn_id) is None:
                return None
            review = Review(turn_id=turn_id, reviewer=reviewer, verdict=verdict, note=note or None,
                            corrected_answer=corrected_answer or None)
            db.add(review)
        return review

    def list_turns(self, f: TurnFilter, limit: int = 50, offset: int = 0) -> tuple[list[TurnRow], int]:
        with self.sessions() as db:
            total = db.scalar(select(func.count()).select_from(Turn).where(*_where(f))) or 0
            turns = list(db.scalars(_ordered(f).limit(limit).offset(offset)))
            return _rows(db, turns), total

    def iter_turns(self, f: TurnFilter, batch: int = 500) -> Iterator[TurnRow]:
        """Every matching turn in the list's order, with feedback and reviews loaded (for the exports)."""
        offset = 0
        while True:
            with self.sessions() as db:
                turns = list(db.scalars(_ordered(f).options(selectinload(Turn.feedback), selectinload(Turn.reviews))
                                        .limit(batch).offset(offset)))
                rows = _rows(db, turns)
            yield from rows
            if len(turns) < batch:
                return
            offset += batch

    def conversation(self, session_id: str) -> list[TurnRow]:
        """A conversation's turns in order, each with its feedback and reviews."""
        with self.sessions() as db:
            turns = list(db.scalars(select(Turn).where(Turn.session_id == session_id).order_by(Turn.seq)
                                    .options(selectinload(Turn.feedback), selectinload(Turn.reviews))))
            return _rows(db, turns)

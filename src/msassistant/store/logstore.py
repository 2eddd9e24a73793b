"""Logstore: every turn, its citations and the steps that produced it, in SQL (SQLite by default).

The schema is managed by Alembic migrations in migrations/; `LogStore` upgrades to head on start.
Personal details are redacted (see redact.py) inside `LogStore.record`, so nothing a person types
reaches the database unredacted, whoever the caller is. Staff reviews and console accounts live here
too, with the queries the review console needs (filters, backlog ordering, statistics, export).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

from sqlalchemy import (
    JSON, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint, and_, case, create_engine, delete, event, exists,
    bindparam, func, insert, not_, or_, select, update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, selectinload, sessionmaker

from .redact import echo_scrub, redact, redact_found, scrub, scrub_text

MIGRATIONS = Path(__file__).with_name("migrations")  # next to this module, in the store package
VERDICTS = ("approved", "needs_correction", "unsafe")
CATEGORIES = ("answer", "no_coverage", "out_of_scope", "urgent")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything is stored in UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def new_id() -> str:
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    pass


class Conversation(Base):
    __tablename__ = "conversations"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    turns: Mapped[list["Turn"]] = relationship(back_populates="conversation", cascade="all, delete-orphan", order_by="Turn.seq")


class Turn(Base):
    __tablename__ = "turns"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    message: Mapped[str] = mapped_column(Text)
    resolved_query: Mapped[str] = mapped_column(Text, default="")
    topic: Mapped[str] = mapped_column(Text, default="")
    answer: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(20), index=True)
    triage_level: Mapped[str | None] = mapped_column(String(20), nullable=True, index=True)
    triage_rule: Mapped[str | None] = mapped_column(String(80), nullable=True)
    citations: Mapped[list] = mapped_column(JSON, default=list)
    retrieval_mode: Mapped[str] = mapped_column(String(20), default="hybrid")
    embedding_model: Mapped[str] = mapped_column(String(200), default="")
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    llm_fallback: Mapped[str | None] = mapped_column(Text, nullable=True)
    steps: Mapped[list] = mapped_column(JSON, default=list)
    conversation: Mapped[Conversation] = relationship(back_populates="turns")
    feedback: Mapped[list["Feedback"]] = relationship(back_populates="turn", cascade="all, delete-orphan",
                                                      order_by="Feedback.id")
    reviews: Mapped[list["Review"]] = relationship(back_populates="turn", cascade="all, delete-orphan",
                                                   order_by="Review.id")


class Feedback(Base):
    __tablename__ = "feedback"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    turn_id: Mapped[str] = mapped_column(ForeignKey("turns.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    rating: Mapped[str] = mapped_column(String(10), index=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    turn: Mapped[Turn] = relationship(back_populates="feedback")


class Review(Base):
    """A staff member's verdict on one turn; the latest review of a turn is its current status."""

    __tablename__ = "reviews"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    turn_id: Mapped[str] = mapped_column(ForeignKey("turns.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    reviewer: Mapped[str] = mapped_column(String(64))  # the staff name, kept when the account is removed
    verdict: Mapped[str] = mapped_column(String(20), index=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    corrected_answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    turn: Mapped[Turn] = relationship(back_populates="reviews")


class Staff(Base):
    """A console account: the password is stored as an argon2 hash."""

    __tablename__ = "staff"
    __table_args__ = (UniqueConstraint("username", name="uq_staff_username"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)  # bumped on sign-out: old cookies stop working


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    # pre-ping (a test query before each use of a pooled connection) guards against dropped network
    # connections; a SQLite file has none, and every chat turn would pay for it
    engine = create_engine(url, future=True, pool_pre_ping=not url.startswith("sqlite"))
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # WAL lets the console read while the assistant writes
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable across app crashes, one fsync less per turn
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=5000")
            cur.close()

    return engine


def _alembic_config():
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


# ---- console queries ------------------------------------------------------------------------------
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


@dataclass
class PurgeReport:
    turns: int = 0
    feedback: int = 0
    reviews: int = 0
    conversations: int = 0

    def summary(self) -> str:
        return (f"{self.turns} turns, {self.feedback} feedback, {self.reviews} reviews and "
                f"{self.conversations} conversations")


def _negative_exists():
    return exists().where(Feedback.turn_id == Turn.id, Feedback.rating == "down")


def _reviewed_exists():
    return exists().where(Review.turn_id == Turn.id)


def _flagged():
    return or_(Turn.category.in_(("urgent", "no_coverage")), Turn.triage_level.is_not(None),
               Turn.llm_fallback.is_not(None), _negative_exists())


def _latest_review_verdict():
    return (select(Review.verdict).where(Review.turn_id == Turn.id)
            .order_by(Review.created_at.desc(), Review.id.desc()).limit(1).scalar_subquery())


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _start_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


def flags_of(turn: Turn, negative: int) -> list[str]:
    """Why a turn needs a look, in words."""
    out = []
    if turn.category == "urgent" or turn.triage_level:
        out.append(f"urgent ({turn.triage_level})" if turn.triage_level else "urgent")
    if negative:
        out.append("negative feedback")
    if turn.llm_fallback:
        out.append("LLM fallback")
    if turn.category == "no_coverage":
        out.append("no coverage")
    return out


class LogStore:
    def __init__(self, url: str):
        self.engine = make_engine(url)
        upgrade(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._new_conversation = self._insert_new(Conversation)
        next_seq = select(func.coalesce(func.max(Turn.seq), 0) + 1).where(Turn.session_id == bindparam("seq_of"))
        self._new_turn = insert(Turn).values(seq=next_seq.scalar_subquery()).returning(Turn.seq)

    # ---- the assistant's side -------------------------------------------------------------------
    def history(self, session_id: str, limit: int = 6) -> list[Turn]:
        with self.sessions() as db:
            rows = db.scalars(
                select(Turn).where(Turn.session_id == session_id).order_by(Turn.seq.desc()).limit(limit)
            ).all()
        return list(reversed(rows))

    def record(self, session_id: str, **fields) -> Turn:
        """Store one turn. The message and everything derived from it are redacted first."""
        message, found = redact_found(fields.get("message") or "")
        fields["message"] = message
        for name in ("resolved_query", "topic"):
            if fields.get(name):
                fields[name] = scrub_text(fields[name], found)
        if fields.get("llm_fallback"):
            fields["llm_fallback"] = scrub_text(fields["llm_fallback"], found)
        if fields.get("steps"):
            fields["steps"] = scrub(fields["steps"], found)
        if fields.get("answer") and found:  # the answer is the corpus's words; only echoes of the person go
            fields["answer"] = echo_scrub(fields["answer"], found)
        # two statements in one transaction: the conversation row if it is new, then the turn numbered after
        # the session's last one (this runs on every chat message, so it stays off the ORM's unit of work)
        fields.setdefault("created_at", utcnow())
        values = {"id": new_id(), "session_id": session_id, **fields}
        with self.engine.begin() as conn:
            conn.execute(self._new_conversation, {"id": session_id, "created_at": fields["created_at"]})
            values["seq"] = conn.execute(self._new_turn, {**values, "seq_of": session_id}).scalar_one()
        return Turn(**values)

    def _insert_new(self, table):
        """INSERT that leaves an existing row (same primary key) as it is."""
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        return dialect_insert(table).on_conflict_do_nothing()

    def add_feedback(self, turn_id: str, rating: str, comment: str | None) -> bool:
        with self.sessions.begin() as db:
            if db.get(Turn, turn_id) is None:
                return False
            db.add(Feedback(turn_id=turn_id, rating=rating, comment=redact(comment) if comment else comment))
        return True

    def delete_session(self, session_id: str) -> int:
        """A person's "delete my conversation": every row of the session goes, staff reviews included."""
        with self.sessions.begin() as db:
            turns = db.scalars(select(Turn.id).where(Turn.session_id == session_id)).all()
            if turns:
                db.execute(delete(Review).where(Review.turn_id.in_(turns)))
                db.execute(delete(Feedback).where(Feedback.turn_id.in_(turns)))
            db.execute(delete(Turn).where(Turn.session_id == session_id))
            db.execute(delete(Conversation).where(Conversation.id == session_id))
        return len(turns)

    def count_turns(self) -> int:
        with self.sessions() as db:
            return db.scalar(select(func.count()).select_from(Turn)) or 0

    # ---- retention ------------------------------------------------------------------------------------
    def purge(self, older_than: timedelta, now: datetime | None = None, dry_run: bool = False) -> PurgeReport:
        """Delete turns older than `older_than` with their feedback and reviews, then empty conversations."""
        cutoff = (now or utcnow()) - older_than
        report = PurgeReport()
        with self.sessions.begin() as db:
            old = select(Turn.id).where(Turn.created_at < cutoff)
            report.turns = db.scalar(select(func.count()).select_from(old.subquery())) or 0
            report.feedback = db.scalar(select(func.count()).select_from(Feedback).where(Feedback.turn_id.in_(old))) or 0
            report.reviews = db.scalar(select(func.count()).select_from(Review).where(Review.turn_id.in_(old))) or 0
            empty = and_(Conversation.created_at < cutoff,
                         not_(exists().where(Turn.session_id == Conversation.id, Turn.created_at >= cutoff)))
            report.conversations = db.scalar(select(func.count()).select_from(Conversation).where(empty)) or 0
            if dry_run:
                return report
            db.execute(delete(Review).where(Review.turn_id.in_(old)))
            db.execute(delete(Feedback).where(Feedback.turn_id.in_(old)))
            db.execute(delete(Turn).where(Turn.created_at < cutoff))
            db.execute(delete(Conversation).where(Conversation.created_at < cutoff,
                                                  not_(exists().where(Turn.session_id == Conversation.id))))
        return report

    # ---- reviews ----------------------------------------------------------------------------------------
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

    def get_turn(self, turn_id: str) -> Turn | None:
        with self.sessions() as db:
            return db.get(Turn, turn_id)

    # ---- console queries -------------------------------------------------------------------------------
    def _where(self, f: TurnFilter) -> list:
        cond = []
        if f.date_from:
            cond.append(Turn.created_at >= _start_of(f.date_from))
        if f.date_to:
            cond.append(Turn.created_at < _start_of(f.date_to + timedelta(days=1)))
        if f.category:
            cond.append(Turn.category == f.category)
        if f.urgent:
            cond.append(or_(Turn.category == "urgent", Turn.triage_level.is_not(None)))
        if f.negative:
            cond.append(_negative_exists())
        if f.unreviewed:
            cond.append(not_(_reviewed_exists()))
        if f.flagged:
            cond.append(_flagged())
        if f.verdict:
            cond.append(_latest_review_verdict() == f.verdict)
        if f.q and f.q.strip():
            pattern = _like(f.q.strip())
            cond.append(or_(Turn.message.ilike(pattern, escape="\\"), Turn.answer.ilike(pattern, escape="\\")))
        if f.session_id:
            cond.append(Turn.session_id == f.session_id)
        return cond

    def _rows(self, db: Session, turns: list[Turn]) -> list[TurnRow]:
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

    def _ordered(self, f: TurnFilter):
        """Backlog first: unreviewed flagged turns, then unreviewed ones, then the reviewed; newest first within."""
        reviewed = _reviewed_exists()
        priority = case((and_(not_(reviewed), _flagged()), 0), (not_(reviewed), 1), else_=2)
        return select(Turn).where(*self._where(f)).order_by(priority, Turn.created_at.desc(), Turn.id)

    def list_turns(self, f: TurnFilter, limit: int = 50, offset: int = 0) -> tuple[list[TurnRow], int]:
        with self.sessions() as db:
            total = db.scalar(select(func.count()).select_from(Turn).where(*self._where(f))) or 0
            turns = list(db.scalars(self._ordered(f).limit(limit).offset(offset)))
            return self._rows(db, turns), total

    def iter_turns(self, f: TurnFilter, batch: int = 500) -> Iterator[TurnRow]:
        """Every matching turn in the list's order, with feedback and reviews loaded (for the exports)."""
        offset = 0
        while True:
            with self.sessions() as db:
                turns = list(db.scalars(self._ordered(f).options(selectinload(Turn.feedback), selectinload(Turn.reviews))
                                        .limit(batch).offset(offset)))
                rows = self._rows(db, turns)
            yield from rows
            if len(turns) < batch:
                return
            offset += batch

    def conversation(self, session_id: str) -> list[TurnRow]:
        """A conversation's turns in order, each with its feedback and reviews."""
        with self.sessions() as db:
            turns = list(db.scalars(select(Turn).where(Turn.session_id == session_id).order_by(Turn.seq)
                                    .options(selectinload(Turn.feedback), selectinload(Turn.reviews))))
            return self._rows(db, turns)

    def stats(self, days: int = 30, now: datetime | None = None) -> dict:
        """The dashboard's numbers: turns and urgent turns per day, feedback, the review backlog."""
        now = now or utcnow()
        first = (now - timedelta(days=days - 1)).date()
        per_day = {first + timedelta(days=i): {"turns": 0, "urgent": 0} for i in range(days)}
        with self.sessions() as db:
            for created, category, level in db.execute(
                select(Turn.created_at, Turn.category, Turn.triage_level).where(Turn.created_at >= _start_of(first))
            ):
                day = as_utc(created).date()
                if day in per_day:
                    per_day[day]["turns"] += 1
                    per_day[day]["urgent"] += int(category == "urgent" or level is not None)
            total = db.scalar(select(func.count()).select_from(Turn)) or 0
            urgent = db.scalar(select(func.count()).select_from(Turn).where(
                or_(Turn.category == "urgent", Turn.triage_level.is_not(None)))) or 0
            ratings = dict(db.execute(select(Feedback.rating, func.count()).group_by(Feedback.rating)).all())
            backlog = db.scalar(select(func.count()).select_from(Turn).where(not_(_reviewed_exists()))) or 0
            flagged = db.scalar(select(func.count()).select_from(Turn).where(not_(_reviewed_exists()), _flagged())) or 0
            verdicts = dict(db.execute(
                select(_latest_review_verdict().label("v"), func.count()).where(_reviewed_exists()).group_by("v")
            ).all())
            categories = dict(db.execute(select(Turn.category, func.count()).group_by(Turn.category)).all())
        up, down = ratings.get("up", 0), ratings.get("down", 0)
        return {
            "days": [{"day": d.isoformat(), **v} for d, v in per_day.items()],
            "turns": total, "urgent": urgent, "categories": categories,
            "feedback": {"up": up, "down": down, "positive_ratio": round(up / (up + down), 3) if up + down else None},
            "backlog": {"unreviewed": backlog, "flagged_unreviewed": flagged},
            "verdicts": {v: verdicts.get(v, 0) for v in VERDICTS},
        }

    # ---- staff accounts ---------------------------------------------------------------------------------
    def add_staff(self, username: str, password_hash: str) -> bool:
        with self.sessions.begin() as db:
            if db.scalar(select(Staff).where(Staff.username == username)) is not None:
                return False
            db.add(Staff(username=username, password_hash=password_hash))
        return True

    def get_staff(self, username: str) -> Staff | None:
        with self.sessions() as db:
            return db.scalar(select(Staff).where(Staff.username == username))

    def list_staff(self) -> list[Staff]:
        with self.sessions() as db:
            return list(db.scalars(select(Staff).order_by(Staff.username)))

    def remove_staff(self, username: str) -> bool:
        with self.sessions.begin() as db:
            return db.execute(delete(Staff).where(Staff.username == username)).rowcount > 0

    def set_password(self, username: str, password_hash: str) -> bool:
        with self.sessions.begin() as db:
            return db.execute(update(Staff).where(Staff.username == username).values(
                password_hash=password_hash, failed_logins=0, locked_until=None,
                session_epoch=Staff.session_epoch + 1)).rowcount > 0

    def login_succeeded(self, username: str, password_hash: str | None = None) -> None:
        values = {"failed_logins": 0, "locked_until": None, "last_login_at": utcnow()}
        if password_hash:
            values["password_hash"] = password_hash
        with self.sessions.begin() as db:
            db.execute(update(Staff).where(Staff.username == username).values(**values))

    def login_failed(self, username: str, lock_after: int, lock_for: timedelta) -> None:
        """Count a wrong password; after `lock_after` in a row the account is locked for `lock_for`."""
        with self.sessions.begin() as db:
            staff = db.scalar(select(Staff).where(Staff.username == username))
            if staff is None:
                return
            staff.failed_logins = (staff.failed_logins or 0) + 1
            if staff.failed_logins >= lock_after:
                staff.locked_until = utcnow() + lock_for
                staff.failed_logins = 0

    def end_sessions(self, username: str) -> None:
        with self.sessions.begin() as db:
            db.execute(update(Staff).where(Staff.username == username).values(session_epoch=Staff.session_epoch + 1))

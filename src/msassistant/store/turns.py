"""The turn log: what each chat turn said and why, feedback on it, deletion on request, and retention.

Personal details are redacted (see redact.py) inside `TurnLog.record`, so nothing a person types
reaches the database unredacted, whoever the caller is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, delete, exists, func, insert, not_, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from .db import Writes
from .models import Conversation, Feedback, Review, Turn, new_id, utcnow
from .redact import echo_scrub, redact, redact_found, scrub, scrub_text


@dataclass
class PurgeReport:
    turns: int = 0
    feedback: int = 0
    reviews: int = 0
    conversations: int = 0

    def summary(self) -> str:
        return (f"{self.turns} turns, {self.feedback} feedback, {self.reviews} reviews and "
                f"{self.conversations} conversations")


def insert_new(engine: Engine, table):
    """INSERT that leaves an existing row (same primary key) as it is."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert(table).on_conflict_do_nothing()


class TurnLog:
    """The assistant's side of the log: it writes turns and reads a conversation's recent ones back.
    Every write waits and runs again while the database is busy (db.Writes), so an answer the person was
    given is never missing from the log for a lock."""

    def __init__(self, engine: Engine, sessions: sessionmaker):
        self.engine = engine
        self.sessions = sessions
        self.writes = Writes(engine)
        self._new_conversation = insert_new(engine, Conversation)
        # PostgreSQL: two turns of one session written at once take turns on the conversation's row, so that
        # each is numbered after the other (SQLite has one writer at a time anyway)
        self._hold_conversation = (select(Conversation.id).where(Conversation.id == bindparam("id")).with_for_update()
                                   if engine.dialect.name == "postgresql" else None)
        next_seq = select(func.coalesce(func.max(Turn.seq), 0) + 1).where(Turn.session_id == bindparam("seq_of"))
        self._new_turn = insert(Turn).values(seq=next_seq.scalar_subquery()).returning(Turn.seq)

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

        def write() -> int:
            with self.engine.begin() as conn:
                conn.execute(self._new_conversation, {"id": session_id, "created_at": fields["created_at"]})
                if self._hold_conversation is not None:
                    conn.execute(self._hold_conversation, {"id": session_id})
                return conn.execute(self._new_turn, {**values, "seq_of": session_id}).scalar_one()

        values["seq"] = self.writes.run(write)
        return Turn(**values)

    def add_feedback(self, turn_id: str, rating: str, comment: str | None) -> bool:
        comment = redact(comment) if comment else comment

        def write() -> bool:
            with self.sessions.begin() as db:
                if db.get(Turn, turn_id) is None:
                    return False
                db.add(Feedback(turn_id=turn_id, rating=rating, comment=comment))
            return True

        return self.writes.run(write)

    def delete_session(self, session_id: str) -> int:
        """A person's "delete my conversation": every row of the session goes, staff reviews included."""

        def write() -> int:
            with self.sessions.begin() as db:
                turns = db.scalars(select(Turn.id).where(Turn.session_id == session_id)).all()
                if turns:
                    db.execute(delete(Review).where(Review.turn_id.in_(turns)))
                    db.execute(delete(Feedback).where(Feedback.turn_id.in_(turns)))
                db.execute(delete(Turn).where(Turn.session_id == session_id))
                db.execute(delete(Conversation).where(Conversation.id == session_id))
            return len(turns)

        return self.writes.run(write)

    def get_turn(self, turn_id: str) -> Turn | None:
        with self.sessions() as db:
            return db.get(Turn, turn_id)

    def count_turns(self) -> int:
        with self.sessions() as db:
            return db.scalar(select(func.count()).select_from(Turn)) or 0

    def purge(self, older_than: timedelta, now: datetime | None = None, dry_run: bool = False) -> PurgeReport:
        """Retention: delete turns older than `older_than` with their feedback and reviews, then empty conversations."""
        cutoff = (now or utcnow()) - older_than
        return self.writes.run(lambda: self._purge(cutoff, dry_run))

    def _purge(self, cutoff: datetime, dry_run: bool) -> PurgeReport:
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

"""Logstore: every turn, its citations and the steps that produced it, in SQL (SQLite by default).

The schema is managed by Alembic migrations in migrations/; `LogStore` upgrades to head on start.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text, create_engine, delete, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker

MIGRATIONS = Path(__file__).with_name("migrations")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


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
    feedback: Mapped[list["Feedback"]] = relationship(back_populates="turn", cascade="all, delete-orphan")


class Feedback(Base):
    __tablename__ = "feedback"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    turn_id: Mapped[str] = mapped_column(ForeignKey("turns.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    rating: Mapped[str] = mapped_column(String(10))
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    turn: Mapped[Turn] = relationship(back_populates="feedback")


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, future=True, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # WAL lets the console read while the assistant writes
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=5000")
            cur.close()

    return engine


def upgrade(engine: Engine) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


class LogStore:
    def __init__(self, url: str):
        self.engine = make_engine(url)
        upgrade(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def history(self, session_id: str, limit: int = 6) -> list[Turn]:
        with self.sessions() as db:
            rows = db.scalars(
                select(Turn).where(Turn.session_id == session_id).order_by(Turn.seq.desc()).limit(limit)
            ).all()
        return list(reversed(rows))

    def record(self, session_id: str, **fields) -> Turn:
        with self.sessions.begin() as db:
            if db.get(Conversation, session_id) is None:
                db.add(Conversation(id=session_id))
                db.flush()
            last = db.scalar(select(Turn.seq).where(Turn.session_id == session_id).order_by(Turn.seq.desc()).limit(1))
            turn = Turn(session_id=session_id, seq=(last or 0) + 1, **fields)
            db.add(turn)
        return turn

    def add_feedback(self, turn_id: str, rating: str, comment: str | None) -> bool:
        with self.sessions.begin() as db:
            if db.get(Turn, turn_id) is None:
                return False
            db.add(Feedback(turn_id=turn_id, rating=rating, comment=comment))
        return True

    def delete_session(self, session_id: str) -> int:
        with self.sessions.begin() as db:
            turns = db.scalars(select(Turn.id).where(Turn.session_id == session_id)).all()
            if turns:
                db.execute(delete(Feedback).where(Feedback.turn_id.in_(turns)))
            db.execute(delete(Turn).where(Turn.session_id == session_id))
            db.execute(delete(Conversation).where(Conversation.id == session_id))
        return len(turns)

    def count_turns(self) -> int:
        from sqlalchemy import func

        with self.sessions() as db:
            return db.scalar(select(func.count()).select_from(Turn)) or 0

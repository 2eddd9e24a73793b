"""The store: every turn, its citations and the steps that produced it, in SQL (SQLite by default).

`LogStore` is the one object the assistant, the API, the review console and the command line use. It
opens the database, upgrades its schema to the latest migration and hands each kind of work to its part:

  turns.py    the turn log (redacted as it is written), feedback, deleting a conversation, retention
  reviews.py  the console's filters, backlog order, conversations and staff verdicts
  stats.py    the dashboard's numbers
  curation.py reviewed answers, answers stopped as unsafe, flagged passages
  staff.py    console accounts and lockout
  models.py   the tables;  db.py  the engine and the migrations;  redact.py  personal details out
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Iterator

from sqlalchemy.orm import sessionmaker

from .curation import Curation
from .db import make_engine, upgrade
from .models import Review, Staff, Turn, new_session_id
from .reviews import Reviews, TurnFilter, TurnRow
from .staff import StaffAccounts
from .stats import stats
from .turns import PurgeReport, TurnLog

__all__ = ["LogStore", "PurgeReport", "TurnFilter", "TurnRow", "new_session_id"]


class LogStore:
    """One database, upgraded on start; its parts are `turns`, `reviews` and `staff`."""

    def __init__(self, url: str):
        self.engine = make_engine(url)
        upgrade(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.turns = TurnLog(self.engine, self.sessions)
        self.reviews = Reviews(self.sessions)
        self.staff = StaffAccounts(self.sessions)
        self.curation = Curation(self.sessions)

    # ---- the assistant's side (turns.py) -----------------------------------------------------------
    def history(self, session_id: str, limit: int = 6) -> list[Turn]:
        return self.turns.history(session_id, limit)

    def record(self, session_id: str, **fields) -> Turn:
        return self.turns.record(session_id, **fields)

    def add_feedback(self, turn_id: str, rating: str, comment: str | None) -> bool:
        return self.turns.add_feedback(turn_id, rating, comment)

    def delete_session(self, session_id: str) -> int:
        return self.turns.delete_session(session_id)

    def get_turn(self, turn_id: str) -> Turn | None:
        return self.turns.get_turn(turn_id)

    def count_turns(self) -> int:
        return self.turns.count_turns()

    def purge(self, older_than: timedelta, now: datetime | None = None, dry_run: bool = False) -> PurgeReport:
        return self.turns.purge(older_than, now=now, dry_run=dry_run)

    # ---- the review console (reviews.py, stats.py) -----------------------------------------------------
    def add_review(self, turn_id: str, reviewer: str, verdict: str, note: str | None = None,
                   corrected_answer: str | None = None) -> Review | None:
        return self.reviews.add_review(turn_id, reviewer, verdict, note, corrected_answer)

    def list_turns(self, f: TurnFilter, limit: int = 50, offset: int = 0) -> tuple[list[TurnRow], int]:
        return self.reviews.list_turns(f, limit=limit, offset=offset)

    def iter_turns(self, f: TurnFilter, batch: int = 500) -> Iterator[TurnRow]:
        return self.reviews.iter_turns(f, batch=batch)

    def conversation(self, session_id: str) -> list[TurnRow]:
        return self.reviews.conversation(session_id)

    def stats(self, days: int = 30, now: datetime | None = None) -> dict:
        return stats(self.sessions, days=days, now=now)

    # ---- console accounts (staff.py) ----------------------------------------------------------------------
    def add_staff(self, username: str, password_hash: str) -> bool:
        return self.staff.add_staff(username, password_hash)

    def get_staff(self, username: str) -> Staff | None:
        return self.staff.get_staff(username)

    def list_staff(self) -> list[Staff]:
        return self.staff.list_staff()

    def remove_staff(self, username: str) -> bool:
        return self.staff.remove_staff(username)

    def set_password(self, username: str, password_hash: str) -> bool:
        return self.staff.set_password(username, password_hash)

    def login_succeeded(self, username: str, password_hash: str | None = None) -> None:
        self.staff.login_succeeded(username, password_hash)

    def login_failed(self, username: str, lock_after: int, lock_for: timedelta) -> None:
        self.staff.login_failed(username, lock_after, lock_for)

    def end_sessions(self, username: str) -> None:
        self.staff.end_sessions(username)

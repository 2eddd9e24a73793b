"""Console accounts: argon2 password hashes (hashed by the console), sign-in bookkeeping and lockout."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import sessionmaker

from .models import Staff, utcnow


class StaffAccounts:
    def __init__(self, sessions: sessionmaker):
        self.sessions = sessions

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
        """A new password also ends every session of the account and lifts a lockout."""
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
        """Sign the account out everywhere: cookies issued before now stop working."""
        with self.sessions.begin() as db:
            db.execute(update(Staff).where(Staff.username == username).values(session_epoch=Staff.session_epoch + 1))

"""The database: the engine (SQLite by default, or PostgreSQL), the write path, and the schema migrations.

The schema is managed by the Alembic migrations in migrations/, next to this module; `upgrade` brings
a database to the latest one (the log does this on every start), `downgrade` steps back.

Writes go through `Writes.run`, so that a busy database delays an answer's log entry instead of losing
it: on SQLite the writes of one process take turns on a lock of their own (SQLite lets one writer in at a
time, and threads that wait on a lock sleep instead of polling the file), every write transaction takes
the write lock up front (BEGIN IMMEDIATE) and waits for it up to MSA_DB_BUSY_TIMEOUT; on both databases a
transaction that still meets contention (SQLite busy or locked, PostgreSQL serialization failures and
deadlocks) is run again, after a short randomised pause, for up to RETRY_FOR seconds.
"""

from __future__ import annotations

import logging
import os
import random
import sqlite3
import threading
import time
from pathlib import Path
from typing import Callable, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")  # next to this module, in the store package

# PostgreSQL: serialization_failure, deadlock_detected, lock_not_available; the transaction was rolled back
RETRY_SQLSTATES = {"40001", "40P01", "55P03"}
SQLITE_BUSY_WORDS = ("database is locked", "database is busy", "database table is locked")
RETRY_ATTEMPTS = 8  # runs of one write at most
RETRY_FOR = 60.0  # seconds: no new run starts after this long
RETRY_FIRST_PAUSE = 0.05  # seconds, doubled after each run (randomised), up to RETRY_MAX_PAUSE
RETRY_MAX_PAUSE = 2.0

T = TypeVar("T")


def sqlite_path(url) -> Path | None:
    """The file of a SQLite URL; None for another database, an in-memory one or a `file:` URI."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if not database or database == ":memory:" or database.startswith("file:") or parsed.query.get("uri"):
        return None
    return Path(database)


def _private_file(path: Path) -> None:
    """Create the database file readable by its owner only (0600, like the console's secret key); SQLite
    gives its -wal and -shm files the database file's permissions. A file already there with wider
    permissions is narrowed, when it is ours."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))  # an empty file is an empty database
        return
    except FileExistsError:
        pass
    for part in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            st = part.stat()
            if st.st_mode & 0o077 and st.st_uid == os.geteuid():
                os.chmod(part, 0o600)
        except OSError:
            pass  # absent, or not ours to change


def _default_busy_timeout() -> float:
    from ..config import get_settings

    return get_settings().db_busy_timeout


def make_engine(url: str, busy_timeout: float | None = None) -> Engine:
    """`busy_timeout`: seconds a SQLite write waits for another writer (default MSA_DB_BUSY_TIMEOUT)."""
    path = sqlite_path(url)
    if path is not None:
        _private_file(path)
    # pre-ping (a test query before each use of a pooled connection) guards against dropped network
    # connections; a SQLite file has none, and every chat turn would pay for it
    engine = create_engine(url, future=True, pool_pre_ping=not url.startswith("sqlite"))
    if engine.dialect.name == "sqlite":
        wait_ms = int(1000 * (_default_busy_timeout() if busy_timeout is None else busy_timeout))

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # WAL lets the console read while the assistant writes
            # the driver opens a transaction before the first INSERT/UPDATE/DELETE (reads stay outside one):
            # IMMEDIATE takes the write lock there, waiting for it, so a write never fails halfway through
            dbapi_conn.isolation_level = "IMMEDIATE"
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable across app crashes, one fsync less per turn
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={max(0, wait_ms)}")
            cur.close()

        @event.listens_for(engine, "checkout")
        def _immediate(dbapi_conn, _record, _proxy):  # kept when a pooled connection's isolation was reset
            if dbapi_conn.isolation_level == "":
                dbapi_conn.isolation_level = "IMMEDIATE"

    return engine


def is_contention(exc: BaseException) -> bool:
    """Whether a database error means "busy: the same transaction may succeed if run again"."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if getattr(orig, "sqlstate", None) in RETRY_SQLSTATES:
        return True
    if isinstance(orig, sqlite3.OperationalError):
        name = getattr(orig, "sqlite_errorname", "") or ""
        return name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or any(w in str(orig).lower() for w in SQLITE_BUSY_WORDS)
    return False


_file_locks: dict[str, threading.Lock] = {}
_file_locks_guard = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    key = os.path.realpath(path)
    with _file_locks_guard:
        return _file_locks.setdefault(key, threading.Lock())


class Writes:
    """Runs the write transactions of one engine: in turn per SQLite file in this process, and again on
    contention (see the module's docstring)."""

    def __init__(self, engine: Engine, attempts: int = RETRY_ATTEMPTS, retry_for: float = RETRY_FOR):
        self.engine = engine
        self.attempts, self.retry_for = attempts, retry_for
        path = sqlite_path(engine.url)
        self._lock = _lock_for(path) if path is not None else None

    def run(self, transaction: Callable[[], T]) -> T:
        """Run `transaction` (a function that opens, does and commits one transaction, and may be called
        again after a rollback) until it succeeds; an error that is not contention, or contention past the
        limits, is raised."""
        started = time.monotonic()
        pause = RETRY_FIRST_PAUSE
        for attempt in range(1, self.attempts + 1):
            try:
                if self._lock is None:
                    return transaction()
                with self._lock:
                    return transaction()
            except DBAPIError as exc:
                if not is_contention(exc) or attempt == self.attempts or time.monotonic() - started > self.retry_for:
                    raise
                log.debug("database busy (%s); running the write again (run %d)", exc.orig, attempt + 1)
            time.sleep(random.uniform(pause / 2, pause))
            pause = min(pause * 2, RETRY_MAX_PAUSE)
        raise AssertionError("unreachable")  # the last run returns or raises


def _alembic_config():
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    cfg = _alembic_config()

    def run() -> None:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)

    Writes(engine).run(run)  # several workers start at once, and each upgrades


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)

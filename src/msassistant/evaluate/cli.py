"""Command line for training and evaluation: `msassistant triage train`, `msassistant eval triage FILE`,
`msassistant eval cases FILE...`, `msassistant eval redaction FILE`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

triage_app = typer.Typer(help="The learned triage net: train it from the labelled messages in the repository.",
                         no_args_is_help=True)
answerable_app = typer.Typer(help="The learned answerability net: train it from the labelled questions in the "
                             "repository, against the built index.", no_args_is_help=True)
eval_app = typer.Typer(help="Measure the assistant on a case file.", no_args_is_help=True)


def _embeddings():
    from ..config import get_settings
    from ..index.embeddings import EmbeddingModelError, SentenceTransformerEmbeddings

    try:
        return SentenceTransformerEmbeddings(get_settings().embedding_model)
    except EmbeddingModelError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1)


@triage_app.command("train")
def train(
    out: Annotated[Optional[Path], typer.Option("--out", help="Where to write the model (default: the shipped one).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Train the learned net on rules/triage/train.jsonl (never on heldout.jsonl) and write its weights."""
    from .triage import train as run

    report = run(_embeddings(), out=out, progress=not quiet)
    typer.echo(json.dumps(report, indent=2))


@answerable_app.command("train")
def train_answerable(
    out: Annotated[Optional[Path], typer.Option("--out", help="Where to write the model (default: the shipped one).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Train the answerability net on rules/answerable/train.jsonl (never on the eval sets) and write its weights."""
    from ..config import get_settings
    from ..pipeline.assistant import Assistant
    from .answerable import train as run

    settings = get_settings().model_copy(update={"answerable_net": False})
    assistant = Assistant(settings, embeddings=_embeddings(), llm=None)
    assistant.ensure_index(progress=not quiet)
    typer.echo(json.dumps(run(assistant, out=out, progress=not quiet), indent=2))


@eval_app.command("triage")
def triage(
    cases: Annotated[Path, typer.Argument(help="A JSONL case file: triage cases or the shared conversation format.")],
    net: Annotated[str, typer.Option("--net", help="both, rules or learned.")] = "both",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    misses: Annotated[bool, typer.Option("--misses", help="Also list the messages triage got wrong.")] = False,
) -> None:
    """Recall per level, false alarms and a confusion table of red-flag triage on CASES."""
    from ..config import get_settings
    from ..pipeline.triage_net import StaleTriageModel, Triager
    from .triage import measure, read_cases

    if net not in ("both", "rules", "learned"):
        raise typer.BadParameter("--net is both, rules or learned")
    try:
        rows = read_cases(cases)
    except (OSError, ValueError) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1)
    s = get_settings()
    try:
        triager = Triager(_embeddings(), emergency_number=s.emergency_number, crisis_line=s.crisis_line,
                          learned=net != "rules", rules=net != "learned")
    except StaleTriageModel as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1)

    def decide(text: str) -> tuple[str, str]:
        tri, _ = triager(text)
        return tri.level or "none", tri.net or ""

    report = measure(rows, decide)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
        return
    typer.echo(f"{cases}: {report.n} messages, triage by {net} net{'s' if net == 'both' else ''}\n")
    typer.echo(report.table())
    typer.echo(f"\nflags raised by: {dict(report.by_net)}")
    if misses:
        typer.echo("\nwrong:")
        for truth, got, text in report.misses:
            typer.echo(f"- [{truth} -> {got}] {text[:160]}")


@eval_app.command("cases")
def cases(
    files: Annotated[list[Path], typer.Argument(help="JSONL conversation cases (the shared eval format).")],
    url: Annotated[Optional[str], typer.Option("--url", help="Evaluate a running server instead of this process.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    misses: Annotated[bool, typer.Option("--misses", help="Also list the cases that failed and why.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Category, gold passages (hit@1/3), key facts, noise, reading grade and triage, per file and in all."""
    import tempfile

    from ..config import get_settings
    from . import cases as ev

    settings = get_settings()
    try:
        rows = ev.read_cases(files)
    except (OSError, ValueError) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1)
    for problem in ev.gold_problems(rows, settings.corpus_path):
        typer.secho(f"warning: {problem}", fg=typer.colors.YELLOW, err=True)
    headlines = ev.corpus_headlines(settings.corpus_path)
    with tempfile.TemporaryDirectory(prefix="msa-eval-") as tmp:
        send = ev.over_http(url) if url else ev.in_process(settings, Path(tmp))
        outcomes = ev.run(rows, send, headlines, progress=not quiet)
    if as_json:
        groups = {}
        for o in outcomes:
            groups.setdefault(o.case.file, []).append(o)
        typer.echo(json.dumps({"all": ev.figures(outcomes), **{k: ev.figures(v) for k, v in groups.items()}}, indent=2))
        return
    typer.echo(f"{len(rows)} cases from {len(files)} file{'s' if len(files) > 1 else ''}, "
               f"{'over ' + url if url else 'in process'}\n")
    typer.echo(ev.table(outcomes))
    if misses:
        typer.echo("\nfailed:")
        for o in outcomes:
            for problem in o.problems():
                typer.echo(f"- {o.case.file} {o.case.id}: {problem} :: {o.case.turns[-1][:100]}")


@eval_app.command("paraphrases")
def paraphrases(
    files: Annotated[list[Path], typer.Argument(help="JSONL conversation cases with gold sources and phrases.")],
) -> None:
    """How similar a question must be to a reviewed one for the reviewed answer to be served to it."""
    from . import cases as ev
    from . import paraphrase

    try:
        rows = ev.read_cases(files)
    except (OSError, ValueError) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1)
    questions, pair_list = paraphrase.pairs(rows)
    if not pair_list:
        typer.secho("error: no single-turn cases with gold sources and phrases", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1)
    import numpy as np

    from ..pipeline.curation import comparable
    from ..pipeline.vocabulary import vocabulary

    vocab = vocabulary()
    vectors = np.asarray(_embeddings().embed_documents([comparable(q, vocab) for q in questions]), dtype=np.float32)
    table = paraphrase.sweep(vectors, pair_list)
    typer.echo(f"{len(questions)} questions, {table[0]['paraphrases']} paraphrase pairs, {table[0]['others']} other pairs\n")
    typer.echo("| threshold | paraphrases served | other questions served (false matches) |\n|---|---|---|")
    for r in table:
        typer.echo(f"| {r['threshold']:.2f} | {100 * r['recall']:.1f}% | {100 * r['false_matches']:.2f}% |")
    chosen = paraphrase.choose(table)
    typer.echo(f"\nlowest threshold with at most {100 * paraphrase.MAX_FALSE:.1f}% false matches: "
               f"{chosen if chosen is not None else 'none'} (MSA_REVIEWED_SIMILARITY)")


@eval_app.command("redaction")
def redaction(
    cases: Annotated[Path, typer.Argument(help="A JSONL file of messages with their name spans (eval/redaction/).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of lines.")] = False,
    misses: Annotated[bool, typer.Option("--misses", help="Also list the names missed and the words wrongly "
                                                          "redacted (on the dev set only).")] = False,
) -> None:
    """Name recall, false redactions and time per message of the redaction of personal names on CASES."""
    from ..store.redact import name_spans, redact
    from .redaction import measure, read_messages

    try:
        rows = read_messages(cases)
    except (OSError, ValueError) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1)
    report = measure(rows, name_spans, redact)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
        return
    typer.echo(f"{cases}: {report.messages} messages\n")
    typer.echo("\n".join(report.lines()))
    if misses:
        texts = {r.id: r.text for r in rows}
        typer.echo("\nmisses:")
        for row_id, kind, words in report.misses:
            typer.echo(f"- {row_id} [{kind}: {words}] {texts[row_id][:160]}")

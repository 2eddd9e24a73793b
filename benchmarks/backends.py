"""The embedding backends side by side, in one run (part of `python -m benchmarks.run`; this part alone:
`python -m benchmarks.backends`).

- **turns**: `Assistant.reply` with each backend over the shipped corpus (an index of its own per backend),
  interleaved question by question with the vanilla LangChain turn (`Chroma.similarity_search`, queries
  embedded by `SentenceTransformer.encode` on torch, as LangChain's integration does), after one untimed pass.
- **ingest**: a fresh in-process ingest of the generated 1,000-document corpus per backend (chunks per
  second: chunk vectors and the sentence vectors of the search snapshot), and `msassistant ingest` of the
  same corpus in a child process for its peak RSS.

ONNX exports are made before anything is timed, into bench-data/models (kept between runs).
"""

from __future__ import annotations

import shutil
import time

from benchmarks import scale
from benchmarks.stats import ms, percentile, progress

BACKENDS = ("torch", "onnx-int8")
INGEST_DOCS = 1000


def _embeddings(backend: str):
    from msassistant.index.embeddings import SentenceTransformerEmbeddings

    emb = SentenceTransformerEmbeddings(backend=backend, cache=scale.BENCH_DATA / "models")
    emb.embed_query("warm up")  # loads (and on first use exports) the model outside any timing
    return emb


def _ingest(backend: str, emb, corpus, log) -> dict:
    from benchmarks.run import close_assistant, open_assistant, timed_ingest
    from benchmarks.serving import cli_ingest

    home = scale.BENCH_DATA / f"backend-{backend}-{INGEST_DOCS}"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    log(f"{backend}: fresh ingest of {INGEST_DOCS} documents in process")
    bot = open_assistant(home, corpus, emb)
    start = time.perf_counter()
    ingest = timed_ingest(bot)
    _ = bot.search  # the sentence vectors of the search snapshot are embedded here, at the end of an ingest
    total = time.perf_counter() - start
    ingest.update(with_snapshot_s=round(total, 2), chunks_per_s_with_snapshot=round(ingest["chunks_embedded"] / total, 1),
                  sentences=len(bot.search.sentences or []))
    close_assistant(bot)
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    log(f"{backend}: msassistant ingest of {INGEST_DOCS} documents in a child process (peak RSS)")
    child = cli_ingest(home, corpus, show_progress=False,
                       env={"MSA_EMBEDDING_BACKEND": backend, "MSA_MODEL_CACHE_DIR": str(scale.BENCH_DATA / "models")})
    shutil.rmtree(home, ignore_errors=True)
    return {**ingest, "cli_wall_s": child["wall_s"], "cli_peak_rss_mib": child["peak_rss_mib"]}


def _turns(assistants: dict, torch_model, repeats: int) -> dict:
    from langchain_chroma import Chroma

    from benchmarks.questions import QUESTIONS
    from benchmarks.run import StockEmbeddings

    base = assistants["torch"]
    vanilla = Chroma(client=base.index.client, collection_name=base.settings.collection,
                     embedding_function=StockEmbeddings(torch_model))
    kinds = {f"turn_{b}": (lambda bot: lambda q: bot.reply(q))(bot) for b, bot in assistants.items()}
    kinds["langchain"] = lambda q: vanilla.similarity_search(q, k=4)
    names = list(kinds)
    for q in QUESTIONS:
        for f in kinds.values():
            f(q)
    times: dict[str, list[float]] = {k: [] for k in kinds}
    cpu: dict[str, list[float]] = {k: [] for k in kinds}
    steps = [(r, i, q) for r in range(repeats) for i, q in enumerate(QUESTIONS)]
    for r, i, q in progress(steps, "backends: turns"):
        shift = (i + r) % len(names)
        for name in names[shift:] + names[:shift]:
            start, start_cpu = time.perf_counter(), time.process_time()
            kinds[name](q)
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    return {name: {**ms(values), "cpu_p50_ms": round(1000 * percentile(cpu[name], 50), 2)}
            for name, values in times.items()}


def measure(repeats: int, log) -> dict:
    from benchmarks.run import close_assistant, open_assistant, ratio

    corpus = scale.generate(INGEST_DOCS, scale.corpus_dir_for(INGEST_DOCS), progress=True)
    out: dict = {"backends": list(BACKENDS), "ingest_documents": INGEST_DOCS, "ingest": {}}
    models = {b: _embeddings(b) for b in BACKENDS}
    for backend in BACKENDS:
        out["ingest"][backend] = _ingest(backend, models[backend], corpus, log)
    assistants = {}
    for backend in BACKENDS:
        home = scale.BENCH_DATA / f"backend-{backend}-5"
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        assistants[backend] = open_assistant(home, scale.CORPUS, models[backend])
        assistants[backend].ensure_index()
    log("turns per backend and the vanilla LangChain turn, interleaved")
    out["turns"] = _turns(assistants, models["torch"].model, repeats)
    for bot in assistants.values():
        close_assistant(bot)
    lc = out["turns"]["langchain"]["p50_ms"]
    out["turn_over_langchain"] = {b: ratio(out["turns"][f"turn_{b}"]["p50_ms"], lc) for b in BACKENDS}
    torch_rate = out["ingest"]["torch"]["chunks_per_s"]
    out["ingest_speedup"] = {b: ratio(out["ingest"][b]["chunks_per_s"], torch_rate) for b in BACKENDS}
    return out


def write_docs(result: dict) -> None:
    """The backends' tables and targets into docs/benchmarks.md, between their own markers."""
    from benchmarks.report import backend_tables
    from benchmarks.targets import backend_targets

    targets = backend_targets(result)
    lines = [f"Run: `python -m benchmarks.backends` on {result['date']} ({result['machine']}).", ""]
    lines += ["| target | measured | limit | |", "|---|---:|---:|---|"]
    lines += [f"| {k.replace('_', ' ')} | {v['value']} | {v['limit']} | {'met' if v['met'] else 'NOT met'} |"
              for k, v in targets.items()]
    lines += backend_tables(result)
    doc = scale.REPO / "docs" / "benchmarks.md"
    text = doc.read_text()
    start, end = "<!-- backends:start -->", "<!-- backends:end -->"
    block = f"{start}\n<!-- written by `python -m benchmarks.backends --write-docs`; edit outside the markers -->\n\n" \
            + "\n".join(lines) + f"\n{end}"
    doc.write_text(text[:text.index(start)] + block + text[text.index(end) + len(end):])


def main() -> None:
    """`python -m benchmarks.backends [--write-docs]`: this part alone (the full benchmark runs it too)."""
    import argparse
    import json
    import os
    from datetime import datetime, timezone

    from benchmarks.run import log  # importing the run clears MSA_* settings, as for the whole run

    parser = argparse.ArgumentParser(description="The embedding backends side by side.")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write-docs", action="store_true", help="Rewrite the backends block of docs/benchmarks.md.")
    args = parser.parse_args()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    load = os.getloadavg()[0]
    result = measure(repeats=args.repeats, log=log)
    result.update(date=started, machine=f"{os.cpu_count()} CPU cores; load average {load:.2f} at the start, "
                                       f"{os.getloadavg()[0]:.2f} at the end")
    (scale.BENCH_DATA / "results-backends.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    if args.write_docs:
        write_docs(result)


if __name__ == "__main__":
    main()

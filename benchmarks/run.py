"""The msassistant benchmark: prints one JSON object with latency, throughput, ingest and start-up figures.

    .venv/bin/python -m benchmarks.run --quick     # about a minute
    .venv/bin/python -m benchmarks.run             # full: 5, 1,000 and 10,000 documents
    .venv/bin/python -m benchmarks.run --write-docs   # also writes docs/benchmarks.md and .png

Everything is measured in the same run, so ratios compare like with like: a turn (Assistant.reply:
triage, scope, retrieval, composing, the log write), the bare cost of one query embedding plus one
chromadb vector search, and a vanilla LangChain retriever (`langchain_chroma.Chroma(...)
.similarity_search(q, k=4)`) over the same collection with the same model, embedding queries the way
LangChain's sentence-transformers integration does (`SentenceTransformer.encode`). A second LangChain
figure drives msassistant's own embeddings class instead. All are interleaved question by question,
so that a busy machine slows them alike.

Progress goes to stderr; stdout holds only the JSON. State lives in bench-data/ (git-ignored): the
generated corpora, their indexes (reused by later runs when unchanged) and the last results.
No timing is asserted here or in the tests: targets are reported, see docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

if __package__ in (None, ""):  # run as `python benchmarks/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# The benchmark defines its own setup: no model hub, and no MSA_* settings from the caller's shell
# (a MSA_CHROMA_URL or MSA_DATABASE_URL would point every corpus size at one shared store).
# MSA_TORCH_THREADS is kept: it is what a before/after comparison of the thread setting varies.
for _key in [k for k in os.environ if k.startswith("MSA_") and k != "MSA_TORCH_THREADS"]:
    del os.environ[_key]
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from benchmarks import scale  # noqa: E402
from benchmarks.questions import QUESTIONS  # noqa: E402
from benchmarks.serving import RATE_LIMIT, Server, cli_ingest, http_sequential, http_throughput  # noqa: E402
from benchmarks.stats import ms, percentile, progress  # noqa: E402
from benchmarks.targets import check_targets  # noqa: E402

REPO = scale.REPO
CORPUS = scale.CORPUS
BENCH_DATA = scale.BENCH_DATA


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if b else None


def peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# ---- in-process -------------------------------------------------------------------------------
def make_settings(home: Path, corpus: Path):
    from msassistant.config import Settings

    return Settings(home=home, corpus_dir=corpus, rate_limit=RATE_LIMIT)


def open_assistant(home: Path, corpus: Path, embeddings):
    from msassistant.pipeline.assistant import Assistant

    return Assistant(make_settings(home, corpus), embeddings=embeddings)


def close_assistant(assistant) -> None:
    try:
        assistant.logstore.engine.dispose()
    except Exception:  # the log store is someone else's object: closing it is best effort
        pass
    del assistant
    gc.collect()


class StockEmbeddings:
    """Query embeddings as a LangChain user gets them from `langchain_huggingface.HuggingFaceEmbeddings`
    with `normalize_embeddings=True`: `SentenceTransformer.encode(...).tolist()`, on the same loaded model.
    (That package pins huggingface-hub below 2, which sentence-transformers 6 no longer allows, so its
    two calls are written out here.)"""

    def __init__(self, model):
        self.model = model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.model.encode(texts, normalize_embeddings=True, show_progress_bar=False).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


SIZE_KEYS = ("documents", "chunks", "turn", "bare", "langchain", "langchain_own_embeddings", "turn_over_bare",
             "turn_over_langchain", "turn_over_langchain_own_embeddings")


def measure_turns(assistant, repeats: int, desc: str) -> dict:
    """Turn vs bare vs LangChain, question by question, in a rotating order; one untimed pass first."""
    from langchain_chroma import Chroma

    emb = assistant.embeddings
    collection = assistant.index.collection

    def chroma(embedding_function):
        return Chroma(client=assistant.index.client, collection_name=assistant.settings.collection,
                      embedding_function=embedding_function)

    stock = emb if emb.backend == "torch" else type(emb)(backend="torch")  # vanilla LangChain runs torch
    baseline, baseline_own = chroma(StockEmbeddings(stock.model)), chroma(emb)
    categories: list[str] = []

    def turn(q: str):
        return assistant.reply(q)

    def bare(q: str):
        return collection.query(query_embeddings=[emb.embed_query(q)], n_results=4)

    def langchain(q: str):
        return baseline.similarity_search(q, k=4)

    def langchain_own_embeddings(q: str):
        return baseline_own.similarity_search(q, k=4)

    kinds = {"turn": turn, "bare": bare, "langchain": langchain, "langchain_own_embeddings": langchain_own_embeddings}
    names = list(kinds)
    for q in QUESTIONS:  # warm: first calls build caches, load the search, open connections
        for f in kinds.values():
            f(q)
    times: dict[str, list[float]] = {k: [] for k in kinds}
    cpu: dict[str, list[float]] = {k: [] for k in kinds}
    answer_times: list[float] = []
    steps = [(r, i, q) for r in range(repeats) for i, q in enumerate(QUESTIONS)]
    for r, i, q in progress(steps, desc):
        shift = (i + r) % len(names)
        for name in names[shift:] + names[:shift]:
            start, start_cpu = time.perf_counter(), time.process_time()
            out = kinds[name](q)
            elapsed = time.perf_counter() - start
            times[name].append(elapsed)
            cpu[name].append(time.process_time() - start_cpu)
            if name == "turn":
                categories.append(out.category)
                if out.category == "answer":
                    answer_times.append(elapsed)
    # CPU time (all threads of this process) per call: what the wall time would be on an idle machine,
    # give or take waiting on disk; on a busy machine wall time includes waiting for a core.
    result = {name: {**ms(values), "cpu_p50_ms": round(1000 * percentile(cpu[name], 50), 2)}
              for name, values in times.items()}
    result["turn_answers_only"] = ms(answer_times)
    result["categories"] = {c: categories.count(c) for c in sorted(set(categories))}
    result["turn_over_bare"] = ratio(result["turn"]["p50_ms"], result["bare"]["p50_ms"])
    result["turn_over_langchain"] = ratio(result["turn"]["p50_ms"], result["langchain"]["p50_ms"])
    result["turn_over_langchain_own_embeddings"] = ratio(result["turn"]["p50_ms"],
                                                         result["langchain_own_embeddings"]["p50_ms"])
    return result


def timed_ingest(assistant) -> dict:
    """The incremental ingest alone (read, hash, compare, embed what changed); the search is loaded apart."""
    from msassistant.index.store import sync_corpus as ingest

    start = time.perf_counter()
    report = ingest(assistant.settings, assistant.index)
    elapsed = time.perf_counter() - start
    return {"seconds": round(elapsed, 3), "chunks_embedded": report.chunks_embedded,
            "documents_embedded": len(report.added) + len(report.updated), "unchanged": len(report.unchanged),
            "chunks_per_s": round(report.chunks_embedded / elapsed, 1) if report.chunks_embedded else None}


# ---- the run ---------------------------------------------------------------------------------
def run(quick: bool, rebuild: bool) -> dict:
    import torch

    from msassistant.index.embeddings import SentenceTransformerEmbeddings

    started = time.perf_counter()
    repeats = 2 if quick else 5
    BENCH_DATA.mkdir(exist_ok=True)
    result: dict = {
        "mode": "quick" if quick else "full",
        "command": "python -m benchmarks.run" + (" --quick" if quick else ""),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
                    "torch_threads": None, "load_average_at_start": [round(x, 2) for x in os.getloadavg()]},
        "questions": len(QUESTIONS),
        "repeats": repeats,
    }

    # 1. model, fresh ingest of the shipped corpus, unchanged re-ingest, turn latency at 5 documents
    log("loading the embedding model")
    start = time.perf_counter()
    embeddings = SentenceTransformerEmbeddings()
    embeddings.embed_query("warm up")
    result["model_load_s"] = round(time.perf_counter() - start, 2)
    result["machine"]["torch_threads"] = torch.get_num_threads()  # as the model loader set it

    home5 = BENCH_DATA / "home-5"
    shutil.rmtree(home5, ignore_errors=True)
    home5.mkdir(parents=True)
    bot = open_assistant(home5, CORPUS, embeddings)
    log("ingesting the shipped corpus into an empty index")
    fresh = timed_ingest(bot)
    again = timed_ingest(bot)
    result["ingest"] = {"shipped_corpus_fresh": fresh, "shipped_corpus_unchanged": again}
    log("turns at 5 documents (turn, bare embed+search and LangChain, interleaved)")
    at5 = measure_turns(bot, repeats, "5 documents")
    at5.update(documents=5, chunks=bot.index.count())
    result["in_process"] = {k: at5[k] for k in ("turn", "turn_answers_only", "bare", "langchain",
                                                "langchain_own_embeddings", "categories")}
    result["bare_embed_plus_search"] = at5["bare"]
    result["langchain_baseline"] = at5["langchain"]
    result["turn_over_bare"] = at5["turn_over_bare"]
    result["turn_over_langchain"] = at5["turn_over_langchain"]
    result["turn_over_langchain_own_embeddings"] = at5["turn_over_langchain_own_embeddings"]
    close_assistant(bot)
    by_size = [{k: at5[k] for k in SIZE_KEYS}]

    # 2. generated corpora
    sizes = [1000] if quick else [1000, 10000]
    notes = []
    if quick and not scale.index_exists(scale.scale_home(1000)):
        sizes = [100]
        notes.append("quick mode: no built 1,000-document index in bench-data/ yet (a full run builds it), "
                     "so the scale point is a 100-document corpus built in this run")
    scale_results = []
    for n_docs in sizes:
        corpus = scale.generate(n_docs, scale.corpus_dir_for(n_docs), progress=True)
        home = scale.scale_home(n_docs)
        entry: dict = {"documents": n_docs}
        if n_docs == 10000:
            if rebuild:
                shutil.rmtree(home, ignore_errors=True)
            home.mkdir(parents=True, exist_ok=True)
            log(f"msassistant ingest of {n_docs} documents in a child process (builds the index when missing)")
            build = cli_ingest(home, corpus, show_progress=True)
            if build["chunks_embedded"]:
                build.update(date=result["date"], chunks_per_s=round(build["chunks_embedded"] / build["wall_s"], 1))
                (home / "build.json").write_text(json.dumps(build, indent=2))
                entry["build"] = {**build, "in_this_run": True}
            else:
                recorded = scale.build_record(home)
                entry["build"] = {**(recorded or {}), "in_this_run": False}
                notes.append(f"the {n_docs}-document index was built by an earlier run ({(recorded or {}).get('date')}); "
                             "`--rebuild` builds it again")
        else:
            if not quick or n_docs != 1000:
                shutil.rmtree(home, ignore_errors=True)  # full runs (and the quick fallback) time a fresh build
            home.mkdir(parents=True, exist_ok=True)
            bot = open_assistant(home, corpus, embeddings)
            log(f"ingesting {n_docs} documents in process")
            entry["ingest"] = timed_ingest(bot)
            close_assistant(bot)
        log(f"unchanged re-ingest of {n_docs} documents with the CLI (child process, start-up included)")
        entry["reingest_unchanged_cli"] = cli_ingest(home, corpus, show_progress=False)
        bot = open_assistant(home, corpus, embeddings)
        entry["reingest_unchanged_in_process"] = timed_ingest(bot)
        # the same check the way it worked before documents were hashed ahead of cleaning (for before/after)
        from msassistant.corpus.ingest import load_corpus

        start = time.perf_counter()
        bot.index.sync(*load_corpus(corpus))
        entry["reingest_unchanged_cleaning_every_document_s"] = round(time.perf_counter() - start, 3)
        start = time.perf_counter()
        _ = bot.search
        entry["search_load_s"] = round(time.perf_counter() - start, 2)  # from the snapshot the ingest saved
        from msassistant.index.search import HybridSearch

        start = time.perf_counter()
        HybridSearch._build(bot.index, "")  # what loading cost before snapshots: read chromadb, tokenise, BM25
        entry["search_build_from_chromadb_s"] = round(time.perf_counter() - start, 2)
        entry["snapshot_mib"] = round(sum(f.stat().st_size for f in bot.index.snapshot_path.rglob("*") if f.is_file())
                                      / 2**20, 1)
        entry["chunks"] = bot.index.count()
        log(f"turns at {n_docs} documents")
        measured = measure_turns(bot, max(1, repeats // 2) if n_docs >= 10000 else repeats, f"{n_docs} documents")
        close_assistant(bot)
        entry.update({k: measured[k] for k in SIZE_KEYS if k in measured})
        scale_results.append(entry)
        by_size.append({k: entry[k] for k in SIZE_KEYS})
    result["scale"] = scale_results
    result["latency_by_corpus_size"] = by_size
    largest = by_size[-1]
    result["latency_largest_over_5"] = ratio(largest["turn"]["p50_ms"], by_size[0]["turn"]["p50_ms"])
    fresh_builds = [fresh] + [e["ingest"] for e in scale_results if "ingest" in e and e["ingest"]["chunks_embedded"]]
    biggest = max(fresh_builds, key=lambda b: b["chunks_embedded"])
    result["ingest_chunks_per_s"] = biggest["chunks_per_s"]
    result["ingest_rate_measured_on_chunks"] = biggest["chunks_embedded"]

    # 3. the real server on loopback
    log("starting msassistant serve on the built 5-document index")
    server = Server(home5, CORPUS)
    http_result: dict = {"server_ready_s": server.ready_s, "server_ready_cpu_s": server.ready_cpu_s}
    try:
        http_result["turn"] = http_sequential(server.port, repeats)
        levels = {1: 20 if quick else 60, 8: 64 if quick else 200, 32: 96 if quick else 320}
        http_result["throughput"] = []
        for concurrency, requests in levels.items():
            log(f"throughput at concurrency {concurrency} ({requests} turns)")
            http_result["throughput"].append(http_throughput(server, concurrency, requests))
        http_result["server_peak_rss_mib"] = server.peak_rss_mib()
    finally:
        server.stop()
    http_result["turn_over_bare"] = ratio(http_result["turn"]["p50_ms"], at5["bare"]["p50_ms"])
    http_result["overhead_over_in_process_p50_ms"] = round(http_result["turn"]["p50_ms"] - at5["turn"]["p50_ms"], 2)
    result["http"] = http_result

    if not quick:
        log("starting msassistant serve --workers 2 on the 5-document index")
        server = Server(home5, CORPUS, workers=2)
        try:
            result["http_workers_2"] = {"server_ready_s": server.ready_s,
                                        "server_ready_cpu_s": server.ready_cpu_s,
                                        "throughput": [http_throughput(server, 8, 200)],
                                        "server_peak_rss_mib": server.peak_rss_mib()}
        finally:
            server.stop()
        home10k = scale.scale_home(10000)
        log("starting msassistant serve on the built 10,000-document index")
        server = Server(home10k, scale.corpus_dir_for(10000))
        try:
            result["server_ready_10k_s"] = server.ready_s
            result["server_ready_10k_cpu_s"] = server.ready_cpu_s
            result["server_10k_peak_rss_mib"] = server.peak_rss_mib()
        finally:
            server.stop()

    log("the embedding backends side by side")
    from benchmarks import backends

    result["backends"] = backends.measure(repeats, log)
    result["peak_rss_mib_benchmark_process"] = peak_rss_mib()
    result["notes"] = notes
    result["targets"] = check_targets(result)
    result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    result["elapsed_s"] = round(time.perf_counter() - started, 1)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="msassistant benchmark: prints one JSON object.")
    parser.add_argument("--quick", action="store_true", help="about a minute: 5 documents and 1,000 (or 100)")
    parser.add_argument("--rebuild", action="store_true", help="build the 10,000-document index again")
    parser.add_argument("--write-docs", action="store_true", help="write docs/benchmarks.md and docs/benchmarks.png")
    args = parser.parse_args(argv)
    result = run(quick=args.quick, rebuild=args.rebuild)
    saved = BENCH_DATA / f"results-{result['mode']}.json"
    saved.write_text(json.dumps(result, indent=2))
    if args.write_docs:
        from benchmarks import report

        report.write(result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

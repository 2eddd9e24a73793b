"""What each part of a turn and of start-up costs, measured alone (medians, in one run).

    python -m benchmarks.parts             # the shipped corpus, and the 10,000-document index when built
    python -m benchmarks.parts --docs 5    # only the shipped corpus

The per-part figures in docs/benchmarks.md come from this command. It prints one JSON object on stdout.
`benchmarks.run` must have built the indexes it uses (bench-data/home-*); the shipped corpus is indexed
here when missing. No timing is asserted anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

for _key in [k for k in os.environ if k.startswith("MSA_") and k != "MSA_TORCH_THREADS"]:
    del os.environ[_key]
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from benchmarks import scale  # noqa: E402
from benchmarks.questions import QUESTIONS  # noqa: E402


def median_ms(fn, repeats: int = 5) -> float:
    """Median over `repeats` passes of calling fn(question) for every benchmark question."""
    times = []
    for _ in range(repeats):
        for q in QUESTIONS:
            start = time.perf_counter()
            fn(q)
            times.append(time.perf_counter() - start)
    return round(1000 * statistics.median(times), 3)


def open_bot(docs: int, embeddings):
    from msassistant.config import Settings
    from msassistant.pipeline.assistant import Assistant

    home = scale.BENCH_DATA / f"home-{docs}"
    corpus = scale.CORPUS if docs == 5 else scale.corpus_dir_for(docs)
    bot = Assistant(Settings(home=home, corpus_dir=corpus), embeddings=embeddings)
    if docs == 5:
        bot.ensure_index()
    return bot


def turn_parts(bot) -> dict:
    """A turn's parts alone: what it costs besides embedding the question, and each part of that."""
    import numpy as np

    from msassistant.store.redact import redact_found, scrub
    from msassistant.pipeline.triage import triage

    bot.warm_up()
    emb, search = bot.embeddings, bot.search
    for q in QUESTIONS:
        bot.reply(q)
    vectors = {q: emb.embed_query(bot.library.expand(q).text) for q in QUESTIONS}
    real_embed = emb.embed_query
    emb.embed_query = lambda text: vectors.get(text) or real_embed(text)  # noqa: E731 - the question's vector, known
    try:
        without_embedding = median_ms(bot.reply)
    finally:
        del emb.embed_query
    steps = bot.decide("Does heat make MS fatigue worse?").steps
    reply = bot.reply("Does heat make MS fatigue worse?")
    citations = [c.model_dump() for c in reply.citations]
    s = bot.settings
    column = np.asarray(vectors[QUESTIONS[0]], dtype=np.float32)
    two = np.stack([column, np.asarray(vectors[QUESTIONS[1]], dtype=np.float32)])
    out = {
        "chunks": len(search.ids),
        "turn_without_question_embedding_ms": without_embedding,
        "log_write_ms": median_ms(lambda q: bot.logstore.record(
            uuid.uuid4().hex, message=q, answer=reply.answer, category="answer", steps=steps, citations=citations)),
        "redact_message_without_digits_ms": median_ms(redact_found),
        "scrub_turn_steps_ms": median_ms(lambda q: scrub(steps, [])),
        "triage_ms": median_ms(lambda q: triage(q, emergency_number=s.emergency_number, crisis_line=s.crisis_line)),
        "embed_query_direct_ms": median_ms(real_embed),
        "embed_query_encode_ms": median_ms(
            lambda q: emb.model.encode(q, normalize_embeddings=True, show_progress_bar=False).tolist()),
        "chromadb_query_ms": median_ms(lambda q: bot.index.collection.query(
            query_embeddings=[vectors[q]], n_results=s.candidates, include=["distances"])),
    }
    if search.vectors is not None:
        out["exact_search_ms"] = median_ms(lambda q: search.dense_many([vectors[q]], s.candidates))
        out["product_two_vectors_at_once_ms"] = median_ms(lambda q: search.vectors @ two.T)
        out["product_two_vectors_one_by_one_ms"] = median_ms(lambda q: [search.vectors @ v for v in two])
    return out


def start_up_parts(docs: int, embeddings) -> dict:
    """The start-up stages that depend on the corpus: checking it against the index, loading the search
    (from the snapshot, and as it was built from chromadb before snapshots) and the health check."""
    from msassistant.index.store import sync_corpus as ingest
    from msassistant.index.search import HybridSearch

    bot = open_bot(docs, embeddings)
    out = {}
    start = time.perf_counter()
    ingest(bot.settings, bot.index)
    out["corpus_check_s"] = round(time.perf_counter() - start, 3)
    start = time.perf_counter()
    _ = bot.search
    out["search_from_snapshot_s"] = round(time.perf_counter() - start, 3)
    start = time.perf_counter()
    HybridSearch._build(bot.index, "")
    out["search_from_chromadb_s"] = round(time.perf_counter() - start, 3)
    start = time.perf_counter()
    bot.health()
    out["health_s"] = round(time.perf_counter() - start, 3)
    start = time.perf_counter()
    bot.index.document_hashes()
    out["document_hashes_from_snapshot_s"] = round(time.perf_counter() - start, 3)
    start = time.perf_counter()
    bot.index.collection.get(where={"chunk": 0}, include=["metadatas"])
    out["document_hashes_from_chromadb_s"] = round(time.perf_counter() - start, 3)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, nargs="*", default=[5, 10000], help="corpus sizes (default: 5 10000)")
    args = parser.parse_args(argv)
    from msassistant.index.embeddings import SentenceTransformerEmbeddings

    embeddings = SentenceTransformerEmbeddings()
    result: dict = {"load_average": list(os.getloadavg())}
    for docs in args.docs:
        if docs != 5 and not (scale.BENCH_DATA / f"home-{docs}" / "index").is_dir():
            result[str(docs)] = "not built: run `python -m benchmarks.run` first"
            continue
        print(f"[parts] {docs} documents", file=sys.stderr)
        result[str(docs)] = {"start_up": start_up_parts(docs, embeddings),
                             "turn": turn_parts(open_bot(docs, embeddings))}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

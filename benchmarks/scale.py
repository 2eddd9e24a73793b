"""Scale corpora for timing: documents recombined from the sentences of the shipped corpus.

Deterministic: document i depends only on the seed and i, so the same command always writes the same
bytes, and a 1,000-document corpus is the first 1,000 documents of the 10,000-document one. The text
is real MS prose in a shuffled order, so tokenizing, chunking, embedding and BM25 see realistic
input; the documents are meant for timing, not for answer quality. They have no catalog entry, so
they are cleaned as research summaries.

    python -m benchmarks.scale 1000            # writes bench-data/corpus-1000/
    python -m benchmarks.scale 10000 --out DIR
"""

from __future__ import annotations

import argparse
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"
BENCH_DATA = REPO / "bench-data"  # git-ignored
SEED = 20240917
PREFIX = "scale_"
NAME = re.compile(rf"^{PREFIX}\d{{6}}\.txt$")


@dataclass(frozen=True)
class Pool:
    """What documents are recombined from: the shipped corpus's sentences and headings, in file order."""

    sentences: tuple[str, ...]
    headings: tuple[str, ...]


def sentence_pool(corpus_dir: Path = CORPUS) -> Pool:
    from msassistant.corpus.ingest import load_corpus
    from msassistant.text import split_sentences

    docs, _ = load_corpus(corpus_dir)
    sentences: list[str] = []
    headings: list[str] = []
    for doc in docs:  # load_corpus returns documents sorted by file name
        for section, text in doc.paragraphs:
            if section and section not in headings:
                headings.append(section)
            for sentence in split_sentences(text):
                # whole sentences that read as prose (no question lines, which the chunker moves around)
                if len(sentence) >= 40 and sentence.endswith((".", "!")) and sentence not in sentences:
                    sentences.append(sentence)
    if not sentences:
        raise ValueError(f"{corpus_dir}: no sentences to recombine")
    return Pool(tuple(sentences), tuple(h for h in headings if not h.endswith("?")) or ("Overview",))


def document_text(pool: Pool, i: int, seed: int = SEED) -> str:
    """Document i: a headline, then 2-4 paragraphs of 2-4 sentences, sometimes under a heading."""
    rng = random.Random(f"{seed}:{i}")
    words = rng.choice(pool.headings)
    lines = [f"{words}: generated summary {i}"]
    for p in range(rng.randint(2, 4)):
        if p and rng.random() < 0.3:
            lines.append(rng.choice(pool.headings))
        lines.append(" ".join(rng.sample(pool.sentences, rng.randint(2, 4))))
    return "\n\n".join(lines) + "\n"


def file_name(i: int) -> str:
    return f"{PREFIX}{i:06d}.txt"


def generate(n_docs: int, out_dir: Path, seed: int = SEED, corpus_dir: Path = CORPUS, progress: bool = False) -> Path:
    """Write documents 0..n_docs-1 into out_dir; files already holding the right bytes are left alone
    (so their modification times, and an index built from them, stay valid) and stale generated
    files are removed. Returns out_dir."""
    pool = sentence_pool(corpus_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wanted = {file_name(i) for i in range(n_docs)}
    for stale in out_dir.iterdir():
        if NAME.match(stale.name) and stale.name not in wanted:
            stale.unlink()
    indices = range(n_docs)
    if progress:
        from tqdm import tqdm

        indices = tqdm(indices, desc=f"Generating {n_docs} documents", unit="doc", leave=False)
    for i in indices:
        path = out_dir / file_name(i)
        data = document_text(pool, i, seed).encode("utf-8")
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
    return out_dir


def corpus_dir_for(n_docs: int, root: Path = BENCH_DATA) -> Path:
    return root / f"corpus-{n_docs}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("docs", type=int, help="number of documents")
    parser.add_argument("--out", type=Path, help="output folder (default bench-data/corpus-N)")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    out = generate(args.docs, args.out or corpus_dir_for(args.docs), seed=args.seed, progress=True)
    print(out)


if __name__ == "__main__":
    main()


def index_exists(home: Path) -> bool:
    return (home / "index" / "chroma.sqlite3").exists()


def scale_home(n_docs: int) -> Path:
    return BENCH_DATA / f"home-{n_docs}"


def build_record(home: Path) -> dict | None:
    path = home / "build.json"
    return json.loads(path.read_text()) if path.exists() else None

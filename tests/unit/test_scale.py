"""The benchmark's scale-corpus generator: deterministic, built from the shipped corpus's own sentences."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from conftest import CORPUS

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import scale  # noqa: E402


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def pool():
    return scale.sentence_pool(CORPUS)


def test_same_seed_writes_the_same_bytes(tmp_path):
    a = scale.generate(25, tmp_path / "a")
    b = scale.generate(25, tmp_path / "b")
    assert len(digest(a)) == 25
    assert digest(a) == digest(b)


def test_a_smaller_corpus_is_a_prefix_of_a_larger_one(tmp_path):
    small = digest(scale.generate(10, tmp_path / "small"))
    large = digest(scale.generate(30, tmp_path / "large"))
    assert all(large[name] == h for name, h in small.items())


def test_another_seed_gives_other_documents(pool):
    assert scale.document_text(pool, 3, seed=1) != scale.document_text(pool, 3, seed=2)
    assert scale.document_text(pool, 3, seed=1) == scale.document_text(pool, 3, seed=1)


def test_every_sentence_comes_from_the_shipped_corpus(pool, tmp_path):
    from msassistant.corpus.ingest import load_corpus
    from msassistant.text import split_sentences

    docs, skipped = load_corpus(scale.generate(20, tmp_path / "c"))
    assert not skipped and len(docs) == 20
    known = set(pool.sentences)
    for doc in docs:
        for _, paragraph in doc.paragraphs:
            assert set(split_sentences(paragraph)) <= known, doc.source


def test_generated_documents_ingest_as_research_summaries(tmp_path):
    from msassistant.corpus.ingest import load_corpus, to_documents

    docs, _ = load_corpus(scale.generate(20, tmp_path / "d"))
    assert {d.kind for d in docs} == {"research summary"}
    chunks = [c for d in docs for c in to_documents(d)]
    assert len(chunks) >= 2 * len(docs)
    for c in chunks:  # the headline became the title: "<heading>: generated summary <i>"
        number = int(c.metadata["source"].removeprefix(scale.PREFIX).removesuffix(".txt"))
        assert c.page_content and c.metadata["title"].endswith(f"generated summary {number}")


def test_regenerating_keeps_files_and_drops_stale_ones(tmp_path):
    out = scale.generate(10, tmp_path / "e")
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    (out / "notes.md").write_text("not generated", encoding="utf-8")
    scale.generate(6, out)
    after = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert sorted(after) == sorted([scale.file_name(i) for i in range(6)] + ["notes.md"])
    assert all(after[name] == before[name] for name in after if name != "notes.md")

"""The search snapshot: saved per index generation, loaded instead of rebuilding, never stale, never trusted
when damaged. Real chromadb in a temporary folder, the real model."""

import logging
import shutil

import numpy as np
import pytest

from conftest import CORPUS
from msassistant.index import snapshot
from msassistant.index.search import HybridSearch

QUESTIONS = ["Does heat make MS fatigue worse?", "What is intrathecal methotrexate?",
             "Can physiotherapy help my balance?", "tired all the time and wobbly"]


@pytest.fixture
def corpus_copy(tmp_path):
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target)
    return target


def ranking(search: HybridSearch, embeddings, question: str):
    hits = search.search(question, [embeddings.embed_query(question)], 8, 20)
    return [(h.id, round(h.score, 6), round(h.dense or 0.0, 5), round(h.bm25 or 0.0, 5)) for h in hits]


def test_search_loads_its_snapshot_and_it_matches_a_fresh_build(fresh_assistant, embeddings, monkeypatch):
    bot = fresh_assistant()
    bot.ensure_index()
    generation = bot.index.generation()
    assert snapshot.valid_generation(generation) and bot.search.generation == generation
    manifest = snapshot.read_manifest(bot.index.snapshot_path, generation, bot.index.model_label)
    assert manifest["chunks"] == bot.index.count() and len(manifest["documents"]) == 5

    def no_rebuild(*args):
        raise AssertionError("the snapshot should have been loaded")

    fresh = HybridSearch._build(bot.index, generation)
    monkeypatch.setattr(HybridSearch, "_build", staticmethod(no_rebuild))
    loaded = HybridSearch(bot.index)
    assert loaded.ids == fresh.ids and [d.page_content for d in loaded.chunks] == fresh.texts
    assert [d.metadata for d in loaded.chunks] == fresh.metadatas
    assert loaded.doc_freq == fresh.doc_freq and loaded._surface == fresh.surface
    assert np.array_equal(loaded.vectors, fresh.vectors) and loaded.vectors.dtype == np.float32
    for q in QUESTIONS:
        assert ranking(loaded, embeddings, q) == ranking(bot.search, embeddings, q)


def test_a_change_gives_a_new_generation_and_the_old_snapshot_goes(fresh_assistant, corpus_copy):
    bot = fresh_assistant(corpus_dir=corpus_copy)
    first = bot.ensure_index()
    assert first.generation == bot.search.generation
    unchanged = bot.ensure_index()
    assert unchanged.generation == first.generation  # nothing changed, the snapshot stays valid

    (corpus_copy / "005_new.txt").write_text("Cooling vests help some people with heat-sensitive MS symptoms.",
                                             encoding="utf-8")
    (corpus_copy / "000_020e82a42c733ae6.txt").unlink()
    changed = bot.ensure_index()
    assert changed.generation != first.generation
    folders = {p.name for p in bot.index.snapshot_path.iterdir() if p.is_dir()}
    assert folders == {changed.generation}
    sources = {d.metadata["source"] for d in bot.search.chunks}
    assert "005_new.txt" in sources and "000_020e82a42c733ae6.txt" not in sources
    # the hashes the next ingest compares against come from the snapshot, and agree with chromadb's
    raw = bot.index.collection.get(where={"chunk": 0}, include=["metadatas"])["metadatas"]
    assert bot.index.document_hashes() == {m["source"]: m["doc_hash"] for m in raw}
    assert bot.health()["documents"] == 5 and bot.health()["chunks"] == bot.index.count()


def test_a_change_made_elsewhere_is_seen(fresh_assistant, corpus_copy, embeddings):
    """Another process (or replica) changes the index: this one's snapshot no longer matches and is not used."""
    from msassistant.index.store import Index
    from msassistant.corpus.ingest import read_corpus

    bot = fresh_assistant(corpus_dir=corpus_copy)
    bot.ensure_index()
    before = bot.search.generation
    (corpus_copy / "005_new.txt").write_text("Cooling vests help some people with heat-sensitive MS symptoms.",
                                             encoding="utf-8")
    other = Index(bot.settings, embeddings, embeddings.label)
    report = other.sync(*read_corpus(corpus_copy))
    assert report.added == ["005_new.txt"] and report.generation != before
    assert bot.health()["documents"] == 6  # counted from the index, not from the search loaded before
    again = HybridSearch(bot.index)
    assert again.generation == report.generation
    assert any(d.metadata["source"] == "005_new.txt" for d in again.chunks)


@pytest.mark.parametrize("damage", ["chunks.json", "vectors.npy", "manifest.json", "bm25"])
def test_a_damaged_snapshot_is_rebuilt(fresh_assistant, embeddings, caplog, damage):
    bot = fresh_assistant()
    bot.ensure_index()
    expected = {q: ranking(bot.search, embeddings, q) for q in QUESTIONS}
    folder = bot.index.snapshot_path / bot.search.generation
    target = folder / damage
    if target.is_dir():
        for f in target.iterdir():
            f.write_bytes(b"\x00garbage")
    else:
        target.write_bytes(b"{not json" if damage.endswith(".json") else b"\x93NUMPY garbage")
    with caplog.at_level(logging.WARNING, logger="msassistant"):
        rebuilt = HybridSearch(bot.index)
    if damage != "manifest.json":  # an unreadable manifest means "no snapshot" and is simply rebuilt
        assert "will be rebuilt" in caplog.text
    assert {q: ranking(rebuilt, embeddings, q) for q in QUESTIONS} == expected
    assert snapshot.load(bot.index.snapshot_path, rebuilt.generation, bot.index.model_label) is not None


def test_unwritable_snapshot_folder_only_costs_start_up_time(fresh_assistant, tmp_path, caplog, embeddings):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the snapshot folder would go", encoding="utf-8")
    bot = fresh_assistant(snapshot_dir=blocker / "snapshot")
    with caplog.at_level(logging.WARNING, logger="msassistant"):
        bot.ensure_index()
        reply = bot.reply("Does heat make MS fatigue worse?")
    assert "could not save the search snapshot" in caplog.text
    assert reply.category == "answer" and reply.citations


def test_an_index_from_before_generations_gets_one(fresh_assistant):
    bot = fresh_assistant()
    bot.ensure_index()
    bot.index.collection.modify(metadata={"embedding_model": bot.index.model_label})
    assert bot.index.generation(assign=False) is None
    generation = bot.index.generation()
    assert snapshot.valid_generation(generation)
    assert HybridSearch(bot.index).generation == generation


def test_exact_search_agrees_with_chromadbs_index(fresh_assistant, embeddings):
    exact = fresh_assistant()
    exact.ensure_index()
    assert exact.search.vectors is not None and exact.search.vectors.shape == (exact.index.count(), 384)
    hnsw = fresh_assistant(exact_search_max_chunks=0, snapshot_dir=exact.settings.home / "other-snapshot")
    assert hnsw.search.vectors is None  # above the limit: dense search is chromadb's
    vectors = [embeddings.embed_query(q) for q in QUESTIONS]
    for a, b in zip(exact.search.dense_many(vectors, 10), hnsw.search.dense_many(vectors, 10)):
        assert [i for i, _ in a] == [i for i, _ in b]
        assert np.allclose([s for _, s in a], [s for _, s in b], atol=1e-5)
    assert exact.search.dense_many(vectors[:1], 10_000)[0].__len__() == exact.index.count()


def test_nothing_is_saved_while_a_sync_changes_the_index(fresh_assistant, corpus_copy, embeddings, monkeypatch):
    from msassistant.index.store import Index

    bot = fresh_assistant(corpus_dir=corpus_copy)
    bot.ensure_index()
    before = bot.index.generation()
    (corpus_copy / "005_new.txt").write_text("Cooling vests help some people with heat-sensitive MS symptoms.",
                                             encoding="utf-8")
    seen = {}
    real_add = Index._add

    def add_and_look(self, documents):
        reader = Index(bot.settings, embeddings, embeddings.label)  # another process, mid-sync
        seen["generation"] = reader.generation()
        HybridSearch(reader)  # builds from chromadb, saves nothing
        seen["folders"] = {p.name for p in bot.index.snapshot_path.iterdir() if snapshot.valid_generation(p.name)}
        return real_add(self, documents)

    monkeypatch.setattr(Index, "_add", add_and_look)
    report = bot.ensure_index()
    assert seen["generation"] is None and seen["folders"] == {before}
    assert snapshot.valid_generation(report.generation) and report.generation != before


def test_a_sync_that_fails_midway_leaves_no_stale_snapshot(fresh_assistant, corpus_copy, embeddings, monkeypatch):
    from msassistant.index.store import Index

    bot = fresh_assistant(corpus_dir=corpus_copy)
    bot.ensure_index()
    before = bot.index.generation()
    changed = corpus_copy / "003_5ad99458e9dfddf9.txt"
    changed.write_text(changed.read_text(encoding="utf-8") + "\nA new sentence about cooling vests.\n", encoding="utf-8")

    def fail(self, documents):
        raise RuntimeError("the embedding model stopped")

    monkeypatch.setattr(Index, "_add", fail)
    with pytest.raises(RuntimeError, match="stopped"):
        bot.ensure_index()
    monkeypatch.undo()
    after = bot.index.generation()
    assert snapshot.valid_generation(after) and after != before
    search = HybridSearch(bot.index)  # what chromadb holds now: the changed document's old chunks are gone
    assert "003_5ad99458e9dfddf9.txt" not in {d.metadata["source"] for d in search.chunks}
    assert "003_5ad99458e9dfddf9.txt" not in bot.index.document_hashes()
    assert bot.ensure_index().added == ["003_5ad99458e9dfddf9.txt"]  # the next ingest puts it back


def test_assigning_a_generation_keeps_the_model_the_index_was_built_with(fresh_assistant, embeddings):
    from msassistant.index.store import Index

    bot = fresh_assistant()
    bot.ensure_index()
    bot.index.collection.modify(metadata={"embedding_model": bot.index.model_label})  # from before generations
    reader = Index(bot.settings, embeddings, "another/model")
    assert snapshot.valid_generation(reader.generation())
    assert reader.built_with() == bot.index.model_label  # so that an ingest with the other model still rebuilds


def test_a_snapshot_saved_under_another_exact_search_limit_is_not_used(fresh_assistant):
    bot = fresh_assistant()
    bot.ensure_index()
    assert bot.search.vectors is not None
    limited = fresh_assistant(exact_search_max_chunks=10)
    assert limited.index.count() > 10 and limited.search.vectors is None
    again = fresh_assistant()
    assert again.search.vectors is not None

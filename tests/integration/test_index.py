"""Incremental ingest into a real chromadb in a temporary folder."""

import shutil

import pytest

from conftest import CORPUS


@pytest.fixture
def corpus_copy(tmp_path):
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target)
    return target


def test_incremental_ingest(fresh_assistant, corpus_copy):
    bot = fresh_assistant(corpus_dir=corpus_copy)
    first = bot.ensure_index()
    assert len(first.added) == 5 and first.chunks_embedded == bot.index.count() > 20

    again = bot.ensure_index()
    assert again.unchanged == sorted(p.name for p in corpus_copy.glob("*.txt"))
    assert again.chunks_embedded == 0 and not again.changed

    changed = corpus_copy / "003_5ad99458e9dfddf9.txt"
    changed.write_text(changed.read_text(encoding="utf-8") + "\nA new sentence about thalamic iron and fatigue.\n", encoding="utf-8")
    (corpus_copy / "005_new.txt").write_text("Cooling vests help some people with heat-sensitive MS symptoms.", encoding="utf-8")
    (corpus_copy / "000_020e82a42c733ae6.txt").unlink()
    report = bot.ensure_index()
    assert report.updated == ["003_5ad99458e9dfddf9.txt"]
    assert report.added == ["005_new.txt"]
    assert report.removed == ["000_020e82a42c733ae6.txt"]
    assert len(report.unchanged) == 3
    sources = {c.metadata["source"] for c in bot.index.all_chunks()}
    assert "000_020e82a42c733ae6.txt" not in sources and "005_new.txt" in sources
    reply = bot.reply("Do cooling vests help with heat?")
    assert any(c.source == "005_new.txt" for c in reply.citations)


def test_catalog_change_relabels_document(fresh_assistant, corpus_copy):
    bot = fresh_assistant(corpus_dir=corpus_copy)
    bot.ensure_index()
    catalog = corpus_copy / "catalog.toml"
    catalog.write_text(catalog.read_text(encoding="utf-8").replace(
        '["001_fa889e840cef5881.txt"]\nkind = "treatment guide"', '["001_fa889e840cef5881.txt"]\nkind = "research summary"'),
        encoding="utf-8")
    report = bot.ensure_index()
    assert report.updated == ["001_fa889e840cef5881.txt"]


def test_unreadable_file_skipped_rest_ingests(fresh_assistant, corpus_copy):
    (corpus_copy / "scan.txt").write_bytes(b"\x00\x01\x02binary")
    (corpus_copy / "bad.txt").write_bytes(b"caf\xe9 \xff\xfe")
    bot = fresh_assistant(corpus_dir=corpus_copy)
    report = bot.ensure_index()
    assert len(report.added) == 5 and len(report.skipped) == 2


def test_model_change_rebuilds(fresh_assistant, corpus_copy, embeddings):
    from msassistant.index.store import Index

    bot = fresh_assistant(corpus_dir=corpus_copy)
    bot.ensure_index()
    other = Index(bot.settings, embeddings, "another/model")
    report = other.sync(*__import__("msassistant.corpus.ingest", fromlist=["x"]).load_corpus(corpus_copy))
    assert report.rebuilt and len(report.added) == 5
    assert other.built_with() == "another/model"


def test_missing_corpus_is_clear(fresh_assistant, tmp_path):
    bot = fresh_assistant(corpus_dir=tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="MSA_CORPUS_DIR"):
        bot.ensure_index()


def test_empty_index_is_a_clear_error(fresh_assistant, tmp_path):
    bot = fresh_assistant(corpus_dir=tmp_path)
    with pytest.raises(RuntimeError, match="msassistant ingest"):
        bot.reply("What helps MS fatigue?")


def test_short_collection_name_rejected(fresh_assistant):
    with pytest.raises(ValueError, match="3 or more"):
        fresh_assistant(collection="ms")


def test_a_running_server_follows_an_ingest_made_elsewhere(fresh_assistant, corpus_copy, embeddings, monkeypatch):
    """Another process ingests (as `msassistant ingest` does: sync, then save the search snapshot); the running
    assistant notices the new generation and switches to it without a restart; health reports it."""
    from fastapi.testclient import TestClient

    from msassistant.api.app import create_app
    from msassistant.index.search import HybridSearch
    from msassistant.index.store import Index, sync_corpus

    bot = fresh_assistant(corpus_dir=corpus_copy)
    bot.ensure_index()
    with TestClient(create_app(bot.settings, bot)) as client:
        before = client.get("/api/health").json()["generation"]
        assert before and client.post("/api/chat", json={"message": "Do cooling vests help with heat?"}).status_code == 200

        (corpus_copy / "005_new.txt").write_text("Cooling vests help some people with heat-sensitive MS symptoms.",
                                                 encoding="utf-8")
        elsewhere = Index(bot.settings, embeddings, embeddings.label)  # the ingest command's own index object
        assert sync_corpus(bot.settings, elsewhere).added == ["005_new.txt"]
        HybridSearch.prepare(elsewhere)
        import time

        from msassistant.pipeline import retrieve

        monkeypatch.setattr(retrieve, "FOLLOW_EVERY", 0.0)  # check at the next request, not after 5 s
        assert client.post("/api/chat", json={"message": "What is MS?"}).status_code == 200  # served meanwhile
        deadline = time.monotonic() + 30
        while client.get("/api/health").json()["generation"] == before and time.monotonic() < deadline:
            time.sleep(0.1)  # the new search loads in the background

        after = client.get("/api/health").json()
        assert after["generation"] != before and after["documents"] == 6
        reply = client.post("/api/chat", json={"message": "Do cooling vests help with heat?"}).json()
        assert any(c["source"] == "005_new.txt" for c in reply["citations"])
        assert not bot.library.follow(wait=True)  # nothing newer: no switch


# ---- a file that becomes unreadable keeps its last good version ------------------------------------------------------
IRON = "003_5ad99458e9dfddf9.txt"


@pytest.fixture
def indexed(tmp_path, corpus_copy, embeddings):
    """An index of the corpus copy (Index and sync_corpus alone, as `msassistant ingest` uses them)."""
    from conftest import make_settings
    from msassistant.index.store import Index, sync_corpus

    settings = make_settings(tmp_path / "home", corpus_dir=corpus_copy)
    index = Index(settings, embeddings, embeddings.index_label)
    sync_corpus(settings, index)
    return settings, index


def chunks_of(index, source: str) -> list:
    return [d for d in index.all_chunks() if d.metadata["source"] == source]


@pytest.mark.parametrize("damage", [b"\xff", b"\x00binary"], ids=["invalid byte", "binary"])
def test_a_file_that_becomes_unreadable_keeps_its_last_good_version(indexed, corpus_copy, embeddings, caplog, damage):
    import logging

    from msassistant.index.search import HybridSearch
    from msassistant.index.store import sync_corpus

    settings, index = indexed
    good = chunks_of(index, IRON)
    path = corpus_copy / IRON
    text = path.read_bytes()
    path.write_bytes(damage + text if damage.startswith(b"\x00") else text[:200] + damage + text[200:])
    with caplog.at_level(logging.WARNING, logger="msassistant"):
        report = sync_corpus(settings, index)
    assert report.kept == [IRON] and IRON not in report.removed and len(report.skipped) == 1
    assert "1 kept at their last good version" in report.summary()
    warnings = [r.getMessage() for r in caplog.records if IRON in r.getMessage()]
    assert len(warnings) == 1 and "last good version stays in the index" in warnings[0]
    assert [(d.id, d.page_content, d.metadata["doc_hash"]) for d in chunks_of(index, IRON)] == \
        [(d.id, d.page_content, d.metadata["doc_hash"]) for d in good]
    question = "iron in the thalamus"
    hits = HybridSearch(index).search(question, [embeddings.embed_query(question)], 5, 20)
    assert any(h.document.metadata["source"] == IRON for h in hits)  # still found, still cited

    again = sync_corpus(settings, index)  # still unreadable: still kept, nothing re-embedded
    assert again.kept == [IRON] and again.chunks_embedded == 0 and not again.changed

    path.write_text(text.decode("utf-8") + "\nA new sentence about thalamic iron.\n", encoding="utf-8")  # fixed
    fixed = sync_corpus(settings, index)
    assert fixed.updated == [IRON] and not fixed.kept and not fixed.skipped
    assert any("A new sentence about thalamic iron." in d.page_content for d in chunks_of(index, IRON))


def test_an_emptied_file_keeps_its_last_good_version_and_a_deleted_one_goes(indexed, corpus_copy):
    from msassistant.index.store import sync_corpus

    settings, index = indexed
    (corpus_copy / IRON).write_text("", encoding="utf-8")
    report = sync_corpus(settings, index)
    assert report.kept == [IRON] and chunks_of(index, IRON)
    (corpus_copy / IRON).unlink()
    report = sync_corpus(settings, index)
    assert report.removed == [IRON] and not report.kept and not chunks_of(index, IRON)


def test_a_changed_file_the_cleaner_fails_on_keeps_its_last_good_version(indexed, corpus_copy, monkeypatch, caplog):
    import logging

    from msassistant.corpus import ingest
    from msassistant.index.store import sync_corpus

    settings, index = indexed
    good = chunks_of(index, IRON)
    path = corpus_copy / IRON
    path.write_text(path.read_text(encoding="utf-8") + "\nOne more sentence.\n", encoding="utf-8")
    real = ingest.clean_document

    def fails_on_iron(source, text, entry=None):
        if source == IRON:
            raise ValueError("an unexpected layout")
        return real(source, text, entry)

    monkeypatch.setattr(ingest, "clean_document", fails_on_iron)
    with caplog.at_level(logging.WARNING, logger="msassistant"):
        report = sync_corpus(settings, index)
    assert report.kept == [IRON] and not report.updated and "an unexpected layout" in caplog.text
    assert [d.id for d in chunks_of(index, IRON)] == [d.id for d in good]

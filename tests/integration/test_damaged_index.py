"""A damaged index is set aside and rebuilt from the corpus, with one warning: chromadb's chroma.sqlite3
cut short or overwritten, found when the index is opened (a start) or while it is synced. Real chromadb in
a temporary folder, the real model, and one real `msassistant serve`."""

from __future__ import annotations

import json
import logging
import shutil
import urllib.request

import pytest

from conftest import CORPUS, make_settings, start_server, stop_process
from msassistant.index import repair
from msassistant.index.search import HybridSearch
from msassistant.index.store import Index, sync_corpus

SMALL = ["002_5bd68b2e9fd4fbfd.txt", "003_5ad99458e9dfddf9.txt"]
QUESTION = "What did the study find about azathioprine?"


@pytest.fixture
def small_corpus(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in SMALL + ["catalog.toml"]:
        shutil.copy(CORPUS / name, corpus / name)
    return corpus


def build(settings, embeddings) -> tuple[Index, list]:
    index = Index(settings, embeddings, embeddings.index_label)
    sync_corpus(settings, index)
    HybridSearch.prepare(index)
    return index, sorted((d.id, d.page_content) for d in index.all_chunks())


def damage(settings, how: str) -> int:
    """Damage chroma.sqlite3 as a full disk or a bad copy would, with no process holding it open."""
    repair.forget(settings.index_path)  # as after the process has exited
    path = settings.index_path / repair.DATABASE
    size = path.stat().st_size
    if how == "truncated":
        with open(path, "r+b") as fh:
            fh.truncate(size // 2)
    else:
        path.write_bytes(b"\x5a\xa5" * (size // 2))
    return path.stat().st_size


def damage_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "damaged" in r.getMessage()]


def assert_answers(index: Index, embeddings) -> None:
    hits = HybridSearch(index).search(QUESTION, [embeddings.embed_query(QUESTION)], 5, 20)
    assert hits and hits[0].document.metadata["source"] == "002_5bd68b2e9fd4fbfd.txt"


@pytest.mark.parametrize("how", ["truncated", "overwritten"])
def test_a_damaged_index_is_set_aside_and_rebuilt_on_open(tmp_path, small_corpus, embeddings, caplog, how):
    settings = make_settings(tmp_path / "home", corpus_dir=small_corpus)
    _, chunks = build(settings, embeddings)
    damaged_size = damage(settings, how)

    with caplog.at_level(logging.WARNING, logger="msassistant"):
        index = Index(settings, embeddings, embeddings.index_label)  # what every start does first
    warnings = damage_warnings(caplog)
    assert len(warnings) == 1 and "rebuilt from the corpus" in warnings[0], caplog.text
    aside = index.repaired
    assert aside is not None and aside.parent == settings.index_path.parent and aside.name.startswith("index.damaged-")
    assert (aside / repair.DATABASE).stat().st_size == damaged_size  # kept as it was found
    assert str(aside) in warnings[0]
    assert sorted((d.id, d.page_content) for d in index.all_chunks()) == chunks
    assert sync_corpus(settings, index).unchanged == SMALL  # the rebuilt index is up to date
    assert_answers(index, embeddings)


def test_damage_found_while_syncing_is_repaired_too(tmp_path, small_corpus, embeddings, caplog):
    settings = make_settings(tmp_path / "home", corpus_dir=small_corpus)
    index, chunks = build(settings, embeddings)
    path = settings.index_path / repair.DATABASE
    with open(path, "r+b") as fh:  # under a running process
        fh.truncate(path.stat().st_size // 2)
    (small_corpus / "005_new.txt").write_text("Cooling vests help some people with heat-sensitive MS symptoms.",
                                              encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="msassistant"):
        report = sync_corpus(settings, index)
    assert len(damage_warnings(caplog)) == 1
    assert report.rebuilt and sorted(report.added) == sorted(SMALL + ["005_new.txt"])
    assert {d.metadata["source"] for d in index.all_chunks()} == set(SMALL) | {"005_new.txt"}
    assert_answers(index, embeddings)


def test_a_failure_that_is_not_damage_is_raised_and_nothing_is_moved(tmp_path, small_corpus, embeddings, monkeypatch):
    from msassistant.index import store

    settings = make_settings(tmp_path / "home", corpus_dir=small_corpus)
    build(settings, embeddings)

    def unavailable(_settings):
        raise RuntimeError("chromadb could not start")

    monkeypatch.setattr(store, "make_client", unavailable)
    with pytest.raises(RuntimeError, match="could not start"):
        Index(settings, embeddings, embeddings.index_label)
    assert [p.name for p in settings.index_path.parent.iterdir() if p.name.startswith("index")] == ["index"]


def test_the_server_starts_on_a_damaged_index_with_one_warning(tmp_path, embeddings):
    """The issue's crash loop: a truncated chroma.sqlite3 made every `msassistant serve` exit with a traceback."""
    home = tmp_path / "server-home"
    build(make_settings(home), embeddings)  # the settings the server is started with (the shipped corpus)
    damage(make_settings(home), "truncated")
    url, proc = start_server(home)
    try:
        health = json.load(urllib.request.urlopen(url + "/api/health", timeout=30))
        request = urllib.request.Request(url + "/api/chat", data=json.dumps({"message": QUESTION}).encode(),
                                         headers={"Content-Type": "application/json"})
        reply = json.load(urllib.request.urlopen(request, timeout=60))
    finally:
        stop_process(proc)
    log = (home / "server.log").read_text()
    assert health["status"] == "ok" and health["documents"] == 5
    assert reply["category"] == "answer" and reply["citations"]
    assert log.count("is damaged") == 1 and "Traceback" not in log, log[-3000:]
    assert len(list(home.glob("index.damaged-*"))) == 1

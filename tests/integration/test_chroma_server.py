"""Client/server chromadb: MSA_CHROMA_URL points the assistant at a `chroma run` server.

The module starts a real server itself (the `chroma` command of the chromadb package) on a free
loopback port, with its data in a temp folder, and stops it at the end. Nothing is kept in the
assistant's own folder, so several app replicas can share the one index.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from conftest import CORPUS, free_port, make_settings, start_server, stop_process, wait_for

pytestmark = pytest.mark.chroma_server


def chroma_executable() -> str | None:
    local = Path(sys.executable).with_name("chroma")
    return str(local) if local.exists() else shutil.which("chroma")


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory):
    exe = chroma_executable()
    if exe is None:
        pytest.skip("the `chroma` command (from the chromadb package) is not installed")
    data = tmp_path_factory.mktemp("chroma-data")
    port = free_port()
    log = open(data.parent / f"chroma-{port}.log", "w")
    proc = subprocess.Popen([exe, "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_for(url + "/api/v2/heartbeat", proc, timeout=60)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"chroma run did not start ({exc}): {Path(log.name).read_text()[-2000:]}") from None
        yield url
    finally:
        stop_process(proc)
        log.close()


@pytest.fixture
def corpus_copy(tmp_path):
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target)
    return target


def server_assistant(home: Path, url: str, corpus: Path, embeddings, collection: str):
    from msassistant.pipeline.assistant import Assistant

    home.mkdir(parents=True, exist_ok=True)
    return Assistant(make_settings(home, corpus_dir=corpus, chroma_url=url, collection=collection),
                     embeddings=embeddings)


def test_ingest_ask_and_reingest_through_the_server(chroma_url, corpus_copy, tmp_path, embeddings):
    import chromadb

    bot = server_assistant(tmp_path / "replica-a", chroma_url, corpus_copy, embeddings, "msa_server_test")
    first = bot.ensure_index()
    assert len(first.added) == 5 and first.chunks_embedded == bot.index.count() > 20
    assert not bot.settings.index_path.exists()  # no local chromadb files: the server holds the index

    host, port = chroma_url.removeprefix("http://").split(":")
    remote = chromadb.HttpClient(host=host, port=int(port)).get_collection("msa_server_test")
    assert remote.count() == bot.index.count()

    reply = bot.reply("Does azathioprine reduce relapses in MS?")
    assert reply.category == "answer" and reply.citations
    assert any(c.source == "002_5bd68b2e9fd4fbfd.txt" for c in reply.citations)
    assert all(c.passage for c in reply.citations)

    again = bot.ensure_index()
    assert again.unchanged == sorted(p.name for p in corpus_copy.glob("*.txt"))
    assert again.chunks_embedded == 0 and not again.changed

    changed = corpus_copy / "003_5ad99458e9dfddf9.txt"
    changed.write_text(changed.read_text(encoding="utf-8") + "\nA new sentence about thalamic iron.\n", encoding="utf-8")
    report = bot.ensure_index()
    assert report.updated == ["003_5ad99458e9dfddf9.txt"] and len(report.unchanged) == 4
    assert remote.count() == bot.index.count()

    # a second replica with its own (empty) folder answers from the same index without ingesting
    other = server_assistant(tmp_path / "replica-b", chroma_url, corpus_copy, embeddings, "msa_server_test")
    assert other.index.count() == bot.index.count()
    reply = other.reply("Is thalamic iron linked to disability?")
    assert reply.category == "answer" and any(c.source == "003_5ad99458e9dfddf9.txt" for c in reply.citations)


def test_served_app_uses_the_chroma_server(chroma_url, tmp_path):
    home = tmp_path / "served"
    home.mkdir()
    url, proc = start_server(home, {"MSA_CHROMA_URL": chroma_url, "MSA_COLLECTION": "msa_served_test"})
    try:
        with urllib.request.urlopen(url + "/api/health", timeout=30) as resp:
            health = json.loads(resp.read())
        assert health["status"] == "ok" and health["documents"] == 5 and health["chunks"] > 20
        request = urllib.request.Request(
            url + "/api/chat", data=json.dumps({"message": "What helps with MS fatigue?"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as resp:
            reply = json.loads(resp.read())
        assert reply["citations"] and all(c["passage"] for c in reply["citations"])
        assert not (home / "index").exists()
    finally:
        stop_process(proc)

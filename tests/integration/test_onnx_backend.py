"""The ONNX embedding backends: exported once from the verified model, vectors close to torch's, the backend
recorded with the index, and an index of another backend re-embedded or refused, never searched."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import numpy as np
import pytest

from conftest import make_settings

TEXTS = ["Does Betaseron give you flu symptoms?", "i cant feel my feet since tuesday",
         "Intrathecal methotrexate was given every three months for a year to people with progressive MS. " * 8]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def int8(cache):
    from msassistant.index.embeddings import SentenceTransformerEmbeddings

    return SentenceTransformerEmbeddings(backend="onnx-int8", cache=cache, threads=1, bulk_threads=1)


def test_onnx_vectors_match_torch_and_int8_stays_close(embeddings, int8, cache):
    from msassistant.index.embeddings import SentenceTransformerEmbeddings

    fp32 = SentenceTransformerEmbeddings(backend="onnx", cache=cache, threads=1, bulk_threads=1)
    ref = np.asarray(embeddings.embed_documents(TEXTS))
    same = (np.asarray(fp32.embed_documents(TEXTS)) * ref).sum(axis=1)
    close = (np.asarray(int8.embed_documents(TEXTS)) * ref).sum(axis=1)
    assert same.min() > 0.9999  # the same model, the same tokens and pooling
    assert close.min() > 0.97 and np.median(close) > 0.98
    # a query on the chat path and the same text in a batch give one vector; vectors are normalised
    query = np.asarray(int8.embed_query(TEXTS[0]))
    assert abs(np.linalg.norm(query) - 1) < 1e-5
    assert np.allclose(query, int8.embed_documents(TEXTS)[0], atol=1e-6)  # int8: each text on its own
    # a bulk call (an ingest, spread over threads) gives each text the vector it has alone, in order
    many = [f"{t} ({n})" for n in range(20) for t in TEXTS]
    spread = SentenceTransformerEmbeddings(backend="onnx-int8", cache=cache, threads=1, bulk_threads=2)
    bulk = np.asarray(spread.embed_documents(many))
    assert np.allclose(bulk[:6], [int8.embed_query(t) for t in many[:6]], atol=1e-6)
    batched = np.asarray(fp32.embed_documents(many))  # fp32 in length-sorted batches: the same vectors
    assert np.allclose(batched[:6], [fp32.embed_query(t) for t in many[:6]], atol=1e-5)


def test_the_export_is_recorded_with_hashes_and_made_again_when_modified(int8, cache, caplog):
    from msassistant.index import onnx
    from msassistant.index.embeddings import BUNDLED_SHA256, SentenceTransformerEmbeddings

    int8.embed_query("load")
    folder = onnx.export_folder(cache, BUNDLED_SHA256, "onnx-int8")
    manifest = json.loads((folder / onnx.MANIFEST).read_text())
    assert manifest["source_sha256"] == BUNDLED_SHA256 and manifest["backend"] == "onnx-int8"
    assert manifest["sha256"] == onnx.sha256(folder / onnx.FILE) and manifest["quantisation"]["per_channel"]
    stamp = (folder / onnx.FILE).stat().st_mtime_ns
    SentenceTransformerEmbeddings(backend="onnx-int8", cache=cache).embed_query("again")
    assert (folder / onnx.FILE).stat().st_mtime_ns == stamp  # verified, not exported again

    with (folder / onnx.FILE).open("r+b") as fh:  # a modified file is never run: it is exported again
        fh.seek(4096)
        fh.write(b"\0" * 64)
    with caplog.at_level(logging.WARNING, logger="msassistant.index"):
        vector = SentenceTransformerEmbeddings(backend="onnx-int8", cache=cache).embed_query(TEXTS[0])
    assert "does not match its manifest" in caplog.text
    assert onnx.sha256(folder / onnx.FILE) == manifest["sha256"]  # the same export again: it is deterministic
    assert float(np.asarray(vector) @ np.asarray(int8.embed_query(TEXTS[0]))) > 0.99999


def test_a_process_on_an_onnx_backend_never_imports_torch(int8, cache):
    int8.embed_query("export first")
    code = ("import sys; from msassistant.index.embeddings import SentenceTransformerEmbeddings as E; "
            f"e = E(backend='onnx-int8', cache=__import__('pathlib').Path({str(cache)!r})); e.embed_query('x'); "
            "e.embed_documents(['a'] * 40); print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_bad_backend_settings_are_refused(tmp_path):
    from pydantic import ValidationError

    from msassistant.config import Settings
    from msassistant.index.embeddings import EmbeddingModelError, SentenceTransformerEmbeddings

    with pytest.raises(ValidationError, match="embedding_backend"):
        Settings(home=tmp_path, embedding_backend="tensorflow")
    with pytest.raises(EmbeddingModelError, match="use one of torch, onnx, onnx-int8"):
        SentenceTransformerEmbeddings(backend="int4", cache=tmp_path)
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    with pytest.raises(EmbeddingModelError, match="model.safetensors"):
        SentenceTransformerEmbeddings(str(folder), backend="onnx", cache=tmp_path).embed_query("x")


def test_the_index_records_its_backend_and_a_switch_re_embeds_it(tmp_path, embeddings, int8):
    from msassistant.index.store import EmbeddingMismatch, Index, check_built_with
    from msassistant.pipeline.assistant import Assistant

    settings = make_settings(tmp_path)
    first = Assistant(settings, embeddings=embeddings)
    first.ensure_index()
    assert first.index.built_with() == "sentence-transformers/all-MiniLM-L6-v2"
    answer = first.reply("Does Betaseron give you flu symptoms?")

    # queries of another backend are never searched against these vectors: refused with what to do ...
    stale = Index(settings, int8, int8.index_label)
    with pytest.raises(EmbeddingMismatch, match="msassistant ingest"):
        check_built_with(stale)
    with pytest.raises(EmbeddingMismatch):
        Assistant(settings, embeddings=int8, index=stale).search

    # ... and an ingest with the new backend embeds the whole index again
    second = Assistant(settings, embeddings=int8)
    report = second.ensure_index()
    assert report.rebuilt and report.chunks_embedded == second.index.count() > 20
    assert second.index.built_with() == "sentence-transformers/all-MiniLM-L6-v2 (onnx-int8)"
    again = second.reply("Does Betaseron give you flu symptoms?")
    assert again.category == answer.category == "answer"
    assert {c.source for c in again.citations} & {c.source for c in answer.citations}
    # the learned nets and the turn log know the model by name: the backend does not make them stale
    assert second.embeddings.label == first.embeddings.label


def test_processes_exporting_at_once_make_one_export(tmp_path):
    """Two workers starting together on an empty cache: one exports, the other waits and uses it."""
    code = ("import sys, pathlib; from msassistant.index.embeddings import SentenceTransformerEmbeddings as E; "
            "v = E(backend='onnx', cache=pathlib.Path(sys.argv[1])).embed_query('numb feet'); print(round(sum(v), 6))")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in results]
    assert results[0][0] == results[1][0]
    assert sum("exporting the embedding model" in err for _, err in results) == 1
    from msassistant.index.embeddings import BUNDLED_SHA256

    assert [p.name for p in tmp_path.iterdir()] == [f"{BUNDLED_SHA256[:16]}-onnx"]  # no work folder left

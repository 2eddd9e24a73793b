"""The default embedding model: real, offline, hash-verified; other models by one setting."""

import math
import os
import shutil
import subprocess
import sys
import time

import pytest

from msassistant.index.embeddings import (
    BUNDLED_SHA256, EmbeddingModelError, SentenceTransformerEmbeddings, bundled_model_dir, verify_bundled_model,
)


def test_default_model_is_real_and_offline(embeddings):
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    vec = embeddings.embed_query("MS fatigue")
    assert len(vec) == 384
    assert math.isclose(sum(v * v for v in vec), 1.0, rel_tol=1e-4)
    a, b, c = embeddings.embed_documents(["tired all the time", "fatigue and exhaustion", "pizza in Chicago"])
    dot = lambda x, y: sum(i * j for i, j in zip(x, y))  # noqa: E731
    assert dot(a, b) > dot(a, c)  # a real pretrained model, not random vectors
    assert embeddings.label == "sentence-transformers/all-MiniLM-L6-v2"


@pytest.mark.parametrize("text", [
    "MS fatigue",
    "",
    "   ",
    "Is ocrelizumab (Ocrevus®) OK in pregnancy? 🤰 — asking for my wife",
    "Ça me fatigue, la sclérose en plaques.",
    " ".join(["heat makes my legs weak and my vision blurry"] * 80),  # far past the 256-token limit
])
def test_query_vector_is_the_one_encode_gives(embeddings, text):
    """embed_query calls the model's modules directly; it must give what SentenceTransformer.encode gives."""
    import numpy as np

    fast = np.array(embeddings.embed_query(text))
    stock = embeddings.model.encode(text, normalize_embeddings=True, show_progress_bar=False)
    batch = np.array(embeddings.embed_documents([text, "another text of another length"])[0])
    assert fast.shape == stock.shape == (384,)
    assert np.abs(fast - stock).max() < 1e-5
    assert np.abs(fast - batch).max() < 1e-4  # padding in a batch changes the last digits only


def test_bundled_weights_match_upstream_hash():
    verify_bundled_model(bundled_model_dir())


def test_tampered_weights_refused(tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(bundled_model_dir(), copy)
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(EmbeddingModelError, match="MSA_EMBEDDING_MODEL.*sha256"):
        verify_bundled_model(copy)
    with pytest.raises(EmbeddingModelError, match="sha256"):
        verify_bundled_model(bundled_model_dir(), expected="0" * 64)
    assert BUNDLED_SHA256.startswith("53aa5117")


def test_other_model_by_local_path(tmp_path):
    copy = tmp_path / "my-model"
    shutil.copytree(bundled_model_dir(), copy)
    emb = SentenceTransformerEmbeddings(str(copy))
    assert len(emb.embed_query("relapse")) == 384 and emb.label == str(copy)


def test_unloadable_model_is_a_clear_error_without_waiting():
    emb = SentenceTransformerEmbeddings("BAAI/bge-small-en-v1.5-not-downloaded")
    start = time.monotonic()
    with pytest.raises(EmbeddingModelError, match="MSA_EMBEDDING_MODEL='BAAI/bge-small-en-v1.5-not-downloaded'"):
        emb.embed_query("x")
    assert time.monotonic() - start < 30  # never waits on a model hub


def test_cli_help_does_not_import_heavy_libraries():
    code = (
        "import sys; from typer.testing import CliRunner; from msassistant.cli import app; "
        "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output; "
        "heavy = [m for m in ('torch', 'chromadb', 'sentence_transformers', 'fastapi') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_a_model_with_a_query_prompt_gets_it(tmp_path):
    """Models that prefix queries with a prompt (set in their config) are embedded through encode, which adds it."""
    import json

    import numpy as np

    copy = tmp_path / "prompted-model"
    shutil.copytree(bundled_model_dir(), copy)
    config = copy / "config_sentence_transformers.json"
    data = json.loads(config.read_text(encoding="utf-8")) if config.exists() else {}
    data.update(prompts={"query": "query: ", "document": ""}, default_prompt_name="query")
    config.write_text(json.dumps(data), encoding="utf-8")
    emb = SentenceTransformerEmbeddings(str(copy))
    assert emb.model.default_prompt_name == "query"
    got = np.array(emb.embed_query("heat and fatigue"))
    with_prompt = emb.model.encode("query: heat and fatigue", normalize_embeddings=True, prompt="")
    without = emb.model.encode("heat and fatigue", normalize_embeddings=True, prompt="")
    assert np.abs(got - with_prompt).max() < 1e-5 and np.abs(got - without).max() > 1e-3


def test_torch_threads_come_from_the_settings(monkeypatch):
    import sentence_transformers
    import torch

    from msassistant.config import Settings, get_settings

    threads: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", threads.append)
    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", lambda *args, **kwargs: "the model")
    emb = SentenceTransformerEmbeddings.from_settings(Settings(embedding_model="/a/local/model", torch_threads=3))
    assert emb.threads == 3 and emb.model == "the model" and threads == [3]
    monkeypatch.setenv("MSA_TORCH_THREADS", "2")
    assert Settings().torch_threads == 2
    get_settings.cache_clear()
    try:  # built without settings (threads=None): the process's MSA_TORCH_THREADS
        assert SentenceTransformerEmbeddings("/a/local/model").model == "the model" and threads == [3, 2]
    finally:
        get_settings.cache_clear()
    monkeypatch.setenv("MSA_TORCH_THREADS", "0")
    assert Settings().torch_threads == 1  # at least one

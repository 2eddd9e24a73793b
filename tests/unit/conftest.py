"""Fixtures of the unit tests: the pipeline on the fake embedder, and a guard that no test loads the real model."""

from __future__ import annotations

import sys

import pytest
import sklearn.feature_extraction.text  # noqa: F401  (scipy looks torch up on import: import it before the guard)

from conftest import make_settings


@pytest.fixture(autouse=True)
def no_embedding_model(monkeypatch):
    """Unit tests never load the real model: torch and sentence-transformers cannot be imported while one runs
    (use the `fake_embeddings` fixture, or move the test to tests/integration)."""
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)


@pytest.fixture(scope="session")
def assistant(tmp_path_factory, fake_embeddings):
    """An assistant over the shipped corpus on the fake embedder, its index in chromadb's memory and its snapshot
    and log in a temporary folder. The fake ranks passages by shared words, not by meaning: only tests whose
    assertions hold whatever the embedder may use it; answers that depend on the real model's ranking are
    checked in tests/integration."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    from msassistant.index.store import Index
    from msassistant.pipeline.assistant import Assistant

    # the learned nets read MiniLM's vectors: on the fake embedder triage and answerability are the rules alone
    settings = make_settings(tmp_path_factory.mktemp("unit-home"), triage_net=False, answerable_net=False)
    client = chromadb.EphemeralClient(settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False))
    bot = Assistant(settings, embeddings=fake_embeddings,
                    index=Index(settings, fake_embeddings, fake_embeddings.label, client=client))
    bot.ensure_index()
    return bot

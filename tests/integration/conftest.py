"""Fixtures of the integration tests: the real model, and assistants over a real chromadb index on disk."""

from __future__ import annotations

import pytest

from conftest import make_settings


@pytest.fixture(scope="session")
def embeddings():
    """The default (bundled, hash-verified) model, loaded once for the whole run."""
    from msassistant.index.embeddings import SentenceTransformerEmbeddings

    return SentenceTransformerEmbeddings()


@pytest.fixture(scope="session")
def assistant(tmp_path_factory, embeddings):
    """An assistant over the shipped corpus, with its index and log in a temporary folder."""
    from msassistant.pipeline.assistant import Assistant

    settings = make_settings(tmp_path_factory.mktemp("home"))
    bot = Assistant(settings, embeddings=embeddings)
    bot.ensure_index()
    return bot


@pytest.fixture
def fresh_assistant(tmp_path, embeddings):
    """A factory for assistants with their own state folder (and optionally their own corpus)."""
    from msassistant.pipeline.assistant import Assistant

    def build(**overrides):
        return Assistant(make_settings(tmp_path, **overrides), embeddings=embeddings)

    return build

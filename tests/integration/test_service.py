"""The service's caches: what is kept between turns and between starts must not change any answer."""

import numpy as np
import pytest

from msassistant.pipeline.assistant import Assistant
from msassistant.pipeline.followups import Suggestions, pipeline_digest


class CountingEmbeddings:
    """The real embeddings, with a count of the texts embedded one at a time."""

    def __init__(self, real):
        self.real, self.label, self.index_label, self.queries = real, real.label, real.index_label, []

    def embed_query(self, text):
        self.queries.append(text)
        return self.real.embed_query(text)

    def embed_documents(self, texts):
        return self.real.embed_documents(texts)


def test_vocabulary_terms_are_embedded_once_and_the_question_every_time(fresh_assistant, embeddings):
    base = fresh_assistant()
    base.ensure_index()
    counting = CountingEmbeddings(embeddings)
    bot = Assistant(base.settings, embeddings=counting)
    expansion = bot.library.expand("I'm tired all the time and wobbly")
    terms = " ".join(expansion.added)
    assert terms  # the vocabulary added clinical words
    first = bot.library.vectors(expansion)
    second = bot.library.vectors(expansion)
    assert counting.queries.count(terms) == 1
    assert counting.queries.count(expansion.text) == 2
    assert np.allclose(first, second)
    assert np.allclose(first[1], embeddings.embed_query(terms), atol=1e-6)


def test_suggestion_pool_is_kept_with_the_snapshot(fresh_assistant, embeddings, monkeypatch):
    bot = fresh_assistant()
    bot.ensure_index()
    pool = bot.follow_ups.to_json()
    assert len(pool) >= 3
    saved = list((bot.index.snapshot_path / bot.search.generation).glob("follow-ups-*.json"))
    assert len(saved) == 1

    def no_rebuild(self):
        raise AssertionError("the saved pool should have been used")

    monkeypatch.setattr(Suggestions, "build", no_rebuild)
    again = Assistant(bot.settings, embeddings=embeddings)
    assert again.follow_ups.to_json() == pool
    question = "Does heat make MS fatigue worse?"
    assert again.reply(question).follow_ups == bot.reply(question).follow_ups

    # other retrieval settings answer differently: their pool is checked again, not taken from the file
    monkeypatch.undo()
    other = Assistant(bot.settings.model_copy(update={"top_k": 2}), embeddings=embeddings)
    assert pipeline_digest(other.settings, embeddings.label, other.vocab) != pipeline_digest(
        bot.settings, embeddings.label, bot.vocab)
    other.follow_ups
    assert len(list((bot.index.snapshot_path / bot.search.generation).glob("follow-ups-*.json"))) == 2


@pytest.mark.parametrize("content", ["{not json", "[1, 2, 3]", '[{"question": "x"}]'])
def test_a_damaged_pool_file_is_rebuilt(fresh_assistant, embeddings, content):
    bot = fresh_assistant()
    bot.ensure_index()
    pool = bot.follow_ups.to_json()
    [saved] = (bot.index.snapshot_path / bot.search.generation).glob("follow-ups-*.json")
    saved.write_text(content, encoding="utf-8")
    again = Assistant(bot.settings, embeddings=embeddings)
    assert again.follow_ups.to_json() == pool

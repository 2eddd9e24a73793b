"""The deterministic fake embedder that stands in for the real model in the unit tests."""

from __future__ import annotations

import math

import pytest

from msassistant.index.embeddings import SentenceTransformerEmbeddings
from msassistant.index.fake import DIMENSIONS, HashEmbeddings


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b))  # both are unit length


def test_same_text_same_vector_and_query_equals_document():
    emb = HashEmbeddings()
    text = "Heat makes my MS fatigue worse."
    assert emb.embed_query(text) == emb.embed_query(text) == HashEmbeddings().embed_query(text)
    assert emb.embed_documents([text, "another text"])[0] == emb.embed_query(text)


def test_vectors_are_the_same_in_every_process():
    """Words are placed by sha256, not by Python's hash() (which changes from one process to the next), so
    these positions hold on every run and every machine."""
    emb = HashEmbeddings()
    assert [(i, v) for i, v in enumerate(emb.embed_query("fatigue")) if v] == [(344, -1.0)]
    assert [(i, v) for i, v in enumerate(emb.embed_query("relapse")) if v] == [(55, 1.0)]
    both = emb.embed_query("fatigue and relapse")
    assert [i for i, v in enumerate(both) if v] == [55, 344, 347] and both[55] == pytest.approx(3 ** -0.5)


@pytest.mark.parametrize("text", ["MS fatigue", "", "???", "Été: la fatigue ٣ fois", "a " * 5000])
def test_vectors_have_unit_length_and_the_model_s_size(text):
    vector = HashEmbeddings().embed_query(text)
    assert len(vector) == DIMENSIONS == 384
    assert math.isclose(math.sqrt(sum(v * v for v in vector)), 1.0, rel_tol=1e-9)


def test_shared_words_are_closer_than_unrelated_ones():
    emb = HashEmbeddings()
    query, near, nearer, far = emb.embed_documents([
        "side effects of fingolimod", "fingolimod and the heart", "the side effects of fingolimod treatment",
        "best pizza place in Chicago",
    ])
    assert cosine(query, nearer) > cosine(query, near) > cosine(query, far)
    assert cosine(query, query) == pytest.approx(1.0)
    assert abs(cosine(query, far)) < 0.3
    assert cosine(emb.embed_query("Fingolimod, side-effects!"), emb.embed_query("fingolimod side effects")) == pytest.approx(1.0)


def test_other_dimensions_and_a_label_that_is_never_the_real_model_s():
    small = HashEmbeddings(dimensions=16)
    assert len(small.embed_query("relapse")) == 16
    assert small.label != HashEmbeddings().label != SentenceTransformerEmbeddings().label
    with pytest.raises(ValueError):
        HashEmbeddings(dimensions=0)


def test_it_has_what_the_pipeline_uses_of_the_real_embedder():
    real, fake = SentenceTransformerEmbeddings(), HashEmbeddings()  # the real one loads nothing until used
    for name in ("embed_query", "embed_documents", "aembed_query", "aembed_documents", "name", "label"):
        assert hasattr(real, name) and hasattr(fake, name), name
    assert fake.embed_documents([]) == []

"""Hybrid retrieval's pure parts: reciprocal rank fusion and the BM25 tokenizer (over the real index:
tests/integration/test_retrieve.py)."""

import pytest

from msassistant.index.search import reciprocal_rank_fusion
from msassistant.text import stem, tokenize


def test_reciprocal_rank_fusion():
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "a"]], k=60)
    scores = dict(fused)
    assert [d for d, _ in fused] == ["a", "c", "b"]
    assert scores["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert scores["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert scores["b"] == pytest.approx(1 / 62)
    assert reciprocal_rank_fusion([]) == []


def test_tokenize_drops_stopwords_and_stems():
    assert tokenize("What are the side effects of injections?") == ["side", "effect", "injection"]
    assert stem("relapses") == "relapse" and stem("therapies") == "therapy" and stem("stress") == "stress"

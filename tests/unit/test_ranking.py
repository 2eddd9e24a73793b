"""Ranking policies after fusion: credibility order, the earlier answer's documents, sentence scores."""

import numpy as np
from langchain_core.documents import Document

from msassistant.index.search import Hit
from msassistant.index.sentences import Sentences
from msassistant.pipeline.retrieve import credibility_order, prefer_sources


def hit(id_, score, source="g.txt", promotional=False):
    return Hit(Document(page_content=id_, metadata={"source": source, "promotional": promotional}, id=id_), score, None, None)


def test_a_promotional_passage_goes_behind_guide_passages_of_similar_relevance():
    hits = [hit("p1", 0.050, "p.txt", True), hit("g1", 0.047), hit("g2", 0.030)]
    ordered, moved = credibility_order(hits, about_claims=False)
    assert [h.id for h in ordered] == ["g1", "p1", "g2"] and moved == ["p1"]


def test_a_promotional_passage_far_more_relevant_keeps_its_place():
    hits = [hit("p1", 0.050, "p.txt", True), hit("g1", 0.020)]
    assert [h.id for h in credibility_order(hits, about_claims=False)[0]] == ["p1", "g1"]


def test_a_question_about_the_claims_keeps_the_promotional_order():
    hits = [hit("p1", 0.050, "p.txt", True), hit("g1", 0.049)]
    assert credibility_order(hits, about_claims=True) == (hits, [])


def test_a_follow_up_prefers_the_documents_of_the_earlier_answer():
    hits = [hit("m1", 0.040, "methotrexate.txt"), hit("a1", 0.035, "azathioprine.txt")]
    assert [h.id for h in prefer_sources(hits, ["azathioprine.txt"])] == ["a1", "m1"]
    assert prefer_sources(hits, []) is hits


class Unit:
    """Each text embeds as a unit vector along the axis of its first letter."""

    def embed_documents(self, texts):
        out = []
        for t in texts:
            v = np.zeros(26)
            v[ord(t.split(": ")[-1][0].lower()) - 97] = 1.0
            out.append(v.tolist())
        return out


def test_a_chunk_is_ranked_by_its_best_sentence():
    s = Sentences.build(["Apples are red. Bananas are yellow.", "Cherries are small."], ["T", "T"], Unit())
    assert s.owner.tolist() == [0, 0, 1] and s.of(0) == [0, 1]
    query = np.zeros(26)
    query[1] = 1.0  # "b"
    best = s.best([query.tolist()], 2)
    assert best[0] > 0.99 and best[1] < 0.01

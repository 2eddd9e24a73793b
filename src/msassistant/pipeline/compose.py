"""Compose: an extractive answer, the most relevant sentences of the retrieved passages, each cited [n].

Every sentence of the body is copied verbatim from the passage it cites, so nothing reaches the reader
that a cited passage does not say.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from .conversation import Resolution
    from .vocabulary import Vocabulary

from ..index.search import Hit, HybridSearch
from ..index.store import keyword_text
from ..text import split_sentences, tokenize
from .steps import ComposeStep, FocusStep, Step

MAX_SENTENCES = 4
PER_PASSAGE = 2
MIN_SECONDARY = 0.25  # share of the question's weight a lower-ranked passage must match to be cited
MIN_EXTRA = 0.34  # ... and a second sentence from a cited passage
RANK_PRIOR = 0.15  # weight of the retrieval rank when reranking passages by sentence match
TOPIC_WEIGHT = 0.3  # share of its weight a topic carried into a follow-up has when choosing sentences
# A sentence's relevance: this share is its meaning (cosine of its vector with the question's), the rest its
# words (the question's words it has, by their weight). Meaning finds "flu-like symptoms" for "flu symptoms"
# and "make you feel like you have the flu" alike; words keep names and numbers exact.
MEANING = 0.5


@dataclass
class Citation:
    id: int
    source: str
    title: str
    passage: str
    score: float
    kind: str
    credibility: str
    chunk_id: str
    promotional: bool = False

    def public(self) -> dict:
        return {
            "id": self.id, "source": self.source, "title": self.title, "passage": self.passage,
            "score": round(self.score, 4), "kind": self.kind, "credibility": self.credibility,
        }


@dataclass
class Composed:
    sentences: list[tuple[str, int]] = field(default_factory=list)  # (sentence, citation id)
    citations: list[Citation] = field(default_factory=list)
    weights: dict[str, float] = field(default_factory=dict)

    @property
    def body(self) -> str:
        return " ".join(f"{s} [{cid}]" for s, cid in self.sentences)

    def pieces(self) -> list[str]:
        return [f"{s} [{cid}]" for s, cid in self.sentences]


def _score(tokens: frozenset[str], weights: dict[str, float], total: float) -> float:
    if not total:
        return 0.0
    return sum(w for t, w in weights.items() if t in tokens) / total


@lru_cache(maxsize=8192)  # passages come back turn after turn: split and tokenise each once
def statements(passage: str) -> tuple[tuple[int, str, frozenset[str]], ...]:
    """(position, sentence, its words) of the passage's sentences that are not questions."""
    return tuple((pos, s, frozenset(tokenize(s))) for pos, s in enumerate(split_sentences(passage))
                 if not s.rstrip().endswith("?"))




def compose(query: str, hits: list[Hit], idf, doc_freq, max_passages: int = 3, pool: int = 6,
            meaning=None) -> Composed:
    """Rerank the top `pool` passages by how well their best sentence matches the question (with a
    prior for the retrieval rank), cite up to `max_passages` of them, numbered in that order. `meaning(hit)`:
    the similarity of each of the passage's sentences to the question, when sentence vectors are at hand."""
    weights = {t: idf(t) for t in set(tokenize(query)) if doc_freq.get(t)}
    total = sum(weights.values())
    candidates = []  # (combined score, hit rank, [(position, sentence, score)...] best first)
    for rank, hit in enumerate(hits[:pool]):
        sims = meaning(hit) if meaning else None

        def relevance(pos: int, tokens: frozenset[str]) -> float:
            lexical = _score(tokens, weights, total)
            if sims is None or pos >= len(sims):
                return lexical
            return (1 - MEANING) * lexical + MEANING * max(0.0, sims[pos])

        scored = [(pos, s, relevance(pos, tokens)) for pos, s, tokens in statements(hit.document.page_content)]
        if scored:
            ranked = sorted(scored, key=lambda x: x[2], reverse=True)
            candidates.append((ranked[0][2] + RANK_PRIOR / (rank + 1), rank, ranked))
    candidates.sort(key=lambda c: c[0], reverse=True)
    chosen: list[tuple[int, int, str, float]] = []  # (citation order, position, sentence, score)
    for order, (_, rank, ranked) in enumerate(candidates):
        if len({c[0] for c in chosen}) >= max_passages:
            break
        best = ranked[0]
        if chosen and best[2] < MIN_SECONDARY:
            continue
        chosen.append((rank, best[0], best[1], best[2]))
        chosen += [(rank, p, s, sc) for p, s, sc in ranked[1:PER_PASSAGE] if sc >= MIN_EXTRA]
    # keep the strongest sentences, always including each cited passage's best one
    if len(chosen) > MAX_SENTENCES:
        firsts: dict[int, tuple] = {}
        for c in chosen:
            firsts.setdefault(c[0], c)
        extras = sorted((c for c in chosen if c not in firsts.values()), key=lambda c: c[3], reverse=True)
        chosen = [c for c in chosen if c in firsts.values() or c in extras[: max(0, MAX_SENTENCES - len(firsts))]]
    order = list(dict.fromkeys(c[0] for c in chosen))  # passages in reranked order
    composed = Composed(weights=weights)
    for rank, pos, sentence, _ in sorted(chosen, key=lambda c: (order.index(c[0]), c[1])):
        number = order.index(rank) + 1
        if number > len(composed.citations):
            hit = hits[rank]
            meta = hit.document.metadata
            composed.citations.append(
                Citation(
                    id=number, source=meta["source"], title=meta["title"], passage=hit.document.page_content,
                    score=hit.dense if hit.dense is not None else hit.score, kind=meta["kind"],
                    credibility=meta["credibility"], chunk_id=hit.id, promotional=bool(meta.get("promotional")),
                )
            )
        composed.sentences.append((sentence, number))
    return composed


def focus(message: str, res: "Resolution", hits: list[Hit], search: HybridSearch, vocab: "Vocabulary",
          general: frozenset[str]):
    """How the answer's sentences are chosen: (passages, word weights, the focus step or None).

    A follow-up that refers back ("What are its side effects?") is retrieved with the earlier topic; but
    every passage about that topic names it, so among the passages about the topic, its sentences are chosen
    mostly by the follow-up's own words (the topic's words count for a fraction of their weight)."""
    if not (res.follow_up and res.carried) or (res.cue or "").startswith("ellipsis"):
        return hits, search.idf, None  # "and for progressive MS?": the earlier topic is part of the question
    topic = set(tokenize(res.carried)) - general
    on_topic = [h for h in hits if topic & set(tokenize(keyword_text(h.document)))]
    own = set(tokenize(vocab.expand(message).query)) - general - topic
    if not on_topic or not [t for t in own if t in search.doc_freq]:
        return hits, search.idf, None  # nothing of its own to choose by ("what else?")
    step = FocusStep(topic_weight=TOPIC_WEIGHT, passages=[h.id for h in on_topic[:6]])
    return on_topic, (lambda t: search.idf(t) * (TOPIC_WEIGHT if t in topic else 1.0)), step


def sentence_meaning(search: HybridSearch, vectors: Sequence[Sequence[float]]):
    """`meaning(hit)` for compose: each sentence's best cosine with the question's vectors, from the search's
    sentence vectors (None without them)."""
    sentences = search.sentences
    if sentences is None or not vectors:
        return None
    import numpy as np

    queries = np.asarray(vectors, dtype=np.float32)

    def meaning(hit: Hit) -> list[float] | None:
        position = search.position.get(hit.id)
        if position is None:
            return None
        rows = sentences.of(position)
        if not rows:
            return None
        return (np.asarray(sentences.vectors[rows]) @ queries.T).max(axis=1).tolist()

    return meaning


def answer(query: str, message: str, res: "Resolution", hits: list[Hit], search: HybridSearch,
           vocab: "Vocabulary", general: frozenset[str], urgent: bool, top_k: int,
           vectors: Sequence[Sequence[float]] = ()) -> tuple[Composed, list[Step]]:
    """The compose stage: the extractive answer to a turn, and the steps that explain it."""
    passages, idf, focused = focus(message, res, hits, search, vocab, general)
    # an urgent reply stays short: the guidance, then only the most relevant passage, never a promotional one
    if urgent:
        passages = [h for h in passages if not h.document.metadata.get("promotional")]
    composed = compose(query, passages, idf, search.doc_freq, max_passages=1 if urgent else top_k,
                       meaning=sentence_meaning(search, vectors))
    step = ComposeStep(sentences=len(composed.sentences), citations=[c.chunk_id for c in composed.citations])
    return composed, ([focused] if focused else []) + [step]


def source_changed(previous: Sequence[str], citations: Sequence[Citation]) -> str | None:
    """The title of the source a follow-up's answer leads with, when the earlier answer rested on others."""
    if not previous or not citations or citations[0].source in previous:
        return None
    title = citations[0].title or citations[0].source
    return f"\u201c{title}\u201d" if citations[0].kind != "treatment guide" else "the treatment guide"

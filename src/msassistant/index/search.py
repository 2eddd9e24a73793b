"""Retrieve: hybrid search over the index, dense (chromadb) + BM25 (bm25s), fused by reciprocal rank fusion."""

from __future__ import annotations

import difflib
import logging
import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from typing import Literal, Sequence

import numpy as np
from langchain_core.documents import Document

from . import snapshot
from .sentences import Sentences
from .store import Index, check_built_with, keyword_text
from ..text import STOPWORDS, TOKEN, english_words, stem, tokenize

log = logging.getLogger(__name__)

Mode = Literal["hybrid", "dense", "bm25"]
RRF_K = 60

def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], k: int = RRF_K) -> list[tuple[str, float]]:
    """Fuse ranked id lists: score(d) = sum over lists of 1 / (k + rank), rank counted from 1."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, doc_id in enumerate(ranking, start=1):
            scores[doc_id] = scores.get(doc_id, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda kv: kv[1], reverse=True)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k highest scores, highest first: a partition, then a sort of those k only."""
    if k <= 0:
        return np.arange(0)
    top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    return top[np.argsort(-scores[top], kind="stable")]


@dataclass
class Hit:
    document: Document
    score: float  # the fused score (or the single list's score outside hybrid mode)
    dense: float | None  # cosine similarity, when the dense list ranked it
    bm25: float | None

    @property
    def id(self) -> str:
        return self.document.id


class HybridSearch:
    """Holds the chunk texts, their vectors and a BM25 index in memory, loaded from the index's snapshot
    when there is one for its current generation (else built from chromadb, and the snapshot saved)."""

    def __init__(self, index: Index, progress: bool = False):
        import bm25s  # noqa: F401 - it sets its logger to DEBUG when imported; quieted after that

        logging.getLogger("bm25s").setLevel(logging.ERROR)
        self.index = index
        check_built_with(index)
        generation = index.generation()
        state = snapshot.load(index.snapshot_path, generation, index.model_label) if generation else None
        if state is not None and state.ids and (state.vectors is not None) != self._exact(index, len(state.ids)):
            state = None  # saved under another MSA_EXACT_SEARCH_MAX_CHUNKS
        if state is None:
            state = self._build(index, generation or "", progress)
            try:
                if snapshot.save(state, index.snapshot_path) and index.generation(assign=False) == generation:
                    snapshot.prune(index.snapshot_path, keep=generation)
            except OSError as exc:  # a read-only index folder: the search works, start-up is slower
                log.warning("could not save the search snapshot in %s: %s", index.snapshot_path, exc)
        self.generation = state.generation
        self.hashes = state.hashes
        self.ids = state.ids
        self._texts, self._metadatas = state.texts, state.metadatas
        self.position = {i: n for n, i in enumerate(state.ids)}
        self._documents: dict[int, Document] = {}
        self.doc_freq = state.doc_freq
        self._surface = state.surface
        self.bm25 = state.bm25
        self.vectors = state.vectors
        self.sentences = state.sentences
        self._vocab: dict[int, list[str]] | None = None
        self._near: dict[str, str | None] = {}
        self._promotional: dict[float, frozenset[str]] = {}

    def document(self, n: int) -> Document:
        """The chunk at position n, as a LangChain Document (made when first asked for: a server starts
        without building one for each of tens of thousands of chunks)."""
        doc = self._documents.get(n)
        if doc is None:
            # model_construct: the texts and metadata come from our own index and need no validation
            doc = self._documents[n] = Document.model_construct(
                page_content=self._texts[n], metadata=self._metadatas[n], id=self.ids[n], type="Document")
        return doc

    @property
    def chunks(self) -> list[Document]:
        """Every chunk, in (source, chunk) order."""
        return [self.document(n) for n in range(len(self.ids))]

    @classmethod
    def prepare(cls, index: Index, progress: bool = False) -> bool:
        """Make sure the index has a search snapshot for its current generation, so that servers start fast.
        True when one had to be built."""
        generation = index.generation()
        if generation is None or snapshot.read_manifest(index.snapshot_path, generation, index.model_label):
            return False
        cls(index, progress)
        return True

    @staticmethod
    def _exact(index: Index, chunks: int) -> bool:
        """Dense search over vectors in memory (exact), or in chromadb's HNSW index above the limit."""
        return chunks <= index.settings.exact_search_max_chunks

    @staticmethod
    def _build(index: Index, generation: str, progress: bool = False) -> snapshot.SearchState:
        import bm25s

        exact = HybridSearch._exact(index, index.count())
        chunks, vectors = index.chunks_and_vectors() if exact else (index.all_chunks(), None)
        tokens = [tokenize(keyword_text(d)) for d in chunks]
        doc_freq = Counter(t for toks in tokens for t in set(toks))
        surface: dict[str, str] = {}
        for d in chunks:
            for word in TOKEN.findall(d.page_content.lower()):
                surface.setdefault(stem(word), word)
        bm25 = None
        if chunks:
            bm25 = bm25s.BM25()
            bm25.index(tokens, show_progress=False)
        sentences = None
        if exact and chunks:
            sentences = Sentences.build([d.page_content for d in chunks], [d.metadata.get("title", "") for d in chunks],
                                        index.embeddings, progress=progress)
        return snapshot.SearchState(
            generation, index.model_label, [d.id for d in chunks], [d.page_content for d in chunks],
            [d.metadata for d in chunks], dict(doc_freq), surface, bm25, vectors if chunks else None, {}, sentences)

    @cached_property
    def promotional_sources(self) -> frozenset[str]:
        return frozenset(m["source"] for m in self._metadatas if m.get("promotional"))

    def promotional_words(self, share: float) -> frozenset[str]:
        """Words that are mostly the promotional passages' own: at least `share` of the chunks using them
        are promotional."""
        if share not in self._promotional:
            total: Counter = Counter()
            promo: Counter = Counter()
            for text, meta in zip(self._texts, self._metadatas):
                words = set(tokenize(text))
                total.update(words)
                if meta.get("promotional"):
                    promo.update(words)
            self._promotional[share] = frozenset(t for t, n in total.items() if promo[t] >= share * n)
        return self._promotional[share]

    def near(self, token: str) -> str | None:
        """The corpus word a misspelled token most likely means ("fatgue" -> "fatigue"), if any."""
        if len(token) < 5:
            return None
        if token not in self._near:
            if self._vocab is None:  # corpus words by length: a close match is at most 2 letters longer or shorter
                self._vocab = {}
                for t in self.doc_freq:
                    if len(t) >= 4:
                        self._vocab.setdefault(len(t), []).append(t)
            pool = [t for n in range(len(token) - 2, len(token) + 3) for t in self._vocab.get(n, ())]
            close = difflib.get_close_matches(token, pool, n=1, cutoff=0.84)
            if len(self._near) > 4096:
                self._near.clear()
            self._near[token] = close[0] if close else None
        return self._near[token]

    def correct(self, text: str) -> str:
        """Replace words the corpus never uses by the corpus word they most likely misspell."""
        def fix(match: re.Match) -> str:
            word = match.group(0)
            token = stem(word.lower())
            if word.lower() in STOPWORDS or token in self.doc_freq or word.lower() in english_words():
                return word
            near = self.near(token)
            return self._surface.get(near, near) if near else word

        return re.sub(r"[A-Za-z]{5,}", fix, text)

    def idf(self, token: str) -> float:
        n = max(len(self.ids), 1)
        return math.log(1 + (n - self.doc_freq.get(token, 0) + 0.5) / (self.doc_freq.get(token, 0) + 0.5))

    def dense(self, vector: list[float], k: int) -> list[tuple[str, float]]:
        return self.dense_many([vector], k)[0]

    def dense_many(self, vectors: list[list[float]], k: int) -> list[list[tuple[str, float]]]:
        """(chunk id, cosine similarity) of the k nearest chunks to each query vector. Exact, over the
        vectors in memory; above MSA_EXACT_SEARCH_MAX_CHUNKS, chromadb's HNSW index (one call)."""
        if not self.ids or not vectors:
            return [[] for _ in vectors]
        k = min(k, len(self.ids))
        if self.vectors is None:
            got = self.index.collection.query(query_embeddings=vectors, n_results=k, include=["distances"])
            return [[(i, 1.0 - d) for i, d in zip(ids, dists)] for ids, dists in zip(got["ids"], got["distances"])]
        # vectors are normalised, so cosine similarity is the dot product; one matrix-vector product per query
        # vector (BLAS multiplies a tall matrix by a two-column one several times slower than twice by a vector)
        out = []
        for vector in vectors:
            column = self.vectors @ np.asarray(vector, dtype=np.float32)
            out.append([(self.ids[i], float(column[i])) for i in top_k(column, k)])
        return out

    def sparse(self, query_tokens: list[str], k: int) -> list[tuple[str, float]]:
        known = [t for t in query_tokens if t in self.doc_freq]
        if not known or self.bm25 is None:
            return []
        scores = self.bm25.get_scores(known)
        return [(self.ids[i], float(scores[i])) for i in top_k(scores, k) if scores[i] > 0]

    def search(self, query: str, vectors: list[list[float]], k: int, candidates: int, mode: Mode = "hybrid") -> list[Hit]:
        """Rank chunks for a query. The dense ranking takes each chunk's best similarity over the query
        vectors (the question, and its vocabulary expansion when there is one); the sentence ranking each
        chunk's best sentence (small-to-big); BM25 ranks the expanded text. Hybrid mode fuses the three
        rankings by reciprocal rank fusion."""
        dense_map: dict[str, float] = {}
        if mode != "bm25":
            for ranking in self.dense_many(vectors, candidates):
                for i, sim in ranking:
                    dense_map[i] = max(sim, dense_map.get(i, -1.0))
        dense = sorted(dense_map.items(), key=lambda kv: kv[1], reverse=True)[:candidates]
        sparse = self.sparse(tokenize(query), candidates) if mode != "dense" else []
        sparse_map = dict(sparse)
        if mode == "hybrid":
            fused = reciprocal_rank_fusion([[i for i, _ in dense], [i for i, _ in sparse], self.by_sentence(vectors, candidates)])
        else:
            fused = dense if mode == "dense" else sparse
        return [
            Hit(self.document(self.position[i]), score, dense_map.get(i), sparse_map.get(i))
            for i, score in fused[:k] if i in self.position
        ]

    def by_sentence(self, vectors: list[list[float]], k: int) -> list[str]:
        """Chunk ids ranked by their best sentence's similarity to the query vectors (none without sentences)."""
        if self.sentences is None or not vectors:
            return []
        best = self.sentences.best(vectors, len(self.ids))
        return [self.ids[i] for i in top_k(best, min(k, len(self.ids))) if best[i] > -1.0]

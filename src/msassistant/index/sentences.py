"""Sentences: every chunk's sentences with their own vectors, the small half of small-to-big retrieval.

A long passage's vector averages all it says, so a question about one thing it mentions in passing is far
from it. Each sentence is embedded on its own (with its document's title, which says what "the study" or
"this treatment" is), and a chunk is ranked by its best sentence: the matching sentence lifts its passage.
Built with the search snapshot at ingest, and kept in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..text import split_sentences

BATCH = 256


@dataclass
class Sentences:
    owner: np.ndarray  # int32: the chunk position of each sentence
    texts: list[str]
    vectors: np.ndarray  # float32, one normalised row per sentence

    def __len__(self) -> int:
        return len(self.texts)

    @staticmethod
    def split(texts: Sequence[str], titles: Sequence[str]) -> tuple[list[int], list[str], list[str]]:
        """Each sentence's chunk position, the sentence, and what is embedded for it (its document's title first)."""
        owner, sentences, embedded = [], [], []
        for n, (text, title) in enumerate(zip(texts, titles)):
            for s in split_sentences(text):
                owner.append(n)
                sentences.append(s)
                embedded.append(f"{title}: {s}" if title else s)
        return owner, sentences, embedded

    @classmethod
    def build(cls, texts: Sequence[str], titles: Sequence[str], embeddings, progress: bool = False) -> "Sentences":
        owner, sentences, embedded = cls.split(texts, titles)
        vectors = np.zeros((0, 0), dtype=np.float32)
        if embedded:
            from tqdm import tqdm

            parts = [embeddings.embed_documents(embedded[i:i + BATCH])
                     for i in tqdm(range(0, len(embedded), BATCH), desc="sentences", unit="batch",
                                   disable=not progress or len(embedded) <= BATCH)]
            vectors = np.asarray([v for part in parts for v in part], dtype=np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12
        return cls(np.asarray(owner, dtype=np.int32), sentences, vectors)

    def best(self, queries: Sequence[Sequence[float]], chunks: int) -> np.ndarray:
        """Each chunk's best sentence similarity to any of the query vectors (-1 for a chunk with none)."""
        out = np.full(chunks, -1.0, dtype=np.float32)
        if not len(self) or not queries:
            return out
        sims = np.max(np.stack([self.vectors @ np.asarray(q, dtype=np.float32) for q in queries]), axis=0)
        np.maximum.at(out, self.owner, sims)
        return out

    def of(self, chunk: int) -> list[int]:
        """Positions of a chunk's sentences (stored in chunk order, so found by bisection)."""
        return list(range(int(np.searchsorted(self.owner, chunk, "left")), int(np.searchsorted(self.owner, chunk, "right"))))

"""A deterministic embedder with the same interface as `SentenceTransformerEmbeddings`, and no model.

Each word of a text is hashed (sha256) into one of a fixed number of dimensions, with a sign taken from
the same hash; the counts are scaled to unit length. Texts that share words get a positive cosine
similarity (the more they share, the higher), texts with no word in common get one near zero. A text
always gets the same vector, in every process and on every machine.

It knows nothing about meaning ("tired" and "fatigue" are unrelated to it), so it stands in for the real
model wherever only the shape of embeddings matters: the index, the snapshot, the search and the
pipeline around them can then be exercised in milliseconds, without loading a model.
"""

from __future__ import annotations

import hashlib
import math
import re

from langchain_core.embeddings import Embeddings

DIMENSIONS = 384  # the size of all-MiniLM-L6-v2's vectors
WORD = re.compile(r"[^\W_]+")  # letters and digits, of any script
EMPTY = "\0"  # stands for a text without words, so that it too gets a unit-length vector


def _feature(word: str, dimensions: int) -> tuple[int, float]:
    """The dimension a word counts in, and whether it adds or subtracts there (sign hashing keeps the
    words that share a dimension from adding up into a false similarity)."""
    digest = hashlib.sha256(word.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % dimensions, (1.0 if digest[8] & 1 else -1.0)


class HashEmbeddings(Embeddings):
    """Bag-of-words vectors by feature hashing; unit length, so cosine similarity is a dot product."""

    def __init__(self, dimensions: int = DIMENSIONS, name: str | None = None):
        if dimensions < 1:
            raise ValueError(f"dimensions must be at least 1, not {dimensions}")
        self.dimensions = dimensions
        self.name = name or f"hash-embeddings-{dimensions}"
        self.label = self.name  # recorded with the index: an index built with it is never taken for the real model's
        self.index_label = self.label

    def _vector(self, text: str) -> list[float]:
        vector = [0.0] * self.dimensions
        for word in WORD.findall(text.lower()) or [EMPTY]:
            index, sign = _feature(word, self.dimensions)
            vector[index] += sign
        norm = math.sqrt(sum(v * v for v in vector))
        if norm == 0.0:  # every word cancelled another out: fall back to the text as one token
            vector = [0.0] * self.dimensions
            index, sign = _feature(EMPTY + text, self.dimensions)
            vector[index], norm = sign, 1.0
        return [v / norm for v in vector]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)

"""The technical words of the corpus: drugs, procedures, tests, symptoms and study words that patients
rarely use, found by how rare they are in everyday English (wordfreq's Zipf scale: 3 is about once per
million words). `msassistant vocabulary gaps` lists those that the vocabulary gives no lay name, so that
staff who add a document see which of its words a patient would not type.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

from ..text import WORD, fold

EVERYDAY = 3.5  # Zipf frequency at or above which a word is everyday English


@dataclass
class Term:
    word: str
    count: int = 0
    sources: set[str] = field(default_factory=set)
    zipf: float = 0.0


def technical_words(docs: Iterable[tuple[str, str]], everyday: float = EVERYDAY) -> dict[str, Term]:
    """Words of the (source, text) pairs rarer than `everyday` in English, with their counts."""
    from wordfreq import zipf_frequency

    counts: Counter = Counter()
    sources: dict[str, set[str]] = {}
    for source, text in docs:
        for word in WORD.findall(fold(text)):
            word = word.strip("'-").removesuffix("'s")
            if len(word) < 3 or not any(c.isalpha() for c in word):
                continue
            counts[word] += 1
            sources.setdefault(word, set()).add(source)
    out = {}
    for word, n in counts.items():
        z = zipf_frequency(word, "en")
        if z < everyday:
            out[word] = Term(word, n, sources[word], z)
    return out


def covered_words(vocab) -> set[str]:
    """Every word that the vocabulary reaches from a patient's words: terms with lay names, the clinical
    words lay phrases expand to, and the drugs' names; and the rare words reviewed as plain enough."""
    words: set[str] = {w.lower() for w in getattr(vocab, "plain", ())}  # reviewed: needs no lay name

    def add(text: str) -> None:
        words.update(w.strip("'-") for w in WORD.findall(fold(text)))

    for term, entry in vocab.terms.items():
        if entry.get("lay"):
            add(term)
    for targets in vocab.lay.values():
        for t in targets:
            add(t)
    for drug in vocab.drugs:
        for name in (*drug.names, *drug.corpus_terms):
            add(name)
    return words


def gaps(docs: Iterable[tuple[str, str]], vocab, everyday: float = EVERYDAY) -> list[Term]:
    """Technical words of the corpus with no lay name, the most frequent first."""
    covered = covered_words(vocab)
    found = [t for w, t in technical_words(docs, everyday).items() if w not in covered]
    return sorted(found, key=lambda t: (-t.count, t.word))

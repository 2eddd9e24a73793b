"""Answerable? Whether a passage holds what the question asks about its subject.

Similarity alone cannot tell: a question about a drug's cost, or about a vaccine on a drug, is close to
every passage about that drug. So a question's asked aspects (its cost, pregnancy, dose, side effects...)
are read from rules/aspects.toml, the passages' aspects from the same file, and a question is answered only
when one of its ranked passages holds every aspect it asks and names the drug it asks about. Passages are
tagged when first seen (the tags depend on the text alone, so they are cached by text).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Sequence

from ..resources import rule
from ..text import fold_words, split_sentences, tokenize
from .vocabulary import Drug

DEPTH = 5  # how many of the ranked passages may hold the asked aspect
# A word rarer than this in everyday English (wordfreq's Zipf scale: 3 is once per million words) is a
# technical word: a drug, a test, a procedure. A question that asks about one the library never uses asks
# about something the library does not cover, however close its other words come.
TECHNICAL = 3.0


@dataclass(frozen=True)
class Aspect:
    name: str
    asks: tuple[str, ...]
    holds: tuple[re.Pattern, ...]


@lru_cache(maxsize=1)
def aspects() -> tuple[Aspect, ...]:
    return tuple(Aspect(name, tuple(f" {fold_words(a).strip()}" for a in entry.get("asks", [])),
                        tuple(re.compile(p, re.IGNORECASE) for p in entry.get("holds", [])))
                 for name, entry in rule("aspects").items())


QUESTION_OPENERS = re.compile(
    r"^(what|whats|what's|how|is|are|am|can|could|does|do|did|will|would|should|which|who|where|when|why|any|has|have|"
    r"was|were|tell me|i wonder|wondering|i want to know|i'd like to know|please)\b", re.IGNORECASE)


@lru_cache(maxsize=1024)  # read by both checks of a turn
def asking_part(message: str) -> str:
    """The sentences of a message that ask something (a long post tells its story first): those ending in
    a question mark or opening like a question; the whole message when none does."""
    sentences = split_sentences(message.replace("\n", " "))
    asking = [s for s in sentences if s.rstrip().endswith("?") or QUESTION_OPENERS.match(s.strip(" \"'(-"))]
    return " ".join(asking) if asking else message


def asked(question: str) -> list[str]:
    """The aspects a question asks for, in the order of the rules file (read in its asking part only:
    "I was diagnosed last year. Does it help with walking?" does not ask about diagnosis)."""
    folded = fold_words(asking_part(question))
    return [a.name for a in aspects() if any(cue in folded for cue in a.asks)]


@lru_cache(maxsize=65536)
def held(text: str) -> frozenset[str]:
    """The aspects a passage states."""
    return frozenset(a.name for a in aspects() if any(p.search(text) for p in a.holds))


def foreign_terms(question: str, knows, vocab) -> list[str]:
    """Technical words in the asking part of a question that neither the library nor the vocabulary knows
    (`knows(word)`: the library uses the word or a near spelling of it)."""
    from wordfreq import zipf_frequency

    folded = fold_words(vocab.correct(asking_part(question)))
    out = []
    for word in dict.fromkeys(folded.split()):
        if len(word) < 3 or not word.isalpha() or word in vocab.reached_words:
            continue
        rare = TECHNICAL if len(word) > 3 else TECHNICAL - 0.5  # "pml", but not a short typo
        if zipf_frequency(word, "en") < rare and not knows(word) and not _misspelt_english(word):
            out.append(word)
    return out


@lru_cache(maxsize=4096)
def _misspelt_english(word: str) -> bool:
    """"actualy", "pysio": a near spelling of an everyday word is a typo, not a technical term."""
    from wordfreq import zipf_frequency

    pool = [w for w in _everyday_by_letter().get(word[0], ()) if abs(len(w) - len(word)) <= 2]
    close = difflib.get_close_matches(word, pool, n=1, cutoff=0.8)
    return bool(close) and zipf_frequency(close[0], "en") >= TECHNICAL


@lru_cache(maxsize=1)
def _everyday_by_letter() -> dict[str, tuple[str, ...]]:
    from ..text import english_words

    out: dict[str, list[str]] = {}
    for w in english_words():
        out.setdefault(w[0], []).append(w)
    return {k: tuple(v) for k, v in out.items()}


@dataclass
class Judgement:
    asked: list[str] = field(default_factory=list)
    holding: list[str] = field(default_factory=list)  # ranked passages holding every asked aspect (and the drug)
    missing: list[str] = field(default_factory=list)  # asked aspects that no ranked passage holds

    @property
    def answerable(self) -> bool:
        return not self.asked or bool(self.holding)


def judge(question: str, passages: Sequence[tuple[str, str]], drugs: Sequence[Drug] = (), depth: int = DEPTH) -> Judgement:
    """`passages`: (id, text) of the ranked passages, best first; `drugs`: the drugs the question names
    that the library covers."""
    want = asked(question)
    if not want:
        return Judgement()
    top = passages[:depth]
    holding = [pid for pid, text in top
               if set(want) <= held(text) and all(d.named_in(set(tokenize(text))) for d in drugs)]
    missing = [a for a in want if not any(a in held(text) for _, text in top)]
    return Judgement(want, holding, missing)

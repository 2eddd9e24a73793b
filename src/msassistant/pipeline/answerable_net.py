"""The learned second net of "does the library answer this?", beside the aspect rules of answerable.py.

A question close to the library in its words is not always answered by it: "what does a month of
azathioprine cost" is near every passage about azathioprine. The rules (rules/aspects.toml) catch the asked
aspects someone listed; this net reads measured signals of any wording, from what retrieval already found,
so it costs no extra embedding:

- meaning: how close the question comes to the best sentences of its ranked passages, and to the chunks;
- the labelled questions of rules/answerable/train.jsonl: how close the question comes to the nearest ones
  the library answers, and to the nearest ones it does not (questions about cost, vaccines, doses... are
  near each other whatever drug they name);
- words: how much of the asking part's weight (by rarity in the library) one ranked passage holds, how much
  the ranked passages hold together, and how much the library never uses;
- the rules' own findings (an asked aspect no passage holds, a technical word the library never uses).

A logistic regression over these (trained by `msassistant answerable train`, threshold chosen on out-of-fold
predictions) gives the probability that the library answers; below the threshold the reply says the library
does not cover it. The model file records the labelled set's hash and the embedding model, as the triage
net's does.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..resources import path as resource_path
from ..text import tokenize
from . import answerable
from .learned import load_checked
from .triage_net import _pack, _unpack, data_hash

if TYPE_CHECKING:
    from ..index.search import HybridSearch
    from .retrieve import Retrieval
    from .vocabulary import Vocabulary

TRAIN_FILE = ("rules", "answerable", "train.jsonl")
MODEL_FILE = ("rules", "answerable", "model.json")
RETRAIN = "run `msassistant answerable train` to train it again (after `msassistant ingest`)"
LABELS = ("uncovered", "covered")
DEPTH = answerable.DEPTH  # the ranked passages the signals read
NEAREST = 3  # labelled questions averaged on each side
FEATURES = ("sentence_best", "sentence_top3", "chunk_best", "near_covered", "near_uncovered", "near_margin",
            "words_one_passage", "words_all_passages", "words_unknown", "aspect_missing", "aspect_asked",
            "foreign_term", "content_words")


class StaleAnswerableModel(RuntimeError, ValueError):  # a start-up error the CLI reports in one line
    """The learned answerability model does not match its labelled set or the embedding model in use."""


def labelled_set_hash(train_file: Path | None = None) -> str:
    """The hash of the labelled questions the net is trained on."""
    file = Path(train_file) if train_file else resource_path(*TRAIN_FILE)
    return data_hash(file.read_text(encoding="utf-8"))


def read_labelled(path: Path | None = None) -> list[tuple[str, str]]:
    """(text, label) of the labelled questions."""
    file = Path(path) if path else Path(str(resource_path(*TRAIN_FILE)))
    rows = []
    for n, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if row.get("label") not in LABELS or not str(row.get("text", "")).strip():
            raise ValueError(f"{file}:{n}: a labelled question needs a text and a label ({' or '.join(LABELS)})")
        rows.append((row["text"], row["label"]))
    return rows


@lru_cache(maxsize=65536)
def _passage_tokens(text: str) -> frozenset[str]:
    return frozenset(tokenize(text))


@lru_cache(maxsize=4)
def _stems(words: frozenset[str]) -> frozenset[str]:
    return frozenset(t for w in words for t in tokenize(w))


def asked_words(text: str, drugs: Sequence, generic: frozenset[str], added: Sequence[str] = (),
                reached: frozenset[str] = frozenset()) -> list[str]:
    """The content words of a question's asking part (`text`: as retrieval corrected it), read as the library
    would: a lay word the vocabulary reaches (`reached`) as the clinical terms it adds (`added`), a named drug's
    brand or misspelling as the library's own name for it."""
    lay = _stems(reached)
    words = [t for t in tokenize(answerable.asking_part(text)) if t not in lay or not added]
    words += [t for term in added for t in tokenize(term)]
    for drug in drugs:
        named = {t for name in drug.names for t in tokenize(name)}
        words = [t for t in words if t not in named] + (tokenize(drug.corpus_terms[0]) if drug.corpus_terms else [])
    return [t for t in dict.fromkeys(words) if t not in generic and len(t) > 1]


def word_signals(words: Sequence[str], passages: Sequence[str], search: "HybridSearch") -> tuple[float, float, float, int]:
    """(share held by the best single passage, share held by all of them, share the library never uses,
    count) of a question's content words, each weighted by its rarity in the library."""
    if not words:
        return 1.0, 1.0, 0.0, 0
    known = {t: t in search.doc_freq or bool(search.near(t)) for t in words}
    weight = {t: search.idf(t) for t in words}  # a word the library never uses weighs the most
    total = sum(weight.values()) or 1.0
    held = [_passage_tokens(p) for p in passages]

    def share(tokens: frozenset[str]) -> float:
        return sum(w for t, w in weight.items() if t in tokens or (search.near(t) in tokens)) / total

    one = max((share(h) for h in held), default=0.0)
    every = share(frozenset().union(*held)) if held else 0.0
    unknown = sum(w for t, w in weight.items() if not known[t]) / total
    return one, every, unknown, len(words)


def sentence_signals(found: "Retrieval", search: "HybridSearch") -> tuple[float, float]:
    """(best, mean of the best three) similarity of the question's vectors to the sentences of its ranked passages."""
    sentences = search.sentences
    rows = [i for h in found.hits[:DEPTH] if h.id in search.position for i in sentences.of(search.position[h.id])]
    if not rows or not found.vectors or not len(sentences):
        return 0.0, 0.0
    q = np.asarray(found.vectors, dtype=np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True) + 1e-12
    sims = np.max(sentences.vectors[rows] @ q.T, axis=1)
    best = np.sort(sims)[::-1]
    return float(best[0]), float(best[:3].mean())


@dataclass
class Signals:
    """One question's measured signals, in FEATURES order, minus the labelled-question ones (those depend
    on which labelled questions are known: all of them when answering, the other folds when training)."""

    values: dict[str, float]
    vector: np.ndarray  # the question's normalised query vector

    def row(self, near_covered: float, near_uncovered: float) -> np.ndarray:
        v = dict(self.values, near_covered=near_covered, near_uncovered=near_uncovered,
                 near_margin=near_covered - near_uncovered)
        return np.asarray([v[f] for f in FEATURES], dtype=np.float32)


def signals(question: str, found: "Retrieval", search: "HybridSearch", vocab: "Vocabulary", generic: frozenset[str],
            knows, drugs: Sequence = ()) -> Signals | None:
    """None without query vectors (bm25 mode): the rules decide alone."""
    if not found.vectors:
        return None
    texts = [h.document.page_content for h in found.hits[:DEPTH]]
    best, top3 = sentence_signals(found, search)
    e = found.expansion
    words = asked_words(e.text, e.drugs, generic, e.added, vocab.reached_words)
    one, every, unknown, n = word_signals(words, texts, search)
    judged = answerable.judge(question, [(h.id, t) for h, t in zip(found.hits, texts)], drugs)
    foreign = answerable.foreign_terms(question, knows, vocab)
    q = np.asarray(found.vectors[0], dtype=np.float32)
    values = {"sentence_best": best, "sentence_top3": top3, "chunk_best": found.top_similarity,
              "words_one_passage": one, "words_all_passages": every, "words_unknown": unknown,
              "aspect_missing": float(not judged.answerable), "aspect_asked": float(bool(judged.asked)),
              "foreign_term": float(bool(foreign)), "content_words": math.log1p(n)}
    return Signals(values, q / (np.linalg.norm(q) + 1e-12))


def nearest(sims: np.ndarray, covered: np.ndarray) -> tuple[float, float]:
    """Mean similarity of the NEAREST labelled questions on each side."""
    def side(mask: np.ndarray) -> float:
        s = np.sort(sims[mask])[::-1][:NEAREST]
        return float(s.mean()) if len(s) else 0.0
    return side(covered), side(~covered)


@dataclass
class AnswerableNet:
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    threshold: float
    examples: np.ndarray  # (labelled questions, dimensions) normalised query vectors
    covered: np.ndarray  # bool per labelled question
    model_label: str = ""
    data_sha256: str = ""

    def probability(self, s: Signals) -> tuple[float, dict[str, float]]:
        """The probability that the library answers, and the features it read (for staff)."""
        row = s.row(*nearest(self.examples @ s.vector, self.covered))
        z = float(((row - self.mean) / self.scale) @ self.coef + self.intercept)
        return 1.0 / (1.0 + math.exp(-z)), {f: round(float(v), 3) for f, v in zip(FEATURES, row)}

    def to_dict(self) -> dict:
        return {"features": list(FEATURES), "mean": np.round(self.mean, 5).tolist(),
                "scale": np.round(self.scale, 5).tolist(), "coef": np.round(self.coef, 5).tolist(),
                "intercept": round(self.intercept, 5), "threshold": round(self.threshold, 4),
                "dimensions": int(self.examples.shape[1]), "examples": _pack(self.examples, "float16"),
                "covered": self.covered.astype(int).tolist(), "model_label": self.model_label,
                "data_sha256": self.data_sha256}

    @classmethod
    def from_dict(cls, data: dict) -> "AnswerableNet":
        if tuple(data["features"]) != FEATURES:
            raise StaleAnswerableModel(f"the answerability model's features are not this version's: {RETRAIN}")
        covered = np.asarray(data["covered"], dtype=bool)
        return cls(np.asarray(data["mean"], np.float32), np.asarray(data["scale"], np.float32),
                   np.asarray(data["coef"], np.float32), float(data["intercept"]), float(data["threshold"]),
                   _unpack(data["examples"], "float16", (len(covered), int(data["dimensions"]))), covered,
                   str(data["model_label"]), str(data["data_sha256"]))

    @classmethod
    def load(cls, model_label: str, path: Path | None = None, expected_hash: str | None = None) -> "AnswerableNet":
        """The shipped model (or the one at `path`), checked against its labelled set and the embedding model."""
        file = Path(path) if path else Path(str(resource_path(*MODEL_FILE)))
        return load_checked(cls.from_dict, file, what="learned answerability model", error=StaleAnswerableModel,
                            labelled="rules/answerable/train.jsonl", retrain=RETRAIN, model_label=model_label,
                            expected_hash=expected_hash or labelled_set_hash())

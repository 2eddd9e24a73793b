"""The learned second net of red-flag triage: a small classifier over what a message means and how it is worded.

The rules (red_flags.toml) are the first net and the policy. This net reads meaning instead of phrases:
a logistic regression over three kinds of feature of the whole message and of each of its clauses gives
each a probability of emergency, crisis, urgent or none:
- the sentence embedding the assistant computes anyway (meaning: "check out" near "end my life");
- character n-grams, hashed (wording: typos, text-speak and shorthand such as "wana", "dx", "Tysarbi");
- the look-alike cues of the clause as 0/1 features (a general question, the past, something resolved or
  long-standing, heat, a hypothetical, a story or the news, a negation, and a marker of now such as
  "since Tuesday" or "right now": rules/triage_net.toml and red_flags.toml).
The cues are learned, not hard switches: the labelled set pairs each red flag with look-alikes in nearly
the same words, so the net learns how much "what if" or "in 2019" lowers a flag and that "right now"
brings it back ("is it a stroke if his face just dropped?" stays an emergency). Crisis is asymmetric:
its threshold is fixed at 0.5 rather than tuned, and a rule's crisis flag is only explained away by a
story or the news.

The weights are a small JSON file (rules/triage/model.json) made by `msassistant triage train` from the
labelled messages in rules/triage/train.jsonl. It records the hash of that file and the embedding model it
was trained with; a model that no longer matches either is refused with a message saying how to retrain.
"""

from __future__ import annotations

import base64
import hashlib
import re
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from ..resources import path as resource_path
from ..resources import rule
from . import triage as rules_net
from .learned import load_checked

LEVELS = ("emergency", "crisis", "urgent")
CLASSES = ("none", *LEVELS)
CUES = ("question", "past", "resolved", "chronic", "uhthoff", "hypothetical", "report", "negated", "now")
TEXT_FEATURES = 2 ** 16  # hashed character 3- to 5-grams
NGRAMS = (3, 5)
TRAIN_FILE = ("rules", "triage", "train.jsonl")
MODEL_FILE = ("rules", "triage", "model.json")
RETRAIN = "run `msassistant triage train` to train it again"


class StaleTriageModel(RuntimeError, ValueError):  # a start-up error the CLI reports in one line
    """The learned triage model does not match its labelled set or the embedding model in use."""


def data_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def labelled_set_hash() -> str:
    return data_hash(resource_path(*TRAIN_FILE).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Cues:
    explains_rules_away: dict[str, frozenset[str]]
    hypothetical: tuple[re.Pattern[str], ...]
    report: tuple[re.Pattern[str], ...]
    negated: tuple[re.Pattern[str], ...]


@lru_cache(maxsize=1)
def cues() -> Cues:
    data = rule("triage_net")
    macros = rule("red_flags").get("patterns", {})

    def compile_all(items: list[str]) -> tuple[re.Pattern[str], ...]:
        out = []
        for item in items:
            for name, value in macros.items():
                item = item.replace("{" + name + "}", value)
            out.append(re.compile(r"(?<!\w)(?:" + item + r")(?!\w)"))
        return tuple(out)

    la = data["look_alikes"]
    return Cues(explains_rules_away={lv: frozenset(v) for lv, v in data["explains_rules_away"].items()},
                hypothetical=compile_all(la["hypothetical"]["cues"]), report=compile_all(la["report"]["cues"]),
                negated=compile_all(la["negated"]["cues"]))


@lru_cache(maxsize=4096)
def look_alikes(clause: str, following: str | None, uhthoff: bool) -> frozenset[str]:
    """The look-alike cues of one cleaned clause: the rules' own (question, past, resolved, chronic, uhthoff),
    the learned net's (hypothetical, report, negated), and "now" when it says the thing is happening now."""
    rs, c = rules_net.rules(), cues()
    found = rules_net._look_alikes(clause, following, uhthoff, rs)
    if any(p.search(clause) for p in c.hypothetical):
        found.add("hypothetical")
    if any(p.search(clause) for p in c.report):
        found.add("report")
    if any(p.search(clause) for p in c.negated):
        found.add("negated")
    if rules_net._any(rs.q_now, clause) or rules_net._any(rs.past_now, clause):
        found.add("now")
    return frozenset(found)


@dataclass(frozen=True)
class Finding:
    level: str | None
    score: float  # the probability of that level for the clause that raised it (or the best one seen)
    clause: str | None  # the text that raised it
    cues: tuple[str, ...] = ()  # the look-alike cues the net read in that text, for staff
    ordinary: float = 0.0  # the net's lowest probability of no red flag over the whole message and its clauses
    context: tuple[str, ...] = ()  # the look-alike cues anywhere in the message (past, resolved, question...)


def _pack(array: np.ndarray, dtype: str) -> str:
    return base64.b64encode(zlib.compress(np.ascontiguousarray(array, dtype=dtype).tobytes(), 9)).decode("ascii")


def _unpack(text: str, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    array = np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype=dtype).reshape(shape)
    return array if dtype == "int32" else array.astype(np.float32)


@lru_cache(maxsize=1)
def hasher():
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(analyzer="char_wb", ngram_range=NGRAMS, n_features=TEXT_FEATURES, alternate_sign=False,
                             norm="l2")


@dataclass(frozen=True)
class Unit:
    text: str  # what is embedded and hashed: the whole message as written, or one cleaned clause
    clause: str  # the cleaned text the cues are read in
    sentence: str  # the cleaned sentence it belongs to (the whole message for the whole-message unit)


def units(message: str) -> list[Unit]:
    """The whole message first, then each clause when it has more than one. The whole message is embedded
    as written, so the retrieval that follows can reuse its vector."""
    _, numbered = rules_net.cleaned(message, rules_net.rules())
    whole = " ".join(message.split())
    joined = " ".join(c for _, c in numbered)
    if len(numbered) <= 1:
        return [Unit(whole, joined, joined)]
    sentences = {n: " ".join(c for m, c in numbered if m == n) for n, _ in numbered}
    return [Unit(whole, joined, joined), *(Unit(c, c, sentences[n]) for n, c in numbered)]


SENTENCE_WIDE = frozenset({"hypothetical", "report", "negated"})  # cues that cover the whole sentence


def unit_cues(parts: Sequence[Unit], i: int, uhthoff: bool) -> frozenset[str]:
    """The look-alikes of unit i: its own clause's, and the sentence-wide ones of its sentence. The whole
    message (unit 0 of several) has the cues of any of its clauses."""
    clauses = parts[1:] if len(parts) > 1 else parts
    if i == 0 and len(parts) > 1:
        return frozenset().union(*(look_alikes(u.clause, None, uhthoff) for u in clauses))
    j = i - 1 if len(parts) > 1 else 0
    following = clauses[j + 1].clause if j + 1 < len(clauses) else None
    own = look_alikes(parts[i].clause, following, uhthoff)
    return own | (look_alikes(parts[i].sentence, None, uhthoff) & SENTENCE_WIDE)


def cue_sets(parts: Sequence[Unit]) -> list[frozenset[str]]:
    clauses = parts[1:] if len(parts) > 1 else parts
    uhthoff = rules_net._is_uhthoff([u.clause for u in clauses], rules_net.rules())
    return [unit_cues(parts, i, uhthoff) for i in range(len(parts))]


def cue_matrix(sets: Sequence[frozenset[str]]) -> np.ndarray:
    return np.asarray([[1.0 if c in s else 0.0 for c in CUES] for s in sets], dtype=np.float32).reshape(-1, len(CUES))


@dataclass(frozen=True)
class TriageNet:
    embedding: np.ndarray  # (classes, embedding dimensions)
    text: np.ndarray  # (TEXT_FEATURES, classes): weights of the hashed n-grams
    cue: np.ndarray  # (classes, len(CUES))
    intercept: np.ndarray
    thresholds: dict[str, float]
    model_label: str
    data_sha256: str

    @classmethod
    def from_weights(cls, coef: np.ndarray, intercept: np.ndarray, thresholds: dict[str, float], model_label: str = "",
                     data_sha256: str = "") -> "TriageNet":
        """From a classifier's (classes, embedding + TEXT_FEATURES + len(CUES)) coefficients."""
        d = coef.shape[1] - TEXT_FEATURES - len(CUES)
        return cls(coef[:, :d].astype(np.float32), np.ascontiguousarray(coef[:, d:d + TEXT_FEATURES].T, np.float32),
                   coef[:, d + TEXT_FEATURES:].astype(np.float32), intercept.astype(np.float32), dict(thresholds),
                   model_label, data_sha256)

    def to_dict(self) -> dict:
        used = np.flatnonzero(np.abs(self.text).max(axis=1) > 1e-4).astype(np.int32)
        return {"classes": list(CLASSES), "cues": list(CUES), "text_features": TEXT_FEATURES, "ngrams": list(NGRAMS),
                "dimensions": int(self.embedding.shape[1]), "embedding": _pack(self.embedding, "float16"),
                "text_used": _pack(used, "int32"), "text": _pack(self.text[used], "float16"),
                "cue": np.round(self.cue, 4).tolist(), "intercept": np.round(self.intercept, 4).tolist(),
                "thresholds": self.thresholds, "model_label": self.model_label, "data_sha256": self.data_sha256}

    @classmethod
    def from_dict(cls, data: dict) -> "TriageNet":
        if tuple(data["classes"]) != CLASSES or tuple(data["cues"]) != CUES or data["text_features"] != TEXT_FEATURES \
                or tuple(data["ngrams"]) != NGRAMS:
            raise StaleTriageModel(f"the triage model's classes, cues or features are not this version's: {RETRAIN}")
        k, d = len(CLASSES), int(data["dimensions"])
        used = _unpack(data["text_used"], "int32", (-1,))
        text = np.zeros((TEXT_FEATURES, k), dtype=np.float32)
        text[used] = _unpack(data["text"], "float16", (len(used), k))
        return cls(_unpack(data["embedding"], "float16", (k, d)), text, np.asarray(data["cue"], dtype=np.float32),
                   np.asarray(data["intercept"], dtype=np.float32), {k: float(v) for k, v in data["thresholds"].items()},
                   str(data["model_label"]), str(data["data_sha256"]))

    @classmethod
    def load(cls, model_label: str, path: Path | None = None, expected_hash: str | None = None) -> "TriageNet":
        """The shipped model, checked against the labelled set and the embedding model in use."""
        file = Path(path) if path else Path(str(resource_path(*MODEL_FILE)))
        return load_checked(cls.from_dict, file, what="learned triage model", error=StaleTriageModel,
                            labelled="rules/triage/train.jsonl", retrain=RETRAIN, model_label=model_label,
                            expected_hash=expected_hash or labelled_set_hash())

    def probabilities(self, vectors: np.ndarray, parts: Sequence[Unit], sets: Sequence[frozenset[str]]) -> np.ndarray:
        import sklearn

        with sklearn.config_context(skip_parameter_validation=True):  # our own list of str: half the hashing time
            hashed = hasher().transform([u.text for u in parts])
        text = np.stack([hashed.data[a:b] @ self.text[hashed.indices[a:b]]  # a few rows: faster than scipy's product
                         for a, b in zip(hashed.indptr[:-1], hashed.indptr[1:])])
        logits = (np.asarray(vectors, dtype=np.float32) @ self.embedding.T + text
                  + cue_matrix(sets) @ self.cue.T + self.intercept)
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)


def features(vectors: np.ndarray, parts: Sequence[Unit], sets: Sequence[frozenset[str]]):
    """The training matrix of some units: embedding, hashed n-grams and cues side by side (sparse)."""
    from scipy import sparse

    return sparse.hstack([sparse.csr_matrix(np.asarray(vectors, dtype=np.float32)),
                          hasher().transform([u.text for u in parts]), sparse.csr_matrix(cue_matrix(sets))]).tocsr()


def decide(net: TriageNet, vectors: Sequence[Sequence[float]], parts: Sequence[Unit]) -> Finding:
    """The most urgent level that some unit reaches."""
    sets = cue_sets(parts)
    return decide_probabilities(net.thresholds, net.probabilities(np.asarray(vectors), parts, sets), parts, sets)


def decide_probabilities(thresholds: dict[str, float], probs: np.ndarray, parts: Sequence[Unit],
                         sets: Sequence[frozenset[str]] | None = None) -> Finding:
    sets = cue_sets(parts) if sets is None else sets
    best = (0.0, None, 0)
    ordinary = round(float(probs[:, CLASSES.index("none")].min()), 4)  # its least ordinary part
    context = tuple(sorted(frozenset().union(*sets) & LOOK_ALIKES))
    for level in LEVELS:  # the most urgent level first; within it, the unit that reads most like it
        column = probs[:, CLASSES.index(level)]
        i = int(np.argmax(column))
        if column[i] >= thresholds[level]:
            return Finding(level, round(float(column[i]), 4), parts[i].clause, tuple(sorted(sets[i])), ordinary,
                           context)
        if column[i] > best[0]:
            best = (float(column[i]), parts[i].clause, i)
    return Finding(None, round(best[0], 4), best[1], tuple(sorted(sets[best[2]])) if best[1] else (), ordinary,
                   context)


def rule_explained_away(level: str, parts: Sequence[Unit]) -> bool:
    """A rule's flag is explained away when every clause is a hypothetical, or a story or the news (the
    rules check their own look-alikes themselves)."""
    clauses = parts[1:] if len(parts) > 1 else parts
    silencers = cues().explains_rules_away.get(level, frozenset())
    return bool(silencers) and all(look_alikes(u.sentence, None, False) & silencers for u in clauses)


VETOED = ("emergency", "urgent")  # the rule levels the learned net may explain away; never crisis
LOOK_ALIKES = frozenset(CUES) - {"now"}  # the cues that can explain a red flag away


def rule_overruled(rule_level: str | None, finding: Finding | None, thresholds: dict[str, float]) -> bool:
    """The learned net explains a rule's emergency or urgent flag away when the message has a look-alike cue
    somewhere (past, resolved, long-standing, a question, a hypothetical, a story, a negation: something a
    clinician can see in the step) and the net reads the whole message and every clause of it as ordinary,
    each with at least the `overrule` probability: a post that names a red flag of years ago, a symptom that
    settled, a question about someone else. Every clause, not only the whole, so that a red flag buried in a
    long, otherwise ordinary post is not overruled. A crisis flag never is."""
    limit = thresholds.get("overrule")
    return bool(rule_level in VETOED and finding is not None and limit is not None and finding.context
                and finding.ordinary >= limit)


def combined(rule_level: str | None, finding: Finding | None, parts: Sequence[Unit],
             thresholds: dict[str, float] | None = None) -> tuple[str | None, str | None]:
    """The more urgent of the two nets' levels, and which net raised it ("rules" or "learned")."""
    rank = {lv: i for i, lv in enumerate(LEVELS)}
    if rule_level and (rule_explained_away(rule_level, parts) or rule_overruled(rule_level, finding, thresholds or {})):
        rule_level = None
    candidates = [(lv, name) for lv, name in ((rule_level, "rules"), (finding.level if finding else None, "learned"))
                  if lv]
    if not candidates:
        return None, None
    return min(candidates, key=lambda c: rank[c[0]])


class Triager:
    """Both nets over one message: the rules first, the learned net beside them. The message's own
    embedding is kept (`vectors`), so retrieval does not embed the same text again."""

    def __init__(self, embeddings, *, emergency_number: str, crisis_line: str, learned: bool = True,
                 rules: bool = True):
        """`learned`/`rules`: which nets run (the evaluation measures each alone)."""
        self.embeddings = embeddings
        self.numbers = {"emergency_number": emergency_number, "crisis_line": crisis_line}
        self.net = TriageNet.load(embeddings.label) if learned else None
        if self.net is not None:
            hasher()  # imported at start, not on the first message
        self.rules = rules

    def __call__(self, message: str) -> tuple[rules_net.Triage, dict[str, list[float]]]:
        rule = rules_net.classify(message) if self.rules else None
        finding, vectors = None, {}
        parts = units(message)
        if self.net is not None and message.strip():
            texts = [u.text for u in parts]
            embedded = ([self.embeddings.embed_query(texts[0])] if len(texts) == 1
                        else self.embeddings.embed_documents(texts))
            vectors = {texts[0]: embedded[0]}
            finding = decide(self.net, embedded, parts)
        rule_level = rule.level if rule else None
        level, which = combined(rule_level, finding, parts, self.net.thresholds if self.net else None)
        if level is None:
            # A rule the learned net overruled is kept for staff: which rule, and how ordinary the message read.
            overruled = self.net is not None and rule_overruled(rule_level, finding, self.net.thresholds)
            return rules_net.Triage(None, None, None, net=None, score=finding.score if finding else None,
                                    overruled=rule.id if overruled and rule else None,
                                    ordinary=finding.ordinary if overruled and finding else None,
                                    cues=finding.context if overruled and finding else ()), vectors
        extra = rule.extra if which == "rules" and rule else ""
        guidance = rules_net.render(level, extra, **self.numbers)
        return rules_net.Triage(
            level, guidance, rule.id if which == "rules" and rule else f"learned:{level}", net=which,  # type: ignore[arg-type]
            score=finding.score if finding else None, clause=finding.clause if which == "learned" and finding else None,
            cues=finding.cues if finding else ()), vectors

"""The learned second net of red-flag triage: a small classifier over sentence embeddings.

The rules (red_flags.toml) are the first net and the policy. This net reads meaning instead of phrases:
a logistic regression over the embeddings of the whole message and of each of its clauses gives each
a probability of emergency, crisis, urgent or none. A clause whose probability for a level reaches that
level's threshold raises the level, unless a look-alike cue explains it away (a general question, the
past, something resolved or long-standing, heat, a hypothetical, a story or the news:
rules/triage_net.toml). Crisis is asymmetric: only a general question or a story silences it.

The weights are a small JSON file (rules/triage/model.json) made by `msassistant triage train` from the
labelled messages in rules/triage/train.jsonl. It records the hash of that file and the embedding model it
was trained with; a model that no longer matches either is refused with a message saying how to retrain.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from ..resources import path as resource_path
from ..resources import rule
from . import triage as rules_net

LEVELS = ("emergency", "crisis", "urgent")
CLASSES = ("none", *LEVELS)
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
    silenced_by: dict[str, frozenset[str]]
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
    return Cues(silenced_by={level: frozenset(v) for level, v in data["silenced_by"].items()},
                hypothetical=compile_all(la["hypothetical"]["cues"]), report=compile_all(la["report"]["cues"]),
                negated=compile_all(la["negated"]["cues"]))


@lru_cache(maxsize=4096)
def look_alikes(clause: str, following: str | None, uhthoff: bool) -> frozenset[str]:
    """The look-alike cues of one cleaned clause: the rules' own (question, past, resolved, chronic, uhthoff)
    and the learned net's (hypothetical, report)."""
    rs, c = rules_net.rules(), cues()
    found = rules_net._look_alikes(clause, following, uhthoff, rs)
    if any(p.search(clause) for p in c.hypothetical):
        found.add("hypothetical")
    if any(p.search(clause) for p in c.report):
        found.add("report")
    if any(p.search(clause) for p in c.negated):
        found.add("negated")
    return frozenset(found)


@dataclass(frozen=True)
class Finding:
    level: str | None
    score: float  # the probability of that level for the clause that raised it (or the best one seen)
    clause: str | None  # the text that raised it
    silenced: tuple[str, ...] = ()  # look-alikes that explained away a higher score, for staff


@dataclass(frozen=True)
class TriageNet:
    coef: np.ndarray  # (classes, dimensions)
    intercept: np.ndarray
    thresholds: dict[str, float]
    model_label: str
    data_sha256: str

    @classmethod
    def from_dict(cls, data: dict) -> "TriageNet":
        classes = tuple(data["classes"])
        if classes != CLASSES:
            raise StaleTriageModel(f"the triage model's classes are {classes}, expected {CLASSES}: {RETRAIN}")
        return cls(np.asarray(data["coef"], dtype=np.float32), np.asarray(data["intercept"], dtype=np.float32),
                   {k: float(v) for k, v in data["thresholds"].items()}, str(data["model_label"]),
                   str(data["data_sha256"]))

    @classmethod
    def load(cls, model_label: str, path: Path | None = None, expected_hash: str | None = None) -> "TriageNet":
        """The shipped model, checked against the labelled set and the embedding model in use."""
        file = Path(path) if path else resource_path(*MODEL_FILE)
        if not file.is_file():
            raise StaleTriageModel(f"no learned triage model at {file}: {RETRAIN}")
        try:
            net = cls.from_dict(json.loads(file.read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError) as exc:
            raise StaleTriageModel(f"the learned triage model {file} cannot be read ({exc}): {RETRAIN}") from exc
        expected = expected_hash or labelled_set_hash()
        if net.data_sha256 != expected:
            raise StaleTriageModel(f"the learned triage model was trained on another version of "
                                   f"rules/triage/train.jsonl: {RETRAIN}")
        if net.model_label != model_label:
            raise StaleTriageModel(f"the learned triage model was trained with the embedding model "
                                   f"{net.model_label!r}, but {model_label!r} is in use: {RETRAIN}")
        return net

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        logits = vectors @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class Unit:
    clause: str  # the cleaned text the cues are read in
    sentence: str  # the cleaned sentence it belongs to (the whole message for the whole-message unit)


def units(message: str) -> tuple[list[str], list[Unit]]:
    """(texts to embed, their units): the whole message first, then each clause when it has more than one.
    The whole message is embedded as written, so the retrieval that follows can reuse its vector."""
    _, numbered = rules_net.cleaned(message, rules_net.rules())
    whole = " ".join(message.split())
    joined = " ".join(c for _, c in numbered)
    if len(numbered) <= 1:
        return [whole], [Unit(joined, joined)]
    sentences = {n: " ".join(c for m, c in numbered if m == n) for n, _ in numbered}
    return [whole, *(c for _, c in numbered)], [Unit(joined, joined), *(Unit(c, sentences[n]) for n, c in numbered)]


def decide(net: TriageNet, vectors: Sequence[Sequence[float]], parts: list[Unit]) -> Finding:
    """The most urgent level that some unit reaches and no look-alike explains away."""
    return decide_probabilities(net.thresholds, net.probabilities(np.asarray(vectors, dtype=np.float32)), parts)


SENTENCE_WIDE = frozenset({"hypothetical", "report", "negated"})  # cues that cover the whole sentence


def unit_cues(parts: list[Unit], i: int, uhthoff: bool) -> frozenset[str]:
    """The look-alikes of unit i: its own clause's, and the sentence-wide ones of its sentence. The whole
    message (unit 0 of several) has the cues of any of its clauses."""
    clauses = parts[1:] if len(parts) > 1 else parts
    if i == 0 and len(parts) > 1:
        return frozenset().union(*(look_alikes(u.clause, None, uhthoff) for u in clauses))
    j = i - 1 if len(parts) > 1 else 0
    following = clauses[j + 1].clause if j + 1 < len(clauses) else None
    own = look_alikes(parts[i].clause, following, uhthoff)
    return own | (look_alikes(parts[i].sentence, None, uhthoff) & SENTENCE_WIDE)


def decide_probabilities(thresholds: dict[str, float], probs: np.ndarray, parts: list[Unit]) -> Finding:
    clauses = parts[1:] if len(parts) > 1 else parts
    uhthoff = rules_net._is_uhthoff([u.clause for u in clauses], rules_net.rules())
    silenced_by = cues().silenced_by
    silenced: list[str] = []
    best = (0.0, None)
    for level in LEVELS:
        column = CLASSES.index(level)
        for i, unit in enumerate(parts):
            score = float(probs[i, column])
            if score > best[0]:
                best = (score, unit.clause)
            if score < thresholds[level]:
                continue
            blocked = unit_cues(parts, i, uhthoff) & silenced_by[level]
            if not blocked:
                return Finding(level, round(score, 4), unit.clause, tuple(silenced))
            silenced.append(f"{level}:{'+'.join(sorted(blocked))}")
    return Finding(None, round(best[0], 4), best[1], tuple(silenced))


RULE_SILENCERS = frozenset({"hypothetical", "report"})  # the learned net's cues the rules do not have


def rule_explained_away(level: str, parts: list[Unit]) -> bool:
    """A rule's flag is explained away when every clause is a hypothetical or a story or the news (the
    rules check their own look-alikes themselves)."""
    clauses = parts[1:] if len(parts) > 1 else parts
    silencers = RULE_SILENCERS & cues().silenced_by[level]
    return bool(silencers) and all(look_alikes(u.sentence, None, False) & silencers for u in clauses)


def combined(rule_level: str | None, finding: Finding | None, parts: list[Unit]) -> tuple[str | None, str | None]:
    """The more urgent of the two nets' levels, and which net raised it ("rules" or "learned")."""
    rank = {lv: i for i, lv in enumerate(LEVELS)}
    if rule_level and rule_explained_away(rule_level, parts):
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
        self.rules = rules

    def __call__(self, message: str) -> tuple[rules_net.Triage, dict[str, list[float]]]:
        rule = rules_net.classify(message) if self.rules else None
        finding, vectors = None, {}
        texts, parts = units(message)
        if self.net is not None and message.strip():
            embedded = ([self.embeddings.embed_query(texts[0])] if len(texts) == 1
                        else self.embeddings.embed_documents(texts))
            vectors = {texts[0]: embedded[0]}
            finding = decide(self.net, embedded, parts)
        level, which = combined(rule.level if rule else None, finding, parts)
        if level is None:
            return rules_net.Triage(None, None, None, net=None, score=finding.score if finding else None), vectors
        extra = rule.extra if which == "rules" and rule else ""
        guidance = rules_net.render(level, extra, **self.numbers)
        return rules_net.Triage(
            level, guidance, rule.id if which == "rules" and rule else f"learned:{level}", net=which,  # type: ignore[arg-type]
            score=finding.score if finding else None, clause=finding.clause if which == "learned" and finding else None,
            silenced=finding.silenced if finding else ()), vectors

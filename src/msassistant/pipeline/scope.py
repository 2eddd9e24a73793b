"""Scope: is a message about MS and health, and does the library hold an answer to it?

Decided twice per turn: before retrieval (a task the assistant does not do, or a plainly unrelated topic),
and after it (no health words and nothing similar in the library; a drug or a word the library never
mentions). Every word list and text comes from rules/scope.toml and rules/notices.toml, so that a
clinician can review them without reading code.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from ..text import tokenize
from ..resources import rule
from ..text import fold_words
from . import answerable, answerable_net
from .steps import ScopeStep
from .vocabulary import Vocabulary

if TYPE_CHECKING:
    from .conversation import Resolution
    from .answerable_net import AnswerableNet
    from .retrieve import Library, Retrieval

# Without vectors (bm25 mode), a message with no health words below this similarity is not about MS.
OUT_OF_SCOPE_SIMILARITY = 0.30
NEAREST = 3  # the meaning check compares the mean of the nearest few examples of each side
_EXAMPLES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()

def texts() -> dict:
    return rule("notices")


def scope_rules() -> dict:
    return rule("scope")




def _contains(folded: str, phrases: list[str]) -> bool:
    return any(f" {p}" in folded for p in phrases)


def is_health_related(message: str, vocab: Vocabulary) -> bool:
    folded = fold_words(vocab.correct(message))
    if _contains(folded, scope_rules()["health_terms"]):
        return True
    if vocab.find_drugs(message):
        return True
    return any(f" {phrase} " in folded for phrase in vocab.lay)


def is_off_topic_request(message: str, vocab: Vocabulary | None = None) -> bool:
    """A task the assistant does not do (poems, code...), or a topic plainly unrelated to health in a message
    with no health words ("hot weather makes my legs weak" is about MS, "what's the weather" is not)."""
    folded = fold_words(message)
    if _contains(folded, scope_rules()["off_topic_tasks"]):
        return True
    return _contains(folded, scope_rules()["off_topic"]) and not (vocab and is_health_related(message, vocab))


def is_personal_decision(message: str, drug_named: bool = False) -> bool:
    """Whether a message asks for a decision about the person's own treatment (rules/scope.toml
    [personal_decision]); `drug_named`: the message names a drug."""
    rules, folded = scope_rules()["personal_decision"], fold_words(message)
    if _contains(folded, rules["actions"]):
        return True
    return _contains(folded, rules["asks"]) and (drug_named or _contains(folded, rules["treatment_words"]))


def generic_words() -> list[str]:
    return scope_rules()["generic_words"]


CLAUSE = re.compile(r"(?<=[.!?:;\n])\s+")


def example_vectors(embeddings) -> tuple[np.ndarray, np.ndarray]:
    """The in-scope and out-of-scope example messages of rules/scope.toml, embedded once per model."""
    if embeddings not in _EXAMPLES:
        ex = scope_rules()["examples"]
        vectors = np.asarray(embeddings.embed_documents(ex["in_scope"] + ex["out_of_scope"]), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-9
        _EXAMPLES[embeddings] = (vectors[:len(ex["in_scope"])], vectors[len(ex["in_scope"]):])
    return _EXAMPLES[embeddings]


def unrelated_by_meaning(vector, embeddings) -> tuple[bool, float, float]:
    """Whether a message reads nearer the out-of-scope examples than the in-scope ones, with both scores."""
    inside, outside = example_vectors(embeddings)
    v = np.asarray(vector, dtype=np.float32)
    v /= np.linalg.norm(v) + 1e-9

    def near(m: np.ndarray) -> float:
        return float(np.sort(m @ v)[-NEAREST:].mean())

    a, b = near(inside), near(outside)
    return b > a, a, b


def strip_directives(message: str) -> str:
    """Drop the sentences of a message that address the assistant's rules, keeping the question."""
    phrases = scope_rules()["directives"]
    kept = [c for c in CLAUSE.split(message) if c.strip() and not any(p in c.lower() for p in phrases)]
    return " ".join(kept).strip()


def no_coverage_text(topic: str | None) -> str:
    t = texts()
    return t["no_coverage"].format(topic=topic or t["no_coverage_topic"])


# ---- the decision ------------------------------------------------------------------------------------
@dataclass
class Verdict:
    """What scope decided for a turn: a category that ends it (out_of_scope, no_coverage) or None to answer,
    the notices to say before the answer, and the step staff see."""

    category: str | None = None
    lead: list[str] = field(default_factory=list)
    step: ScopeStep | None = None


def before_retrieval(message: str, urgent: bool, vocab: Vocabulary | None = None) -> Verdict:
    """A task the assistant does not do (poems, code...) or a plainly unrelated topic ends the turn at once."""
    if is_off_topic_request(message, vocab) and not urgent:
        return Verdict("out_of_scope", step=ScopeStep(decision="out_of_scope", reason="off-topic request"))
    return Verdict()


@lru_cache(maxsize=1)
def generic() -> frozenset[str]:
    """Stems of words too general to say what a question is about ("treatment", "help"...)."""
    return frozenset(tokenize(" ".join(generic_words())))


SUBJECT_WORD_ZIPF = 4.5  # wordfreq Zipf: "goal" 4.9, "point" 5.6; "pregnancy" 4.1, "acupuncture" 3.0


@lru_cache(maxsize=4096)
def _names_a_subject(word: str) -> bool:
    """Whether a word is rare enough in English to name what a question is about."""
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en") < SUBJECT_WORD_ZIPF


def _no_coverage(**why) -> Verdict:
    """The library does not cover what the message asks; `why` goes to the step staff see."""
    return Verdict("no_coverage", lead=[no_coverage_text(None)], step=ScopeStep(decision="no_coverage", **why))


def not_answered(message: str, found: "Retrieval", library: "Library", vocab: Vocabulary, covered: list,
                 net: "AnswerableNet | None") -> Verdict | None:
    """No coverage when the library does not answer what the message asks: by the learned net when there is one
    (it reads the rules' findings among its signals), else by the rules alone."""
    if net is not None:
        measured = answerable_net.signals(message, found, library.search, vocab, generic(), library.knows, covered)
        if measured is not None:
            p, features = net.probability(measured)
            if p >= net.threshold:
                return None
            return _no_coverage(answerable=round(p, 3), signals=features)
    foreign = answerable.foreign_terms(message, library.knows, vocab)
    if foreign and not covered:  # beside a drug the library covers, a rare word is more often a detail of it
        return _no_coverage(unknown_words=foreign)
    judgement = answerable.judge(message, [(h.id, h.document.page_content) for h in found.hits], covered)
    if not judgement.answerable:
        return _no_coverage(missing_aspects=judgement.missing or judgement.asked)
    return None


def after_retrieval(message: str, res: "Resolution", found: "Retrieval", library: "Library", vocab: Vocabulary,
                    urgent: bool, net: "AnswerableNet | None" = None) -> Verdict:
    """Whether the library can answer, from what retrieval found: out of scope when the message has no
    health words and nothing in the library is similar; no coverage when it asks about a drug or words the
    library never mentions; otherwise an answer, with a lead for partly covered drugs, urgent replies and
    personal treatment decisions."""
    # a follow-up, or a short turn of a conversation about MS ("who are they meant for?"), is read in its context
    health = is_health_related(message, vocab) or (res.follow_up and bool(res.carried)) or res.in_conversation
    if not urgent and not health:
        if found.vectors:
            unrelated, inside, outside = unrelated_by_meaning(found.vectors[0], library.embeddings)
            reason = f"no health words; nearer unrelated requests ({outside:.2f}) than health messages ({inside:.2f})"
        else:
            unrelated, reason = found.top_similarity < OUT_OF_SCOPE_SIMILARITY, "no health words, low similarity"
        if unrelated:
            return Verdict("out_of_scope", step=ScopeStep(decision="out_of_scope", reason=reason))
    search = library.search
    drugs = found.expansion.drugs
    missing = [d for d in drugs if not library.covered(d)]
    covered = [d for d in drugs if library.covered(d)]
    general = generic()
    specific = [t for t in set(tokenize(found.query)) if t not in general]
    known = [t for t in specific if t in search.doc_freq or search.near(t)]
    # Every specific word unknown to the library declines at once only when one of them can name a subject
    # ("acupuncture", "pregnancy", "plasmapheresis"); words too common for that, which the library happens not
    # to use ("what are the goals of treatment", "what is the point"), are left to the answerability check.
    unknown_rare = not known and any(_names_a_subject(w) for w in fold_words(found.query).split()
                                     if set(tokenize(w)) & set(specific))  # read as typed, not as stems
    if not urgent and ((missing and not covered) or (specific and unknown_rare)):
        topic = " and ".join(d.generic for d in missing) if missing else None
        return Verdict("no_coverage", lead=[no_coverage_text(topic)],
                       step=ScopeStep(decision="no_coverage", missing_drugs=[d.generic for d in missing],
                                      unknown_words=sorted(set(specific) - set(known))))
    asked = res.query if res.follow_up else message  # a follow-up asks about the topic it borrows
    # a decision about one's own treatment is the care team's: the reply says so and gives what the library
    # says of that treatment in general, so the learned net (which reads whether the asked detail is stated)
    # is not asked; the rules still decline a treatment the library does not hold
    personal = not urgent and is_personal_decision(message, drug_named=bool(drugs))
    declined = None if urgent else not_answered(asked, found, library, vocab, covered, None if personal else net)
    if declined is not None:
        return declined
    verdict = Verdict()
    if missing:
        verdict.lead.append(texts()["partial_coverage"].format(topic=" and ".join(d.generic for d in missing)))
    if urgent:
        verdict.lead.append(texts()["urgent_then_info"])
    elif personal:
        verdict.lead.append(texts()["personal_decision"])
        verdict.step = ScopeStep(decision="personal_decision")
    return verdict

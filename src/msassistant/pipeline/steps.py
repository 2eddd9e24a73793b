"""The typed step each stage of the pipeline records for staff.

Staff see a turn's steps in the review console and in exports, so their shape is a contract: each stage
records one `Step` subclass below, and a step becomes a dict once, when the turn is logged (`to_dict`).
The dict has `"step"` (the stage) and the step's fields; optional fields that a stage did not fill are
left out.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar


@dataclass(frozen=True)
class Step:
    kind: ClassVar[str] = "step"
    optional: ClassVar[tuple[str, ...]] = ()  # fields left out of the log when they are None

    def to_dict(self) -> dict:
        out: dict = {"step": self.kind}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.name in self.optional:
                continue
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True)
class TriageStep(Step):
    kind: ClassVar[str] = "triage"
    optional: ClassVar[tuple[str, ...]] = ("net", "score", "clause", "cues", "overruled", "ordinary")
    level: str | None
    rule: str | None
    net: str | None = None  # "rules" or "learned"
    score: float | None = None  # the learned net's probability
    clause: str | None = None  # the words the learned net read as the red flag
    cues: list[str] | None = None  # the look-alike cues the learned net weighed in that clause
    overruled: str | None = None  # a rule that fired on the message but that the learned net explained away
    ordinary: float | None = None  # then: the learned net's lowest probability of no red flag, whole or clause


@dataclass(frozen=True)
class ResolveStep(Step):
    kind: ClassVar[str] = "resolve"
    optional: ClassVar[tuple[str, ...]] = ("sources",)
    follow_up: bool
    cue: str | None
    carried: str
    topic: str
    query: str
    by: str
    sources: list[str] | None = None  # the earlier answer's documents, preferred in the search


@dataclass(frozen=True)
class LLMStep(Step):
    kind: ClassVar[str] = "llm"
    optional: ClassVar[tuple[str, ...]] = ("fallback", "sentences", "citations")
    task: str  # "rewrite" (a follow-up made standalone) or "answer"
    used: bool
    model: str | None
    fallback: str | None = None  # why the model's text was not used
    sentences: int | None = None
    citations: list[str] | None = None


@dataclass(frozen=True)
class ScopeStep(Step):
    kind: ClassVar[str] = "scope"
    optional: ClassVar[tuple[str, ...]] = ("reason", "missing_drugs", "unknown_words", "missing_aspects", "answerable",
                                           "signals")
    decision: str  # out_of_scope | no_coverage | personal_decision
    reason: str | None = None
    missing_drugs: list[str] | None = None
    unknown_words: list[str] | None = None
    missing_aspects: list[str] | None = None  # asked aspects (rules/aspects.toml) no ranked passage holds
    answerable: float | None = None  # the learned net's probability that the library answers (answerable_net.py)
    signals: dict[str, float] | None = None  # what the net read


@dataclass(frozen=True)
class ExpandStep(Step):
    kind: ClassVar[str] = "expand"
    added: list[str]
    drugs: list[str]


@dataclass(frozen=True)
class RetrieveStep(Step):
    kind: ClassVar[str] = "retrieve"
    optional: ClassVar[tuple[str, ...]] = ("demoted",)
    mode: str
    top_similarity: float
    hits: list[dict]  # {"id", "score"}, best first
    demoted: list[str] | None = None  # promotional passages placed behind guide and research passages


@dataclass(frozen=True)
class FocusStep(Step):
    kind: ClassVar[str] = "focus"
    topic_weight: float
    passages: list[str]


@dataclass(frozen=True)
class ComposeStep(Step):
    kind: ClassVar[str] = "compose"
    sentences: int
    citations: list[str]


@dataclass(frozen=True)
class FollowUpsStep(Step):
    kind: ClassVar[str] = "follow_ups"
    suggested: list[str]


@dataclass(frozen=True)
class ReviewLoopStep(Step):
    """What the clinic's reviews did to this turn: a reviewed answer served, an unsafe answer stopped, or
    flagged passages left out or annotated."""

    kind: ClassVar[str] = "review_loop"
    optional: ClassVar[tuple[str, ...]] = ("reviewed_id", "similarity", "blocked_id", "excluded", "annotated")
    action: str  # served_reviewed | blocked_unsafe | flagged_passages
    reviewed_id: int | None = None
    similarity: float | None = None
    blocked_id: int | None = None
    excluded: list[str] | None = None
    annotated: list[str] | None = None

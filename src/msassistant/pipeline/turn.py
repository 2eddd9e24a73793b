"""One turn of a conversation as it moves through the pipeline: what each stage decided, before rendering."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .compose import Citation, Composed
from .steps import Step

if TYPE_CHECKING:  # for type hints only
    from ..index.search import Hit
    from .conversation import Resolution

STOP_LEVELS = ("emergency", "crisis")  # nothing may stand between the person and the call to act


@dataclass
class Turn:
    """What the pipeline decided for one message, before rendering."""

    message: str
    category: str = "answer"
    urgent: str | None = None
    triage_level: str | None = None
    triage_rule: str | None = None
    lead: list[str] = field(default_factory=list)  # notices said before the body
    composed: Composed = field(default_factory=Composed)
    tail: list[str] = field(default_factory=list)  # cautions said after the body
    query: str = ""
    records: list[Step] = field(default_factory=list)
    resolution: "Resolution | None" = None
    hits: "list[Hit]" = field(default_factory=list)
    vectors: list[list[float]] = field(default_factory=list)  # the query's embeddings
    known_vectors: dict[str, list[float]] = field(default_factory=dict)  # texts triage already embedded
    body: list[str] | None = None  # the model's checked answer, when it replaces the extractive one
    shown: list[Citation] | None = None  # the citations of that answer
    llm_fallback: str | None = None

    def record(self, step: Step) -> None:
        self.records.append(step)

    @property
    def steps(self) -> list[dict]:
        """The steps as they are logged."""
        return [s.to_dict() for s in self.records]

    @property
    def stopped(self) -> bool:
        return self.triage_level in STOP_LEVELS

    @property
    def topic(self) -> str:
        return self.resolution.topic if self.resolution and self.category != "out_of_scope" else ""

    @property
    def citations(self) -> list[Citation]:
        return self.shown if self.shown is not None else self.composed.citations

    def body_pieces(self) -> list[str]:
        return self.body if self.body is not None else self.composed.pieces()

    def log_fields(self) -> dict:
        """What the turn log keeps of the decision: the steps become dicts here, once."""
        return dict(message=self.message, resolved_query=self.query, topic=self.topic, category=self.category,
                    triage_level=self.triage_level, triage_rule=self.triage_rule, llm_fallback=self.llm_fallback,
                    citations=[{**c.public(), "chunk_id": c.chunk_id} for c in self.citations], steps=self.steps)

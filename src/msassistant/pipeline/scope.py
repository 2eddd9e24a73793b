"""Safety: notices, scope, personal decisions and source cautions. Triage lives in triage.py.

Every text and word list comes from rules/*.toml so that a clinician can review them without reading code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..config import Settings
from ..resources import rule
from ..text import fold_words
from .vocabulary import Vocabulary


def texts() -> dict:
    return rule("notices")


def scope_rules() -> dict:
    return rule("scope")


@dataclass(frozen=True)
class Notices:
    care_team: str
    red_flags: str


def notices(settings: Settings) -> Notices:
    t = texts()
    return Notices(
        care_team=t["care_team"],
        red_flags=t["red_flags"].format(emergency_number=settings.emergency_number),
    )


def _contains(folded: str, phrases: list[str]) -> bool:
    return any(f" {p}" in folded for p in phrases)


def is_health_related(message: str, vocab: Vocabulary) -> bool:
    folded = fold_words(vocab.correct(message))
    if _contains(folded, scope_rules()["health_terms"]):
        return True
    if vocab.find_drugs(message):
        return True
    return any(f" {phrase} " in folded for phrase in vocab.lay)


def is_off_topic_request(message: str) -> bool:
    """A task the assistant does not do (poems, code...) or a topic plainly unrelated to health."""
    folded = fold_words(message)
    return _contains(folded, scope_rules()["off_topic_tasks"]) or _contains(folded, scope_rules()["off_topic"])


def is_personal_decision(message: str) -> bool:
    return _contains(fold_words(message), scope_rules()["personal_decision"])


def generic_words() -> list[str]:
    return scope_rules()["generic_words"]


CLAUSE = re.compile(r"(?<=[.!?:;\n])\s+")


def strip_directives(message: str) -> str:
    """Drop the sentences of a message that address the assistant's rules, keeping the question."""
    phrases = scope_rules()["directives"]
    kept = [c for c in CLAUSE.split(message) if c.strip() and not any(p in c.lower() for p in phrases)]
    return " ".join(kept).strip()


def promotional_caution(citation_ids: list[int]) -> str:
    marks = [f"[{i}]" for i in citation_ids]
    if len(marks) == 1:
        return texts()["promotional"].format(markers=marks[0])
    return texts()["promotional_many"].format(markers=", ".join(marks[:-1]) + " and " + marks[-1])


def no_coverage_text(topic: str | None) -> str:
    t = texts()
    return t["no_coverage"].format(topic=topic or t["no_coverage_topic"])

"""Render: the reply a person reads, in the order it is shown.

Urgent guidance first, then the notices that lead the answer, the answer, the cautions about its sources,
and last the care-team notice and red-flag guidance, which code adds to every reply. The texts come from
rules/notices.toml, for a clinician to review.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Settings
from ..resources import rule
from ..schemas import ChatReply
from .turn import Turn


@dataclass(frozen=True)
class Notices:
    care_team: str
    red_flags: str
    compact: str = ""


def notices(settings: Settings) -> Notices:
    t = rule("notices")
    return Notices(care_team=t["care_team"], red_flags=t["red_flags"].format(emergency_number=settings.emergency_number),
                   compact=t["compact"])


def promotional_caution(citation_ids: list[int]) -> str:
    marks = [f"[{i}]" for i in citation_ids]
    if len(marks) == 1:
        return rule("notices")["promotional"].format(markers=marks[0])
    return rule("notices")["promotional_many"].format(markers=", ".join(marks[:-1]) + " and " + marks[-1])


def caution(turn: Turn) -> None:
    """A reply that cites a promotional source says so after the answer."""
    promo = [c.id for c in turn.citations if c.promotional]
    if not promo:
        return
    if turn.citations[0].promotional:  # an answer about its claims: the caution comes before them
        turn.lead.append(promotional_caution(promo))
        turn.tail.append(rule("notices")["promotional_treatment"])
    else:
        turn.tail.append(promotional_caution(promo))


def pieces(turn: Turn, n: Notices) -> list[str]:
    """The answer, in the order it is shown: urgent guidance first, notices last."""
    out = [turn.urgent] if turn.urgent else []
    if turn.category == "out_of_scope":
        out.append(rule("notices")["out_of_scope"])
    out += turn.lead + turn.body_pieces() + turn.tail
    return out + [n.care_team, n.red_flags]


def reply(turn: Turn, n: Notices, *, session_id: str, turn_id: str, answer: str, follow_ups: list[str]) -> ChatReply:
    return ChatReply(
        session_id=session_id, turn_id=turn_id, category=turn.category, answer=answer,
        citations=[c.public() for c in turn.citations],
        safety={"urgent": turn.urgent, "level": turn.triage_level if turn.urgent else None, "care_team": n.care_team,
                "red_flags": n.red_flags, "compact": n.compact},
        follow_ups=follow_ups,
    )

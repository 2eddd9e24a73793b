"""Credibility labels for corpus documents, derived from their text and catalog entry.

The signals live in rules/credibility.toml so that a clinician can review them.
"""

from __future__ import annotations

from ..resources import rule
from ..text import fold

PROMOTIONAL_KIND = "news/promotional article"


def rules() -> dict:
    return rule("credibility")


RULES_VERSION = str(rules()["version"])


def _has_any(text: str, phrases: list[str]) -> bool:
    return any(p in text for p in phrases)


def assess(text: str, *, kind: str, journal: str | None, study: str | None = None) -> tuple[str, bool]:
    """Return (credibility label, is_promotional) for one document."""
    r = rules()
    folded = fold(text)
    promo = r["promotional"]
    groups = [name for name, phrases in promo["groups"].items() if _has_any(folded, phrases)]
    promotional = kind == PROMOTIONAL_KIND or (len(groups) >= promo["min_groups"] and not journal)
    if promotional:
        reasons = [promo["reasons"][g] for g in groups if g in promo["reasons"]]
        if not journal and not study:
            reasons.append(promo["reasons"]["no_source"])
        detail = ", ".join(reasons[:-1]) + (" and " if len(reasons) > 1 else "") + reasons[-1] if reasons else ""
        label = "Promotional article" + (f": {detail}" if detail else "") + ". Its claims have not been verified."
        return label, True
    base = r["kinds"].get(kind, kind.capitalize())
    parts = [f"{base}" + (f" ({journal})" if journal else "")]
    if study:
        parts.append(study[0].lower() + study[1:])
    parts += [s["label"] for s in r["signal"] if _has_any(folded, s["any"])]
    return "; ".join(parts) + ".", False

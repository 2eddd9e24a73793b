"""Plain language without losing the source: long cited sentences split at their natural joints, medical
terms glossed on first use from the lay vocabulary (rules/vocabulary.toml `gloss`).

Both keep the passage's own words: a split piece is a stretch of the cited sentence (its first letter raised,
a full stop added); a gloss is the vocabulary's, in brackets, after the term. Two joints say what they join
in other words: "..., which means the results may not apply" and "..., meaning their symptoms did not get
worse" go on as "This means ...", the one wording a split may add. `in_passage` checks that a shown piece,
less its glosses and that opening, is in the passage it cites.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Mapping, Sequence

from ..text import fold

LONG = 20  # words: shorter sentences are never split
MIN_PIECE = 6  # words each side of a joint must have
# A joint: a semicolon, or a comma with a linking word, before a clause with its own subject and verb.
# "so" stays at the head of its clause ("..., so there could be other factors" -> "So there could be ...").
JOINT = re.compile(r";\s+|,\s+(?:and|but|while|whereas)\s+|,\s+(?=so\s)|,\s+(?:which means|meaning)\s+")
RESTATED = "This means "  # what ", which means" / ", meaning" become when the clause after them stands alone
RESTATES = ("which means ", "meaning ")
SUBJECT_START = frozenset(
    "the a an most some many all few several each other it they there this these those he she we you patients "
    "people researchers doctors physicians".split())
FINITE = frozenset(
    "is are was were has have had can could may might will would should must does do did helps help shows show "
    "requires require remain remains allow allows enable enables isn't aren't wasn't weren't don't doesn't "
    "didn't can't couldn't won't wouldn't".split())
NOT_SUBJECT = frozenset(
    "with for to in on at by from as of into such including which who whom whose that when if where because "
    "than then so not".split())
WORD = re.compile(r"[A-Za-z0-9][\w'’-]*")


def _clause(text: str) -> bool:
    """Whether `text` opens a clause that can stand as a sentence: a subject, then a verb near the start."""
    words = [fold(w) for w in WORD.findall(text)[:6]]  # "don’t" reads "don't"
    if len(WORD.findall(text)) < MIN_PIECE or not words:
        return False
    verb = any(w in FINITE or (w.endswith("ed") and i) for i, w in enumerate(words[1:5], start=1))
    return verb and (words[0] in SUBJECT_START or (words[0] not in NOT_SUBJECT and not words[0].endswith("ing")))


def joints(sentence: str) -> list[str]:
    """A long sentence as the sentences it joins, where each part stands on its own; otherwise itself."""
    if len(WORD.findall(sentence)) < LONG:
        return [sentence]
    for m in JOINT.finditer(sentence):
        left, right = sentence[:m.start()].rstrip(), sentence[m.end():].strip()
        semicolon = m.group(0).startswith(";")
        restated = m.group(0).rstrip().endswith(("means", "meaning"))
        if semicolon:
            clause = len(WORD.findall(right)) >= 4
        elif right.lower().startswith("so "):
            clause = _clause(right[3:])  # "so there could be ...": the clause after "so"
        else:
            clause = _clause(right)
        if len(WORD.findall(left)) >= (4 if semicolon else MIN_PIECE) and clause and not left.endswith(("(", "—")):
            head = left if left.endswith((".", "!", "?")) else left + "."
            rest = RESTATED + right if restated else right[0].upper() + right[1:]
            return [head] + joints(rest)
    return [sentence]


@lru_cache(maxsize=4)
def _gloss_pattern(items: tuple[tuple[str, str], ...]) -> tuple[re.Pattern, dict[str, str]] | None:
    if not items:
        return None
    by_term = {t.lower(): g for t, g in items}
    names = sorted(by_term, key=len, reverse=True)
    return re.compile(r"\b(%s)\b(?!\s*\()" % "|".join(re.escape(n) for n in names), re.I), by_term


def glossary(terms: Mapping[str, dict]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((t, e["gloss"]) for t, e in terms.items() if e.get("gloss")))


def gloss(sentences: Sequence[str], items: tuple[tuple[str, str], ...]) -> list[str]:
    """The sentences with each glossed term explained in brackets on its first use (once per answer)."""
    compiled = _gloss_pattern(items)
    if compiled is None:
        return list(sentences)
    pattern, by_term = compiled
    seen: set[str] = set()

    def add(m: re.Match) -> str:
        key = m.group(1).lower()
        if key in seen:
            return m.group(0)
        seen.add(key)
        return f"{m.group(0)} ({by_term[key]})"

    return [pattern.sub(add, s) for s in sentences]


def in_passage(piece: str, passage: str, items: tuple[tuple[str, str], ...] = ()) -> bool:
    """Whether a shown piece, less its glosses, is the passage's own words (first letter and final stop aside)."""
    core = piece
    for _, g in items:
        core = core.replace(f" ({g})", "")
    core = core.strip()
    if not core:
        return False
    body = core[:-1] if core.endswith(".") else core
    flat = " ".join(passage.split())
    if any(variant in flat for variant in {body, body[0].lower() + body[1:], body[0].upper() + body[1:]}):
        return True
    # a split at ", which means X" / ", meaning X", shown as "This means X"
    rest = body[len(RESTATED):] if body.startswith(RESTATED) else ""
    return bool(rest) and any(f", {joint}{rest}" in flat for joint in RESTATES)

"""What a patient reads: the cited sentences of a reply, how many carry no information, and their reading grade.

Measured on the reply as it is sent (the same JSON in process and over HTTP), so the figures mean the
same thing whichever way the evaluation runs. The noise lists are data (rules/noise.toml).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from statistics import median
from typing import Iterable, Sequence

from ..resources import rule
from ..text import split_sentences

MARKER = re.compile(r"\s*\[(\d+)\]")
AFTER_MARKER = re.compile(r"(?<=\])\s+(?=[^\s\[])")
WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
VOWELS = re.compile(r"[aeiouy]+")


@dataclass(frozen=True)
class Sentence:
    text: str  # without its [n] markers
    cites: tuple[int, ...]


def answer_text(reply: dict, keep_urgent: bool = True) -> str:
    """The reply's answer without the notices every reply ends with (and without the urgent guidance, unless kept)."""
    safety = reply.get("safety") or {}
    answer = reply.get("answer") or ""
    for notice in (None if keep_urgent else safety.get("urgent"), safety.get("care_team"), safety.get("red_flags")):
        if notice:
            answer = answer.replace(notice, " ")
    return answer


def answer_sentences(reply: dict) -> list[Sentence]:
    """The sentences of the answer that cite a passage: the answer proper, without guidance, leads and notices."""
    out = []
    for paragraph in answer_text(reply, keep_urgent=False).split("\n"):
        if not MARKER.search(paragraph.rstrip()[-6:]):
            continue  # answer sentences end with their marker; leads, cautions and notices do not
        # a marker follows the sentence it cites ("... symptoms. [1] This ..."), so cut after markers first
        for piece in AFTER_MARKER.split(paragraph):
            sentences = split_sentences(piece)
            cites = tuple(int(n) for n in MARKER.findall(piece))
            if sentences and cites:
                out.append(Sentence(MARKER.sub("", sentences[-1]).strip(), cites))
    return out


@lru_cache(maxsize=1)
def _noise() -> dict:
    return rule("noise")


def noise_reason(sentence: Sentence, previous: Sentence | None, headlines: frozenset[str] = frozenset()) -> str | None:
    """Why a sentence of an answer tells the patient nothing, or None. `previous`: the sentence before it in
    the answer (an opener such as "This study" is only unclear when the sentence before is not from the
    same passage)."""
    text = sentence.text.strip()
    low = text.lower()
    if low.rstrip(" .") in headlines:
        return "headline"
    if text.endswith(":"):
        return "intro with nothing after it"
    rules = _noise()
    for reason, key in (("analogy", "analogies"), ("filler", "filler"), ("hype", "hype")):
        if any(p in low for p in rules[key]):
            return reason
    if any(low.startswith(p) for p in rules["openers"]):
        if previous is None or not set(previous.cites) & set(sentence.cites):
            return "subject not shown"
    return None


def syllables(word: str) -> int:
    """Vowel groups, less a silent final e: the usual estimate behind Flesch-Kincaid."""
    w = word.lower().strip("'’-")
    if not w:
        return 0
    groups = len(VOWELS.findall(w))
    if w.endswith("e") and not w.endswith(("le", "ee", "ye")) and groups > 1:
        groups -= 1
    return max(1, groups)


def reading_grade(sentences: Sequence[str]) -> float | None:
    """Flesch-Kincaid grade level of some sentences; None when there are none."""
    words = [w for s in sentences for w in WORD.findall(s)]
    if not sentences or not words:
        return None
    per_sentence = len(words) / len(sentences)
    per_word = sum(syllables(w) for w in words) / len(words)
    return round(0.39 * per_sentence + 11.8 * per_word - 15.59, 1)


def median_or_none(values: Iterable[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return round(median(kept), 1) if kept else None

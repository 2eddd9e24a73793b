"""Red-flag triage: runs on every incoming message, before retrieval.

All clinical content (levels, phrases, look-alikes, guidance texts, sources) lives in
rules/red_flags.toml so that a clinician can review it without reading code. This module only
loads that file once and applies it, clause by clause:

1. clean the message (lower case, apostrophes, hyphens, common misspellings);
2. cut it into clauses (sentences, then "but", "and now", ...);
3. for each rule, in level order (emergency, crisis, urgent), look for a clause where the rule's
   phrases appear and none of the rule's look-alikes (negation, information question, past,
   resolved, long-standing, Uhthoff) explain it away;
4. return the first rule that fires, with its patient-facing guidance.

Deterministic, no model.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from ..resources import read_text
from ..text import fold_bare
from .steps import TriageStep

Level = Literal["emergency", "urgent", "crisis"]
LEVELS: tuple[str, ...] = ("emergency", "crisis", "urgent")  # priority order when several fire
LOOK_ALIKES = frozenset({"negation", "question", "past", "resolved", "chronic", "uhthoff"})


@dataclass(frozen=True)
class Triage:
    level: Level | None  # None = no red flag
    guidance: str | None  # patient-facing text to show FIRST in the answer; None when level is None
    rule: str | None  # id of the matched rule, or "learned:<level>" (for the staff log)
    net: str | None = None  # which net raised the level: "rules" or "learned"
    score: float | None = None  # the learned net's probability for the level (or its best, when nothing fired)
    clause: str | None = None  # what the learned net read as the red flag
    cues: tuple[str, ...] = ()  # the look-alike cues the learned net read in that clause ("question", "now")
    overruled: str | None = None  # a rule that fired but that the learned net explained away
    ordinary: float | None = None  # then: the learned net's lowest probability of no red flag over its parts

    def step(self) -> TriageStep:
        return TriageStep(level=self.level, rule=self.rule, net=self.net, score=self.score, clause=self.clause,
                          cues=list(self.cues) or None, overruled=self.overruled, ordinary=self.ordinary)


NO_FLAG = Triage(level=None, guidance=None, rule=None)

Patterns = tuple[re.Pattern[str], ...]


@dataclass(frozen=True)
class Rule:
    id: str
    level: str
    source: str
    match: Patterns
    with_: Patterns
    and_with: Patterns
    context: Patterns
    unless: Patterns
    look_alikes: frozenset[str]
    extra: str
    with_in_message: bool  # with/and_with may be found anywhere in the message
    match_any: re.Pattern[str] | None = None  # finds every clause some `match` phrase occurs in (and maybe more)


@dataclass(frozen=True)
class RuleSet:
    guidance: dict[str, str]
    spelling: dict[str, str]
    spelling_re: re.Pattern[str]
    split_re: re.Pattern[str]
    neg_cues: Patterns
    neg_exceptions: Patterns
    neg_scope_ends: Patterns
    neg_window: int
    q_starts: re.Pattern[str]
    q_rhetorical: Patterns
    q_general: Patterns
    q_personal: Patterns
    q_now: Patterns
    past: Patterns
    past_now: Patterns
    past_again: Patterns
    resolved: Patterns
    chronic: Patterns
    heat: Patterns
    settles: Patterns
    habit: Patterns
    persists: Patterns
    rules: tuple[Rule, ...]


RULES_FILE = "red_flags.toml"


def _rules_text(path: Path | None) -> str:
    if path is not None:
        return Path(path).read_text(encoding="utf-8")
    return read_text("rules", RULES_FILE)


def load_rules(path: Path | None = None) -> RuleSet:
    """Parse and compile the rules file; raises ValueError on a malformed rule."""
    data = tomllib.loads(_rules_text(path))
    macros: dict[str, str] = data.get("patterns", {})
    groups: dict[str, list[str]] = data.get("groups", {})

    def expand(pattern: str) -> str:
        for name, value in macros.items():
            pattern = pattern.replace("{" + name + "}", value)
        return pattern

    def phrases(items: list[str], where: str) -> list[tuple[str, str]]:
        """(phrase as written, its regular expression), with @groups expanded."""
        out: list[tuple[str, str]] = []
        for item in items:
            if item.startswith("@"):
                if item[1:] not in groups:
                    raise ValueError(f"{where}: unknown group {item}")
                out.extend(phrases(groups[item[1:]], where))
            else:
                out.append((item, expand(item)))
        return out

    def compile_list(items: list[str], where: str) -> Patterns:
        out: list[re.Pattern[str]] = []
        for item, pattern in phrases(items, where):
            try:
                out.append(re.compile(r"(?<!\w)(?:" + pattern + r")(?!\w)"))
            except re.error as exc:
                raise ValueError(f"{where}: bad phrase {item!r}: {exc}") from exc
        return tuple(out)

    def any_of(items: list[str], where: str) -> re.Pattern[str] | None:
        """One expression that finds any of the phrases, word boundaries aside: a quick first test."""
        try:
            return re.compile("|".join(f"(?:{pattern})" for _, pattern in phrases(items, where)))
        except re.error:
            return None

    la = data["look_alikes"]
    default_la = la.get("default", [])
    rules: list[Rule] = []
    seen: set[str] = set()
    for raw in data.get("rule", []):
        rid = raw.get("id")
        if not rid or rid in seen:
            raise ValueError(f"rule without a unique id: {raw!r}")
        seen.add(rid)
        if raw.get("level") not in LEVELS:
            raise ValueError(f"{rid}: level must be one of {LEVELS}")
        if not str(raw.get("source", "")).strip():
            raise ValueError(f"{rid}: missing source")
        if not raw.get("match"):
            raise ValueError(f"{rid}: missing match")
        kinds = frozenset(raw.get("look_alikes", default_la))
        if not kinds <= LOOK_ALIKES:
            raise ValueError(f"{rid}: unknown look-alikes {sorted(kinds - LOOK_ALIKES)}")
        rules.append(
            Rule(
                id=rid,
                level=raw["level"],
                source=raw["source"],
                match=compile_list(raw["match"], rid),
                match_any=any_of(raw["match"], rid),
                with_=compile_list(raw.get("with", []), rid),
                and_with=compile_list(raw.get("and_with", []), rid),
                context=compile_list(raw.get("context", []), rid),
                unless=compile_list(raw.get("unless", []), rid),
                look_alikes=kinds,
                extra=raw.get("extra", ""),
                with_in_message=raw.get("with_scope", "clause") == "message",
            )
        )
    rules.sort(key=lambda r: LEVELS.index(r.level))  # stable: file order within a level

    spelling = {k.lower(): v for k, v in data.get("spelling", {}).items()}
    keys = sorted(spelling, key=len, reverse=True)
    neg, q, past, uht = la["negation"], la["question"], la["past"], la["uhthoff"]
    return RuleSet(
        guidance=dict(data["guidance"]),
        spelling=spelling,
        spelling_re=re.compile(r"(?<!\w)(" + "|".join(map(re.escape, keys)) + r")(?!\w)"),
        split_re=re.compile("|".join(f"(?:{expand(p)})" for p in data["clauses"]["split_before"])),
        neg_cues=compile_list(neg["cues"], "negation"),
        neg_exceptions=compile_list(neg.get("not_negations", []), "negation"),
        neg_scope_ends=tuple(re.compile(expand(p)) for p in neg.get("scope_ends", [])),
        neg_window=int(neg.get("window", 6)),
        q_starts=re.compile(q["starts"]),
        q_rhetorical=compile_list(q.get("rhetorical", []), "question"),
        q_general=compile_list(q["general"], "question"),
        q_personal=compile_list(q["personal"], "question"),
        q_now=compile_list(q["now"], "question"),
        past=compile_list(past["cues"], "past"),
        past_now=compile_list(past["now"], "past"),
        past_again=compile_list(past["again"], "past"),
        resolved=compile_list(la["resolved"]["cues"], "resolved"),
        chronic=compile_list(la["chronic"]["cues"], "chronic"),
        heat=compile_list(uht["heat"], "uhthoff"),
        settles=compile_list(uht["settles"], "uhthoff"),
        habit=compile_list(uht["habit"], "uhthoff"),
        persists=compile_list(uht["persists"], "uhthoff"),
        rules=tuple(rules),
    )


@lru_cache(maxsize=1)
def rules() -> RuleSet:
    """The bundled rules, loaded once."""
    return load_rules()


# --- text handling ---------------------------------------------------------------------------------

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+|\.{2,}|\u2026")


def normalise(message: str, rs: RuleSet) -> str:
    text = fold_bare(message)
    lines = [re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in text.splitlines()]
    # A line break ends a sentence only after . ! ? or a blank line; otherwise it reads like a comma
    # ("my wife\nis having a seizure" is one sentence).
    text = ""
    for line in lines:
        if not line:
            text += "\n"
        elif not text or text.endswith(("\n", ".", "!", "?")):
            text += ("\n" if text and not text.endswith("\n") else "") + line
        else:
            text += ", " + line
    return rs.spelling_re.sub(lambda m: rs.spelling[m.group(1)], text)


def clauses(text: str, rs: RuleSet) -> list[tuple[int, str]]:
    """(sentence number, clause text) for each clause of the cleaned message."""
    out: list[tuple[int, str]] = []
    for n, sentence in enumerate(_SENTENCE.split(text)):
        start = 0
        pieces = []
        for m in rs.split_re.finditer(sentence):
            if m.start() > start:
                pieces.append(sentence[start : m.start()])
            start = max(m.end(), start)
        pieces.append(sentence[start:])
        out.extend((n, c.strip(" ,")) for c in pieces if c.strip(" ,.!"))
    return out


def _negated(clause: str, pos: int, rs: RuleSet) -> bool:
    """Is there a negation word shortly before `pos`, in the same stretch of the clause?"""
    before = clause[:pos]
    first_word = clause[pos:].split(" ", 1)[0]
    for exc in rs.neg_exceptions:
        before = exc.sub(lambda m: " " * len(m.group(0)), before)
    cue_end = max((m.end() for p in rs.neg_cues for m in p.finditer(before)), default=-1)
    if cue_end < 0:
        return False
    gap = before[cue_end:]
    if len(gap.split()) > rs.neg_window:
        return False
    return not any(p.search(gap + first_word) for p in rs.neg_scope_ends)


def _live(patterns: Patterns, clause: str, rs: RuleSet) -> bool:
    """Does any phrase occur in the clause, not negated?"""
    return any(not _negated(clause, m.start(), rs) for p in patterns for m in p.finditer(clause))


def _any(patterns: Patterns, text: str) -> bool:
    return any(p.search(text) for p in patterns)


def _look_alikes(clause: str, following: str | None, uhthoff: bool, rs: RuleSet) -> set[str]:
    """Which look-alikes could explain this clause away (negation is checked per phrase)."""
    found: set[str] = set()
    if (clause.endswith("?") or rs.q_starts.search(clause)) and not _any(rs.q_rhetorical, clause):
        general = _any(rs.q_general, clause) or not _any(rs.q_personal, clause)
        if general and not _any(rs.q_now, clause):
            found.add("question")
    if _any(rs.past, clause) and not _any(rs.past_now, clause):
        found.add("past")
    if _live(rs.resolved, clause, rs) or (following is not None and _live(rs.resolved, following, rs)):
        found.add("resolved")
    if _any(rs.chronic, clause):
        found.add("chronic")
    if uhthoff:
        found.add("uhthoff")
    return found


def _is_uhthoff(parts: list[str], rs: RuleSet) -> bool:
    """Heat or exercise, with symptoms that settle (or only come with heat), and nothing lasting."""
    text = " ".join(parts)
    if not _any(rs.heat, text) or _any(rs.persists, text):
        return False
    return any(_live(rs.settles, c, rs) or _live(rs.habit, c, rs) for c in parts)


def _fires(rule: Rule, text: str, numbered: list[tuple[int, str]], uhthoff: bool, rs: RuleSet) -> bool:
    if rule.match_any is not None and not any(rule.match_any.search(c) for _, c in numbered):
        return False  # none of its phrases is in any clause (checked per clause: phrases may use ^ and $)
    if rule.context and not _any(rule.context, text):
        return False
    parts = [c for _, c in numbered]
    for i, (sentence, clause) in enumerate(numbered):
        if not _live(rule.match, clause, rs):
            continue
        # `with` phrases: same sentence (each checked for negation in its own clause), or whole message
        scope = parts if rule.with_in_message else [c for n, c in numbered if n == sentence]
        if rule.with_ and not any(_live(rule.with_, c, rs) for c in scope):
            continue
        if rule.and_with and not any(_live(rule.and_with, c, rs) for c in scope):
            continue
        if rule.unless and _any(rule.unless, clause):
            continue
        following = parts[i + 1] if i + 1 < len(parts) and not _any(rule.match, parts[i + 1]) else None
        blocked = _look_alikes(clause, following, uhthoff, rs) & rule.look_alikes
        if not blocked:
            return True
        if blocked <= {"past", "resolved"} and any(_any(rs.past_again, c) for c in parts[i + 1 :]):
            return True  # "... years ago, and now it is happening again"
    return False


def cleaned(message: str, rs: RuleSet) -> tuple[str, tuple[tuple[int, str], ...]]:
    """The cleaned message and its numbered clauses: what both triage nets read. With the bundled rules it is
    worked out once per message, as the rules and the learned net read the same message in one turn."""
    return _cleaned_bundled(message) if rs is rules() else _clean(message, rs)


def _clean(message: str, rs: RuleSet) -> tuple[str, tuple[tuple[int, str], ...]]:
    text = normalise(message or "", rs)
    return text, tuple(clauses(text, rs))


@lru_cache(maxsize=256)
def _cleaned_bundled(message: str) -> tuple[str, tuple[tuple[int, str], ...]]:
    return _clean(message, rules())


def classify(message: str, rs: RuleSet | None = None) -> Rule | None:
    """The first rule (by level priority) that fires on the message, or None."""
    rs = rs or rules()
    text, numbered_clauses = cleaned(message or "", rs)
    numbered = list(numbered_clauses)
    if not numbered:
        return None
    uhthoff = _is_uhthoff([c for _, c in numbered], rs)
    for rule in rs.rules:
        if _fires(rule, text, numbered, uhthoff, rs):
            return rule
    return None


def render(level: str, extra: str, *, emergency_number: str, crisis_line: str, rs: RuleSet | None = None) -> str:
    rs = rs or rules()
    text = rs.guidance[level] + (" " + extra if extra else "")
    return text.format(emergency_number=emergency_number, crisis_line=crisis_line)


def triage(message: str, *, emergency_number: str, crisis_line: str) -> Triage:
    """Check one incoming message for red flags. Guidance is None when there is no red flag."""
    rule = classify(message)
    if rule is None:
        return NO_FLAG
    guidance = render(rule.level, rule.extra, emergency_number=emergency_number, crisis_line=crisis_line)
    return Triage(level=rule.level, guidance=guidance, rule=rule.id)  # type: ignore[arg-type]

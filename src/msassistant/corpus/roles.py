"""Sentence roles, marked at ingest: what each sentence of a chunk is for.

Only facts reach a patient. Headlines, colon-ended intros, fragments, the passage's own when-to-seek-care
rule, analogies, hype, teasers and who-should-read-this filler are marked here once, from
rules/sentence_roles.toml, and kept in the chunk's metadata (`roles`, one word per sentence of
`split_sentences(chunk text)`), so that answering only reads them.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from typing import Sequence

from ..resources import read_text, rule
from ..text import fold

FACT, REFERS_BACK, REASON, CONNECTIVE = "fact", "refers_back", "reason", "connective"
HEADLINE, INTRO, FRAGMENT, AUDIENCE = "headline", "intro", "fragment", "audience"
PATTERN_ROLES = ("safety_rule", "audience", "analogy", "hype", "teaser")
SHOWN = frozenset({FACT, REFERS_BACK, REASON, CONNECTIVE})  # the roles an answer may show
WORD = re.compile(r"[A-Za-z0-9][\w'’-]*")
BECAUSE = re.compile(r"\bbecause\s+", re.I)


@lru_cache(maxsize=1)
def _rules() -> dict:
    r = rule("sentence_roles")
    compiled = {role: [re.compile(p, re.I) for p in r["patterns"].get(role, [])] for role in PATTERN_ROLES}
    back = r["refers_back"]
    links = sorted(r["connectives"]["words"], key=len, reverse=True)
    return {**r, "compiled": compiled, "first_words": frozenset(back["first_words"]),
            "first_phrases": tuple(p + " " for p in back["first_phrases"]) + tuple(p + "," for p in back["first_phrases"]),
            "dummy_it": re.compile(r"^it(?:[’']s| is| was| has been| seems)( not)? (?:%s)\b" % "|".join(back["dummy_it"])),
            "connective": re.compile(r"^(?:%s)\b,?\s+" % "|".join(re.escape(w) for w in links), re.I)}


def frame_rules() -> dict:
    """The promotional frame's patterns (compiled) and leads."""
    r = _rules()
    if "_frame" not in r:
        f = r["promotional_frame"]
        r["_frame"] = {**f, "status": [re.compile(p, re.I) for p in f["status"]],
                       "pressure": [re.compile(p, re.I) for p in f["pressure"]]}
    return r["_frame"]


def version() -> str:
    """Part of every document's content hash: editing the rules marks every document again at the next ingest."""
    return hashlib.sha256(read_text("rules", "sentence_roles.toml").encode()).hexdigest()[:12]


def words(sentence: str) -> list[str]:
    return WORD.findall(sentence)


def refers_back(sentence: str) -> bool:
    """Whether a sentence opens with a word that points at something said before it."""
    low = fold(sentence).lstrip("\"'“‘(")
    if _rules()["dummy_it"].match(low):
        return False
    first = words(low)[:1]
    return bool(first and first[0] in _rules()["first_words"]) or low.startswith(_rules()["first_phrases"])


def _pattern_role(sentence: str) -> str | None:
    for role in PATTERN_ROLES:
        if any(p.search(sentence) for p in _rules()["compiled"][role]):
            return role
    return None


def _standalone(clause: str) -> str | None:
    clause = clause.strip()
    if len(words(clause)) < _rules()["min_words"] or refers_back(clause) or _pattern_role(clause):
        return None
    return clause[0].upper() + clause[1:]


def without_connective(sentence: str) -> str | None:
    """A sentence without its opening linking word, when the rest stands on its own:
    "Additionally, less iron was connected to ..." -> "Less iron was connected to ..."."""
    m = _rules()["connective"].match(sentence.strip())
    return _standalone(sentence.strip()[m.end():]) if m else None


def reason_clause(sentence: str) -> str | None:
    """The clause after "because" in a who-should-read-this sentence, when it stands on its own as a fact:
    "... should pay attention because azathioprine could be an option ..." -> "Azathioprine could be an option ..."."""
    parts = BECAUSE.split(sentence, maxsplit=1)
    if len(parts) != 2:
        return None
    return _standalone(parts[1])


def role(sentence: str, *, headline: bool = False) -> str:
    """The role of one sentence on its own (without its paragraph)."""
    r = _rules()
    text = sentence.strip()
    if headline:
        return HEADLINE
    if text.endswith(":"):
        return INTRO
    if len(words(text)) < r["min_words"]:
        return FRAGMENT
    found = _pattern_role(text)
    if found == AUDIENCE and reason_clause(text):
        return REASON
    if found:
        return found
    if not refers_back(text):
        return FACT
    return CONNECTIVE if without_connective(text) else REFERS_BACK


def mark(sentences: Sequence[str], *, section: str = "", headline: str | None = None) -> list[str]:
    """The roles of a chunk's sentences. `headline`: the document's headline sentence, when it has one."""
    r = _rules()
    sec = fold(section).strip(" :")
    if sec in r["headline_sections"]:
        return [HEADLINE] * len(sentences)
    if sec in r["audience_sections"]:
        return [x if x == REASON or x not in SHOWN else AUDIENCE for x in (role(s) for s in sentences)]
    key = fold(headline).rstrip(" .") if headline else None
    out, audience = [], False
    for s in sentences:
        x = role(s, headline=key is not None and fold(s).rstrip(" .") == key)
        if x in (AUDIENCE, REASON):
            audience = True  # the rest of a who-should-read-this paragraph is more of the same
        elif audience and x in SHOWN:
            x = AUDIENCE
        out.append(x)
    return out


def encode(roles: Sequence[str]) -> str:
    return " ".join(roles)


def decode(value: object, n: int) -> list[str]:
    """A chunk's roles from its metadata; a chunk indexed before roles existed is all facts."""
    roles = str(value).split() if value else []
    return roles if len(roles) == n else [FACT] * n


def shown_text(sentence: str, sentence_role: str) -> str:
    """What an answer shows for a sentence of this role: the sentence, or its standalone reason clause."""
    if sentence_role == REASON:
        return reason_clause(sentence) or sentence
    if sentence_role == CONNECTIVE:
        return without_connective(sentence) or sentence
    return sentence

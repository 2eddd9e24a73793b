"""Redaction: personal details are replaced by tokens before a message is stored.

`redact(text)` replaces e-mail addresses, phone numbers, dates of birth, street addresses, long ID-like
numbers (NHS numbers, MRNs, card numbers, ...) and personal names with `[email]`, `[phone]`, `[dob]`,
`[address]`, `[id]` and `[name]`. It is deliberately conservative with ordinary medical text: ranges
("every 3-6 months", "30-50%"), doses, scores ("EDSS 6.5"), drug names ("interferon beta-1a", "Tysabri"),
years ("in 2019"), dates that are not a date of birth, months, weekdays, places and titles ("Dr [name]")
are left alone. Names are found last (see docs/redaction.md), so a name inside an e-mail address goes with it.

`scrub(value, found)` applies the same to JSON-like structures (lists, dicts) and also removes the
single words of what was found in the original message, because the pipeline's `steps` hold the
message as lower-cased word lists. `echo_scrub(text, found)` removes exact echoes of what was found.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..resources import rule
from ..text import straighten

EMAIL, PHONE, DOB, ADDRESS, ID, NAME = "[email]", "[phone]", "[dob]", "[address]", "[id]", "[name]"

# ---- e-mail ---------------------------------------------------------------------------------------
_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")

# ---- dates of birth --------------------------------------------------------------------------------
_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
          r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_DAY = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
_NUMERIC_DATE = r"(?:\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})|\d{4}[/.-]\d{1,2}[/.-]\d{1,2})"
_FULL_DATE = (rf"(?:{_NUMERIC_DATE}|(?:the\s+)?{_DAY}(?:\s+of)?\s+{_MONTH},?\s+(?:\d{{4}}|'?\d{{2}})"
              rf"|{_MONTH}\s+{_DAY},?\s+\d{{4}})")
_MONTH_YEAR = rf"{_MONTH},?\s+\d{{4}}"
_DOB_KEY = r"(?:d\.?o\.?b\b\.?|date\s+of\s+birth|birth\s*date|birthday|born)"
# "DOB 04/12/1961", "date of birth: 1961-12-04", "born on 4 December 1961", "born in March 1961"
_DOB = re.compile(
    rf"(?i)\b(?P<key>{_DOB_KEY})(?P<gap>\s*(?:(?:[:=,-]|is|was|on|in|of)\s*)*)(?P<date>{_FULL_DATE}|{_MONTH_YEAR})\b"
)
# "I was born in Leeds on the 4th of December 1961": a full date a few words after "born"
_DOB_LOOSE = re.compile(rf"(?i)\b(?P<key>born)(?P<gap>(?:\s+[A-Za-z',]+){{1,4}}?\s+)(?P<date>{_FULL_DATE})\b")

# ---- IDs named as such ------------------------------------------------------------------------------
_ID_KEY = (r"(?:(?i:nhs|mrn|medical\s+record|hospital|patient|health\s*card|medicare|medicaid|insurance|policy|member"
           r"|membership|card|account|passport|licen[cs]e|social\s+security|ssn|national\s+insurance|chi|ihi|pps|"
           r"reference|case)|ID|NI)")
_ID_VALUE = r"[A-Za-z]{0,3}[ -]?\d(?:[\d -]*\d)?[A-Za-z]?"
_KEYED_ID = re.compile(
    rf"\b(?P<key>{_ID_KEY})(?P<gap>(?:\s*(?:(?i:numbers?|num|nos?|id|is|was|ref(?:erence)?)\b:?\.?|#|:|-)\s*)*\s*)"
    rf"(?P<value>{_ID_VALUE})(?![\w@])"
)

# ---- street addresses -------------------------------------------------------------------------------
_HOUSE = r"\d{1,5}[A-Za-z]?(?:[-/]\d{1,5}[A-Za-z]?)?"
_NOT_NAME = (r"(?:the|a|an|on|in|at|to|of|my|our|your|his|her|their|for|and|or|per|x|more|less|than|times?|days?|"
             r"weeks?|months?|years?|hours?|hrs?|minutes?|mins?|seconds?|miles?|mi|km|kms|kilometres?|kilometers?|"
             r"metres?|meters?|m|mg|ml|mcg|g|kg|lbs?|steps?|pills?|tablets?|doses?|cups?|glasses|nights?|mornings?|"
             r"evenings?|hour|blocks?|floors?|flights?|stairs)\b")
_WORD = rf"(?!{_NOT_NAME})[A-Za-z][A-Za-z'’.-]*"
_TITLE_WORD = r"[A-Z](?:[a-z]|['’][A-Z])[A-Za-z'’.-]*"  # "Oak", "O'Brien"; not acronyms such as "MS"
_STRONG_SUFFIX = (r"(?:(?:street|road|avenue|lane|drive|boulevard|terrace|crescent|highway|parkway|strasse|straße)\b"
                  r"|(?:st|rd|ave|av|ln|blvd|cres|hwy|pkwy)\b\.?)")
_WEAK_SUFFIX = (r"(?:(?:Close|Court|Way|Place|Square|Grove|Row|Mews|Walk|Gardens|Circle|Hill|Rise|Green|Park|View|Vale|"
                r"Wharf|Quay)\b|(?:Ct|Pl|Sq|Cir|Dr)\b\.?)")
_ADDRESS = re.compile(
    rf"(?<![\w/.-])(?:{_HOUSE},?\s+(?:(?i:{_WORD})\s+){{1,3}}(?i:{_STRONG_SUFFIX})"
    rf"|{_HOUSE},?\s+(?:{_TITLE_WORD}\s+){{1,3}}{_WEAK_SUFFIX})"
)
_UNIT = re.compile(r"(?i)\b(?:flat|apt\.?|apartment|suite)\s*#?\s*\d{1,4}[a-z]?\b(?!\s*(?:mg|ml|units?|%|x\b))")
_PO_BOX = re.compile(r"(?i)\bp\.?\s?o\.?\s*box\s*\d+\b")
_UK_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s?\d[ABD-HJLNP-UW-Z]{2}\b")
_US_ZIP = re.compile(r"(?<=,)\s*[A-Z]{2}\s+\d{5}(?:-\d{4})?\b")

# ---- phone numbers and long numbers ----------------------------------------------------------------
# a run of digits with single separators (space, dot, dash, parentheses), optionally international
_NUMBER_RUN = re.compile(r"(?<![\w/.,+-])(?:\+|00)?\s?\(?\d[\d().\- \u00a0]*\d\)?(?![\w/]|[.,]\d)")
_DATE_LIKE = re.compile(r"(?:\d{1,2}[.-]\d{1,2}[.-](?:\d{4}|\d{2})|\d{4}[.-]\d{1,2}[.-]\d{1,2})")
_YEAR_RANGE = re.compile(r"(?:19|20)\d\d\s?[-–]\s?(?:19|20)?\d\d")
_SSN = re.compile(r"\d{3}-\d{2}-\d{4}")


def _number(match: re.Match) -> str:
    text = match.group(0)
    stripped = text.strip()
    digits = sum(c.isdigit() for c in stripped)
    if digits < 7:
        return text
    if _DATE_LIKE.fullmatch(stripped) or _YEAR_RANGE.fullmatch(stripped):
        return text
    lead = text[: len(text) - len(text.lstrip())]
    grouped = any(c in stripped for c in " ()-.\u00a0")
    if stripped.startswith(("+", "00")) and digits <= 15:
        return lead + PHONE
    if digits >= 13 or _SSN.fullmatch(stripped):
        return lead + ID
    if not grouped:
        if stripped.startswith("0") and digits in (10, 11):
            return lead + PHONE  # 07700900123
        return lead + ID if digits >= 8 else text
    if digits == 7 and not re.fullmatch(r"\d{3}[-. ]\d{4}", stripped):
        return text  # "555-1234" is a phone number; other 7-digit groupings are left alone
    if "." in stripped and " " not in stripped and "-" not in stripped and stripped.count(".") == 1:
        return text  # a decimal number
    return lead + PHONE


# Every pattern above needs a digit or an "@": a text with neither has nothing to redact. Most of what
# is logged (step names, chunk ids, words of a question) has neither, so this check saves the rest.
_CANDIDATE = re.compile(r"[\d@]")  # \d as in the patterns: any script's digits


# ---- personal names -----------------------------------------------------------------------------------
# Name lists from the Faker package; cue words and words never taken for a name in rules/redaction.toml.
# A word is a run of letters joined by "'" or "-" ("O'Brien", "Anne-Marie"); a trailing "'s" is no part of it.
_NAME_WORD = re.compile(r"[^\W\d_]+(?:['-][^\W\d_]+)*")
_SENTENCE_GAP, _CUE_GAP = re.compile(r"[.!?\n]"), re.compile(r"[.,]?\s+")


class _Names:
    """The name lists and the rules of rules/redaction.toml, built once (on the first message)."""

    def __init__(self) -> None:
        def listed(locales: list[str], attrs: tuple[str, ...]) -> set[str]:  # Faker's tuples, or dicts of weights
            return {x.lower() for loc in locales for a in attrs
                    for x in getattr(importlib.import_module(f"faker.providers.person.{loc}").Provider, a, ())
                    if " " not in x and "." not in x}

        n, unless, never = (rule("redaction")[k] for k in ("names", "unless_cued", "never"))
        for name, value in n.items():  # each list of [names] becomes a set of lower-cased words
            setattr(self, name, {w.lower() for w in value} if isinstance(value, list) else value)
        first = ("first_names", "first_names_male", "first_names_female", "first_names_nonbinary")
        self.first, self.last = listed(n["locales"], first), listed(n["locales"], ("last_names",))
        self.wide, self.title_cased = self.first | listed(n["wide_locales"], first), set(n["title_exact"])
        self.listed = self.wide | self.last
        self.cues = {tuple(c.lower().split()): kind for kind, key in (("cued", "strong_cues"), ("named", "naming_cues"),
                                                                    ("self", "self_cues"), ("greet", "greetings"))
                     for c in n[key]}
        self.never = {w.lower() for words in never.values() for w in words} | self.titles
        self.demonyms, self.dated = ({w.lower() for k in keys for w in unless[k]}
                                     for keys in (("demonyms",), ("months", "weekdays", "seasons_and_days")))
        self.unless_cued = {w.lower() for words in unless.values() for w in words}
        from wordfreq import top_n_list  # listed names that are also everyday words: "Grace", "Mark", "Will"
        self.wordy = self.listed & (self.also_words | set(top_n_list("en", self.common_words)))
        _zipf("name")  # wordfreq's list is loaded now too


_lexicon = lru_cache(maxsize=1)(_Names)  # built on the first message


def _zipf(key: str) -> float:
    from wordfreq import zipf_frequency  # it keeps what it has looked up

    return zipf_frequency(key, "en")


@dataclass(slots=True)
class _Word:
    """A word: `end`, `word`, `key` leave out a trailing "'s", `stop`, `raw` keep it; `tight`: spaces to the next."""
    start: int; end: int; stop: int; word: str; key: str; raw: str; cap: bool; opens: bool; tight: bool = False  # noqa: E702


def _words_of(text: str) -> list[_Word]:
    out: list[_Word] = []
    for m in _NAME_WORD.finditer(straighten(text)):  # each mark is one character: the offsets stay
        s, e, w = m.start(), m.end(), m.group()
        if text[s - 1:s] == "[" and text[e:e + 1] == "]":  # a token put in by redaction
            continue
        raw = w.lower()
        w = w[:-2] if raw.endswith("'s") and len(raw) > 3 else w
        if out:
            out[-1].tight = out[-1].end == out[-1].stop and text[out[-1].stop:s].isspace()
        out.append(_Word(s, s + len(w), e, w, w.lower(), raw, w[0].isupper() and not w.isupper(),
                         not out or bool(_SENTENCE_GAP.search(text, out[-1].stop, s))))
    return out


def _cue(ws: list[_Word], i: int, text: str, lx: _Names) -> str | None:
    """What the words before ws[i] make of it: "title", "named", "cued", "relation", "self" or None."""
    prev = ws[i - 1] if i else None
    if prev is None or prev.end != prev.stop or not _CUE_GAP.fullmatch(text, prev.stop, ws[i].start):
        return None
    if prev.key in lx.titles and (prev.key not in lx.title_exact or prev.word in lx.title_cased):
        return "title"
    for size in (3, 2, 1):
        kind = lx.cues.get(tuple(w.raw for w in ws[i - size:i])) if i >= size else None
        if kind and (kind != "greet" or ws[i - size].opens):  # "Hi Claire", at the start of a sentence
            return "self" if kind == "greet" else kind
    relation = prev.key in lx.relations and any(w.key in lx.determiners for w in ws[max(0, i - 4):i - 1])
    return "relation" if relation else None


def _is_name(ws: list[_Word], i: int, text: str, lx: _Names, lower_style: bool) -> bool:
    w, k, nxt, prev = ws[i], ws[i].key, ws[i + 1] if i + 1 < len(ws) else None, ws[i - 1] if i else None
    if k in lx.never or len(k) < 2:
        return False
    if nxt and text[w.end:nxt.start].strip(" '’s") == "" and (
            nxt.key in lx.eponym_words or nxt.key in lx.place_words and (w.end == w.stop or nxt.cap)):
        return False  # "the Walton Centre", "St Mary's Hospital", "Bell's palsy"
    if prev and prev.tight and (prev.cap and prev.key in lx.place_prefixes
                                or prev.key in lx.locatives and w.end == w.stop):
        return False  # "St Thomas", "Queen Elizabeth", "New York"; "in Barry", "near Shannon"
    cue, listed, lower = _cue(ws, i, text, lx), k in lx.listed, w.word.islower()
    then = nxt is not None and nxt.key in lx.after_name and w.tight  # "Grace has", not "Grace period"
    if cue == "named":
        return w.cap or lower and listed
    if cue == "title" or cue == "cued" and k not in lx.unless_cued:
        return w.cap or lower and listed and k not in lx.wordy
    if cue == "relation":  # "my husband Peter", "my wife grace has", not "my son will be"
        return ((listed or _zipf(k) < lx.rare_zipf) and k not in lx.demonyms if w.cap
                else lower and listed and (k not in lx.wordy or then and k in lx.first))
    if cue == "self" and k not in lx.demonyms and k not in lx.dated and (
            w.cap and listed or lower and k in lx.first and k not in lx.wordy and k not in lx.unless_cued):
        return True
    if (w.cap and k in lx.wide and k not in lx.dated and nxt and nxt.cap and w.tight and nxt.key in lx.last
            and nxt.key not in lx.wordy and nxt.key not in lx.never and nxt.key not in lx.unless_cued):
        return True  # a first name and a surname: "Will Jones"
    if w.cap or k in lx.unless_cued:  # a lone first name, unless it is also a word: "Megan started ..."
        return k not in lx.unless_cued and k in lx.first and (k not in lx.wordy or then)
    return lower_style and lower and k in lx.first and k not in lx.wordy and _zipf(k) < lx.lowercase_zipf


def _surname(ws: list[_Word], j: int, lx: _Names) -> bool:
    """Whether ws[j] goes with the name before it: "Sarah Jones", "Dr Amelia Okonkwo", "emma watson"."""
    w, k, after = ws[j], ws[j].key, ws[j + 1] if j + 1 < len(ws) else None
    if not ws[j - 1].tight or k in lx.never or k in lx.unless_cued or len(k) < 2 or (
            after and (after.key in lx.place_words or after.key in lx.eponym_words)):
        return False
    if w.word.islower() and k in lx.particles:  # "van der Berg"
        return after is not None and w.tight and (after.cap or after.key in lx.particles)
    if w.cap:
        return k in lx.last or k in lx.first or _zipf(k) < lx.rare_zipf
    return (w.word.islower() and not ws[j - 1].cap and k in lx.last and k not in lx.wordy
            and _zipf(k) < lx.lowercase_zipf)


def name_spans(text: str) -> list[tuple[int, int]]:
    """Where the personal names of `text` are, as (start, end) pairs."""
    lx, low = _lexicon(), straighten(text)  # a text in lower case without a listed name has none (most steps)
    if text.islower() and "'s" not in low and lx.listed.isdisjoint(_NAME_WORD.findall(low)):
        return []
    ws = _words_of(text)
    lower_style = not any(w.cap for w in ws)  # "hi im priya, my husband peter has ms"
    spans, i = [], 0
    while i < len(ws):
        j, w = i + 1, ws[i]  # only a capitalised word or a listed one can be a name: the rest is passed over
        if (w.cap or w.key in lx.listed) and _is_name(ws, i, text, lx, lower_style):
            while j < len(ws) and _surname(ws, j, lx):
                j += 1
            spans.append((ws[i].start, ws[j - 1].end))
        i = j
    return spans


def _names(text: str) -> tuple[str, list[Found]]:
    """The text with personal names replaced by [name], and the names."""
    spans, out = name_spans(text), text
    for s, e in reversed(spans):
        out = out[:s] + NAME + out[e:]
    return out, [Found(NAME, text[s:e]) for s, e in spans]


# ---- API ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Found:
    kind: str  # the token it was replaced with
    text: str  # what it replaced


def _sub(pattern: re.Pattern, token: str, text: str, found: list[Found], group: str | None = None,
         check=None) -> str:
    def repl(m: re.Match) -> str:
        if check is not None and not check(m.group(group or 0)):
            return m.group(0)
        if group is None:
            found.append(Found(token, m.group(0).strip()))
            lead = m.group(0)[: len(m.group(0)) - len(m.group(0).lstrip())]
            return lead + token
        found.append(Found(token, m.group(group)))
        return m.group(0)[: m.start(group) - m.start(0)] + token + m.group(0)[m.end(group) - m.start(0):]

    return pattern.sub(repl, text)


def redact_found(text: str) -> tuple[str, list[Found]]:
    """The text with personal details replaced, and what was replaced."""
    text, found = _details(text)
    text, names = _names(text)
    return text, found + names


def _details(text: str) -> tuple[str, list[Found]]:
    """E-mail addresses, dates of birth, IDs, addresses and phone numbers (everything but names)."""
    if not text or not _CANDIDATE.search(text):
        return text, []
    found: list[Found] = []
    text = _sub(_EMAIL, EMAIL, text, found)
    text = _sub(_DOB, DOB, text, found, "date")
    text = _sub(_DOB_LOOSE, DOB, text, found, "date")
    text = _sub(_KEYED_ID, ID, text, found, "value", check=lambda v: sum(c.isdigit() for c in v) >= 5)
    text = _sub(_PO_BOX, ADDRESS, text, found)
    text = _sub(_UNIT, ADDRESS, text, found)
    text = _sub(_ADDRESS, ADDRESS, text, found)
    text = _sub(_UK_POSTCODE, ADDRESS, text, found)
    text = _sub(_US_ZIP, ADDRESS, text, found)

    def number(m: re.Match) -> str:
        out = _number(m)
        if out != m.group(0):
            found.append(Found(out.strip(), m.group(0).strip()))
        return out

    text = _NUMBER_RUN.sub(number, text)
    return text, found


def redact(text: str) -> str:
    """The text with e-mail addresses, phone numbers, dates of birth, addresses, IDs and names replaced."""
    return redact_found(text)[0]


_TOKEN = re.compile(r"[a-z0-9]+")


def _words(found: list[Found]) -> dict[str, str]:
    """Lower-cased words of what was found (as the pipeline tokenises them), mapped to their token."""
    words: dict[str, str] = {}
    for f in found:
        for w in _TOKEN.findall(f.text.lower()):
            if len(w) >= 3:
                words.setdefault(w, f.kind)
    return words


def _match_word(value: str, words: dict[str, str]) -> str | None:
    v = value.lower()
    if v in words:
        return words[v]
    for w, kind in words.items():  # the pipeline stems words: "streets" -> "street"
        if len(v) >= 3 and w.startswith(v) and len(w) - len(v) <= 3:
            return kind
    return None


# Identifier-shaped strings ("004_164da9cc3357f88a.txt#13": a passage id) fill the pipeline's steps and
# recur turn after turn; their redaction is remembered (it is a pure function of the string).
_ID_SHAPED = re.compile(r"[\w.-]{1,80}#\d{1,6}")


@lru_cache(maxsize=4096)
def _redact_id(text: str) -> str:
    return redact(text)


def scrub(value: Any, found: list[Found] | None = None) -> Any:
    """Redact every string in a JSON-like value; single words of `found` are replaced by their token."""
    words = _words(found or [])

    def walk(v: Any) -> Any:
        if isinstance(v, str) and not found:
            return _redact_id(v) if _ID_SHAPED.fullmatch(v) else redact(v)
        if isinstance(v, str):
            if words and _TOKEN.fullmatch(v.lower()):
                kind = _match_word(v, words)
                if kind:
                    return kind
            return scrub_text(v, found or [])
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [walk(x) for x in v]
        return v

    return walk(value)


def scrub_text(text: str, found: list[Found]) -> str:
    """Redact a derived text (a rewritten query, a topic): its own details, echoes of `found`, and the
    words of `found` when the text holds them lower-cased or split up."""
    if not text:
        return text
    out = echo_scrub(_details(text)[0], found)
    words = _words(found)
    if words:  # the words of what was found keep the token they had; a name left over is found after
        out = re.sub(r"(?<!\[)\b[A-Za-z0-9]+\b(?!\])", lambda m: words.get(m.group(0).lower(), m.group(0)), out)
    return _names(out)[0]


def echo_scrub(text: str, found: list[Found]) -> str:
    """Remove exact echoes of what was found in the message (the rest of the text is kept as it is)."""
    for f in sorted(found, key=lambda f: len(f.text), reverse=True):
        if len(f.text) >= 4 and f.kind == NAME:  # a whole word only: "Mark" goes, "Markers" stays
            text = re.sub(rf"(?<![\w'’]){re.escape(f.text)}(?!\w)", NAME, text)
        elif len(f.text) >= 4:
            text = text.replace(f.text, f.kind)
    return text

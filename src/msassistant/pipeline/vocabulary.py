"""The reviewed MS vocabulary: lay words, misspellings and drug names, used to expand queries.

The data lives in rules/vocabulary.toml; this module only applies it.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

from ..resources import rule
from ..text import WORD, fold, fold_words, tokenize

MARKUP = re.compile(r"<[^<>]{0,200}>")


@dataclass(frozen=True)
class Drug:
    generic: str
    names: tuple[str, ...]  # generic first, then brands, all lower case
    corpus_terms: tuple[str, ...]

    def named_in(self, words) -> bool:
        """Whether `words` (a set or mapping of stemmed tokens) hold one of the drug's corpus terms."""
        return any(all(t in words for t in tokenize(term)) for term in self.corpus_terms)


@dataclass
class Expansion:
    text: str  # the message with misspellings corrected
    added: list[str] = field(default_factory=list)  # clinical terms added to the query
    drugs: list[Drug] = field(default_factory=list)  # drugs named in the message

    @property
    def query(self) -> str:
        return " ".join([self.text, *self.added])


_FOUND: dict[tuple[int, str], list[Drug]] = {}  # a message is checked for drugs by more than one stage


@dataclass(frozen=True)
class Vocabulary:
    lay: dict[str, tuple[str, ...]]
    misspellings: dict[str, str]
    drugs: tuple[Drug, ...]
    terms: dict[str, dict] = field(default_factory=dict, hash=False, compare=False)  # the [terms] table as written
    plain: tuple[str, ...] = ()  # rare words reviewed as needing no lay name (`msassistant vocabulary gaps`)

    @classmethod
    def load(cls, path: Path | None = None) -> "Vocabulary":
        data = tomllib.loads(Path(path).read_text(encoding="utf-8")) if path else rule("vocabulary")
        drugs = tuple(
            Drug(
                generic=generic,
                names=tuple(n.lower() for n in [generic, *entry.get("brands", [])]),
                corpus_terms=tuple(t.lower() for t in entry.get("corpus", [generic])),
            )
            for generic, entry in data["drugs"].items()
        )
        lay: dict[str, tuple[str, ...]] = {k.lower(): tuple(v) for k, v in data.get("lay", {}).items()}
        misspellings = {k.lower(): v for k, v in data.get("misspellings", {}).items()}
        for term, entry in data.get("terms", {}).items():  # corpus term -> its lay names and misspellings
            for name in entry.get("lay", []):
                key = name.lower()
                lay[key] = lay.get(key, ()) + tuple(t for t in (term,) if t not in lay.get(key, ()))
            for wrong in entry.get("misspellings", []):
                misspellings.setdefault(wrong.lower(), term)
        return cls(lay=lay, misspellings=misspellings, drugs=drugs, terms=dict(data.get("terms", {})),
                   plain=tuple(data.get("gaps", {}).get("plain", ())))

    @cached_property
    def reached_words(self) -> frozenset[str]:
        """Every word of a lay name or a drug name: words a patient may type that the vocabulary handles."""
        return frozenset(w for phrase in self.lay for w in phrase.split()) | frozenset(
            w for d in self.drugs for n in d.names for w in n.split())

    @property
    def drug_names(self) -> dict[str, Drug]:
        return {name: d for d in self.drugs for name in d.names}

    def correct(self, text: str) -> str:
        """Listed misspellings corrected, and a rare word that is a near spelling of a name the vocabulary
        holds read as that name ("copaxon", "gilenia", "pysio"): a typo of a name the reviewers wrote is
        not a technical word of its own."""
        def fix(match: re.Match) -> str:
            word = match.group(0)
            return self.misspellings.get(word.lower()) or self.near_name(word.lower()) or word

        return re.sub(r"[A-Za-z]+", fix, text)

    @cached_property
    def _names_by_letter(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {}
        for w in self.reached_words:
            if len(w) >= NEAR_NAME_LENGTH - 1 and w.isalpha():
                out.setdefault(w[0], []).append(w)
        return {k: tuple(sorted(v)) for k, v in out.items()}

    def near_name(self, word: str) -> str | None:
        """The vocabulary name (a lay word or a drug name) that `word` misspells, if it is rare in English and
        close to one: same first letter, similar length, difflib ratio at least NEAR_NAME_CUTOFF."""
        if len(word) < NEAR_NAME_LENGTH or word in self.reached_words or not word.isalpha():
            return None
        return _near_name(word, self._names_by_letter.get(word[0], ()))

    def find_drugs(self, text: str) -> list[Drug]:
        """Drugs named in the text by generic or brand name, tolerating small misspellings."""
        key = (id(self), text)
        if key not in _FOUND:
            if len(_FOUND) > 512:
                _FOUND.clear()
            _FOUND[key] = self._find_drugs(text)
        return list(_FOUND[key])

    def _find_drugs(self, text: str) -> list[Drug]:
        folded = fold(text)
        names = self.drug_names
        found: list[Drug] = []
        for name, drug in names.items():
            if re.search(rf"(?<![a-z]){re.escape(name)}(?![a-z])", folded) and drug not in found:
                found.append(drug)
        single = {n: d for n, d in names.items() if " " not in n and len(n) >= 6}
        for word in WORD.findall(folded):
            if len(word) < 6 or word in names:
                continue
            close = difflib.get_close_matches(word, single, n=1, cutoff=0.84)
            if close and single[close[0]] not in found:
                found.append(single[close[0]])
        return found

    def expand(self, message: str) -> Expansion:
        # markup is kept as text in the log and the reply, but tag names are not words of the question
        text = re.sub(r"\s+", " ", MARKUP.sub(" ", self.correct(message))).strip()
        folded = fold_words(text)
        added: list[str] = []
        for phrase, terms in self.lay.items():
            if f" {phrase} " in folded:
                added += [t for t in terms if t not in added]
        drugs = self.find_drugs(text)
        for drug in drugs:
            if drug.generic not in folded and drug.generic not in added:
                added.append(drug.generic)
        return Expansion(text=text, added=added, drugs=drugs)


NEAR_NAME_LENGTH = 5  # shorter words are too easily near another ("fatg", "oral")
NEAR_NAME_CUTOFF = 0.84  # as for drug names: "tysabry" -> "tysabri", "gilenia" -> "gilenya", "pysio" -> "physio"


@lru_cache(maxsize=8192)
def _near_name(word: str, pool: tuple[str, ...]) -> str | None:
    from wordfreq import zipf_frequency

    if zipf_frequency(word, "en") >= RARE_IN_ENGLISH:
        return None  # an everyday word is never "corrected" into a name ("heart" is not "heat")
    close = difflib.get_close_matches(word, [w for w in pool if abs(len(w) - len(word)) <= 2], n=1,
                                      cutoff=NEAR_NAME_CUTOFF)
    return close[0] if close else None


RARE_IN_ENGLISH = 3.0  # Zipf frequency (wordfreq): below it a word is rare enough to be a typo of a name


@lru_cache
def vocabulary() -> Vocabulary:
    return Vocabulary.load()

"""Text: how the assistant reads words, the one place for it.

Ingest, retrieval, the conversation rules, the composer, triage, the vocabulary, the scope checks, the
credibility labels and the check of a language model's answer all fold, split and stem text here, so a
change to how words are read is made once and shows in every stage that compares them.

Some stages read apostrophes and dashes differently (triage drops apostrophes, so "can't" and "cant"
match the same phrase; the scope checks keep them inside words). Each way has its own function below,
all drawing on one table of marks.
"""

from __future__ import annotations

import re
from functools import lru_cache

# ---- apostrophes, quotes and dashes ------------------------------------------------------------------
# Every mark read as an apostrophe, most common first: ’ is what phones and word processors type, ‘ is its
# opening twin, and ʼ, ` and ´ come from other keyboards. Most folds straighten only ’, the conversation
# rules ’ and ‘, triage all of them.
APOSTROPHES = "\u2019\u2018\u02bc`\u00b4"
CURLY = APOSTROPHES[:1]
CURLY_QUOTES = APOSTROPHES[:2]
# Hyphens and dashes that join two words ("follow‐up"), and those that break a sentence when set between
# spaces ("tired - and dizzy").
DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015"
SPACED_DASHES = "-\u2013\u2014"

_ANY_APOSTROPHE = re.compile("[" + re.escape("'" + APOSTROPHES) + "]")
_WORD_DASH = re.compile(r"(?<=\w)[" + re.escape("-" + DASHES) + r"](?=\w)|\s[" + re.escape(SPACED_DASHES) + r"]+\s")
_SPACES = re.compile(r"\s+")

# A word as the BM25 index and the conversation rules count it: letters and digits only.
TOKEN = re.compile(r"[a-z0-9]+")
# A word as the scope checks and the vocabulary read it: hyphenated words and contractions stay whole.
WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")


def straighten(text: str, marks: str = APOSTROPHES) -> str:
    """The text with each of `marks` written as a plain apostrophe (')."""
    for mark in marks:
        text = text.replace(mark, "'")
    return text


def fold(text: str, marks: str = CURLY) -> str:
    """Lower case, with the curly apostrophe (or each of `marks`) written as '."""
    return straighten(text.lower(), marks)


def fold_spaced(text: str) -> str:
    """Lower case, ’ and ‘ written as ', each run of white space as one space, trimmed."""
    return _SPACES.sub(" ", fold(text, CURLY_QUOTES)).strip()


def fold_words(text: str) -> str:
    """The text's words (hyphens and apostrophes kept inside them), lower case, one space apart and one
    space at each end, so that a phrase is found with `f" {phrase} " in folded`."""
    return " " + " ".join(WORD.findall(fold(text))) + " "


def fold_bare(text: str) -> str:
    """Lower case with no apostrophes at all ("can't" reads "cant"), and hyphens and dashes read as spaces:
    one that joins two words ("follow-up"), or one set between spaces ("tired - and dizzy")."""
    return _WORD_DASH.sub(" ", _ANY_APOSTROPHE.sub("", text.lower()))


def valid_text(text: str) -> str:
    """The text as valid Unicode that every store and encoder accepts: a surrogate pair written as two
    halves becomes its one character, a lone half becomes U+FFFD (the replacement character), and NUL
    characters are removed. Everything else is left exactly as it was."""
    if text.isascii():
        return text.replace("\x00", "")
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace").replace("\x00", "")


def normalise_breaks(text: str) -> str:
    """Line breaks written as "\\n", no-break spaces as spaces, and no byte-order mark."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ").replace("\ufeff", "")


# ---- words for search --------------------------------------------------------------------------------
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below between both
    but by can could did do does doing don down during each few for from further had has have having he her here hers
    herself him himself his how i if in into is it its itself just let me more most my myself no nor not now of off on
    once only or other our ours ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves get gets got also may might much many really
    tell know thing things lately s t re ve ll d m one well ago today yesterday tomorrow tonight suddenly recently
    still ever anymore""".split()
)


@lru_cache(maxsize=1 << 17)  # a corpus has far fewer distinct words than word occurrences
def stem(word: str) -> str:
    """A light suffix stripper: enough to match plurals and simple verb forms."""
    for suffix, min_len in (("ies", 5), ("ing", 6), ("ed", 5), ("s", 4)):
        if word.endswith(suffix) and len(word) >= min_len and not word.endswith("ss"):
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def tokenize(text: str) -> list[str]:
    """The stemmed words of a text that carry meaning: what BM25 indexes, and what the stages compare.
    An apostrophe of any kind ends a token, so the text needs no more folding than lower case."""
    return [stem(t) for t in TOKEN.findall(text.lower()) if t not in STOPWORDS]


@lru_cache
def english_words() -> frozenset[str]:
    """Whole English words known to the bundled model's tokenizer: real words are never "corrected"
    into corpus words ("heart" is not a misspelling of "heat")."""
    from .index.embeddings import EmbeddingModelError, bundled_model_dir

    try:
        lines = (bundled_model_dir() / "vocab.txt").read_text(encoding="utf-8").splitlines()
    except (EmbeddingModelError, OSError):
        return frozenset()
    return frozenset(w for w in lines if w.isalpha() and w.islower() and len(w) >= 4)


# ---- sentences ---------------------------------------------------------------------------------------
ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "Dr.", "approx.", "Fig.", "No.", "St.")
# A sentence ends at . ! or ? before a capital; and so does a list's intro, at a colon before a capitalised
# word ("... four mechanisms of action: First-line drugs ..."), which is a sentence of its own.
SENTENCE_END = re.compile(r"(?<=[.!?])[\"”']?\s+(?=[\"“(A-Z0-9])|(?<=:)\s+(?=[A-Z][a-z])")


def protect_abbreviations(text: str) -> str:
    """Hide the full stops of common abbreviations from a sentence splitter."""
    for i, abbr in enumerate(ABBREVIATIONS):
        text = text.replace(abbr, f"\x00{i}\x00")
    return text


def restore_abbreviations(text: str) -> str:
    """Put back the abbreviations `protect_abbreviations` hid."""
    for i, abbr in enumerate(ABBREVIATIONS):
        text = text.replace(f"\x00{i}\x00", abbr)
    return text


def split_sentences(text: str) -> list[str]:
    """Split prose into sentences without breaking on common abbreviations."""
    parts = SENTENCE_END.split(protect_abbreviations(text))
    return [restore_abbreviations(p.strip()) for p in parts if p.strip()]

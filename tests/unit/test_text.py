"""How the assistant reads text: folding, apostrophes and dashes, stemming, tokens and sentences.

The last tests pin each fold to the code the stages used before they shared this module (copied below as
it was), over the shipped corpus, the triage cases and every apostrophe, quote and dash mark.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from msassistant import text
from msassistant.text import (
    APOSTROPHES, CURLY, CURLY_QUOTES, STOPWORDS, english_words, fold, fold_bare, fold_spaced, fold_words,
    normalise_breaks, protect_abbreviations, restore_abbreviations, split_sentences, stem, straighten, tokenize,
)

from conftest import CORPUS

CASES_FILE = Path(__file__).parent / "data" / "triage_cases.jsonl"
MARKS = ["'", "\u2019", "\u2018", "\u02bc", "`", "\u00b4", "-", "\u2010", "\u2011", "\u2012", "\u2013", "\u2014",
         "\u2015", "\u00a0", "\ufeff", "\r\n", "\r", "\n", "\t", "  ", "\u2026", "..."]


# ---- apostrophes, quotes and dashes ------------------------------------------------------------------
@pytest.mark.parametrize("mark", list(APOSTROPHES))
def test_straighten_writes_every_apostrophe_mark_as_one(mark):
    assert straighten(f"don{mark}t") == "don't"


def test_the_table_lists_each_mark_once_most_common_first():
    assert len(set(APOSTROPHES)) == len(APOSTROPHES) == 5
    assert CURLY == "’" and CURLY_QUOTES == "’‘" and APOSTROPHES.startswith(CURLY_QUOTES)


def test_fold_lowers_and_straightens_the_curly_apostrophe_only_by_default():
    assert fold("Can’t SLEEP") == "can't sleep"
    assert fold("‘Fatigue’") == "‘fatigue'"  # the stages that fold this way never straightened ‘
    assert fold("‘Fatigue’", CURLY_QUOTES) == "'fatigue'"
    assert fold("Itʼs", APOSTROPHES) == "it's"


def test_fold_words_keeps_hyphens_and_apostrophes_inside_words():
    assert fold_words("Is it SAFE to take follow-up  meds? I don’t know!") == " is it safe to take follow-up meds i don't know "
    assert fold_words("") == "  "
    assert fold_words("- well -being") == " well being "


def test_fold_spaced_straightens_both_curly_quotes_and_collapses_white_space():
    assert fold_spaced("  What’s\n\tthe ‘dose’?  ") == "what's the 'dose'?"
    assert fold_spaced("donʼt") == "donʼt"


@pytest.mark.parametrize("mark", ["'", *APOSTROPHES])
def test_fold_bare_drops_every_apostrophe(mark):
    assert fold_bare(f"I CAN{mark}T see") == "i cant see"


@pytest.mark.parametrize("dash", ["-", "\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2015"])
def test_fold_bare_reads_a_dash_between_words_as_a_space(dash):
    assert fold_bare(f"follow{dash}up") == "follow up"


def test_fold_bare_reads_a_spaced_dash_as_a_space_and_leaves_other_dashes():
    assert fold_bare("tired - and dizzy") == "tired and dizzy"
    assert fold_bare("tired — and – dizzy") == "tired and dizzy"
    assert fold_bare("a ― b") == "a ― b"  # a horizontal bar joins words, it does not break a sentence
    assert fold_bare("-5 degrees, 3-") == "-5 degrees, 3-"


def test_normalise_breaks():
    assert normalise_breaks("\ufeffone\r\ntwo\rthree\u00a0four") == "one\ntwo\nthree four"


# ---- words for search --------------------------------------------------------------------------------
@pytest.mark.parametrize("word, stemmed", [
    ("relapses", "relapse"), ("therapies", "therapy"), ("stress", "stress"), ("walking", "walk"),
    ("treated", "treat"), ("ties", "tie"), ("sing", "sing"), ("red", "red"), ("bus", "bus"), ("legs", "leg"),
    ("studies", "study"), ("thing", "thing"), ("bring", "bring"), ("tiring", "tir"), ("fed", "fed"), ("injections", "injection"), ("less", "less"),
])
def test_stem(word, stemmed):
    assert stem(word) == stemmed


def test_tokenize_drops_stopwords_and_stems():
    assert tokenize("What are the side effects of injections?") == ["side", "effect", "injection"]
    assert tokenize("I don’t feel well TODAY") == ["feel"]
    assert tokenize("Vitamin-D 4000 IU") == ["vitamin", "4000", "iu"]
    assert {"the", "don", "t", "s", "yesterday"} <= STOPWORDS


def test_english_words_are_whole_lower_case_words():
    words = english_words()
    assert {"heart", "walking"} <= words
    assert all(w.isalpha() and w.islower() and len(w) >= 4 for w in words)


# ---- sentences ---------------------------------------------------------------------------------------
def test_split_sentences_keeps_abbreviations():
    prose = ("Ask Dr. Smith about vitamins, e.g. vitamin D. Some (i.e. most) trials vs. placebo ran for approx. "
             "two years, see Fig. 2. “Is it safe?” she asked. Yes.")
    assert split_sentences(prose) == [
        "Ask Dr. Smith about vitamins, e.g. vitamin D.",
        "Some (i.e. most) trials vs. placebo ran for approx. two years, see Fig. 2.",
        "“Is it safe?” she asked.",
        "Yes.",
    ]


def test_split_sentences_breaks_only_before_a_capital_digit_quote_or_bracket():
    assert split_sentences('It helps. so does rest. 3 trials agree. "Yes," he said. (See above.) Done.  ') == [
        "It helps. so does rest.", "3 trials agree.", '"Yes," he said.', "(See above.) Done."]
    # a sentence that opens with an abbreviation stays with the one before
    assert split_sentences("See Fig. 2. No. 10 is larger.") == ["See Fig. 2. No. 10 is larger."]
    assert split_sentences("  \n ") == []


def test_protect_and_restore_abbreviations():
    hidden = protect_abbreviations("e.g. this, i.e. that, etc.")
    assert "." not in hidden
    assert restore_abbreviations(hidden) == "e.g. this, i.e. that, etc."


# ---- the same results as the stages' own code before they shared this module --------------------------
_OLD_APOSTROPHES = re.compile(r"['\u2019\u2018\u02bc`\u00b4]")
_OLD_DASHES = re.compile(r"(?<=\w)[-\u2010-\u2015](?=\w)|\s[-\u2013\u2014]+\s")
_OLD_SENTENCE_END = re.compile(r"(?<=[.!?])[\"”']?\s+(?=[\"“(A-Z0-9])")
_OLD_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "Dr.", "approx.", "Fig.", "No.", "St.")


def old_ingest_fold(line):
    return line.strip().lower().replace("’", "'")


def old_scope_fold(message):  # the vocabulary's query fold was the same
    words = re.findall(r"[a-z0-9]+(?:[-'][a-z0-9]+)*", message.lower().replace("’", "'"))
    return " " + " ".join(words) + " "


def old_conversation_fold(text):
    return re.sub(r"\s+", " ", text.lower().replace("’", "'").replace("‘", "'")).strip()


def old_triage_fold(message):
    return _OLD_DASHES.sub(" ", _OLD_APOSTROPHES.sub("", message.lower()))


def old_stem(word):
    for suffix, min_len in (("ies", 5), ("ing", 6), ("ed", 5), ("s", 4)):
        if word.endswith(suffix) and len(word) >= min_len and not word.endswith("ss"):
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def old_tokenize(text):
    return [old_stem(t) for t in re.findall(r"[a-z0-9]+", text.lower().replace("’", "'")) if t not in STOPWORDS]


def old_split_sentences(prose):
    for i, abbr in enumerate(_OLD_ABBREVIATIONS):
        prose = prose.replace(abbr, f"\x00{i}\x00")
    out = []
    for part in _OLD_SENTENCE_END.split(prose):
        for i, abbr in enumerate(_OLD_ABBREVIATIONS):
            part = part.replace(f"\x00{i}\x00", abbr)
        if part.strip():
            out.append(part.strip())
    return out


def old_ingest_breaks(page):
    return page.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ").replace("\ufeff", "")


@pytest.fixture(scope="module")
def samples() -> list[str]:
    """The corpus (whole pages, their lines), the triage cases, and the marks in the middle of words and
    between spaces."""
    out: list[str] = []
    for path in sorted(CORPUS.glob("*.txt")):
        page = path.read_text(encoding="utf-8")
        out += [page, *page.splitlines()]
    out += [json.loads(line)["text"] for line in CASES_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
    for mark in MARKS:
        out += [f"Don{mark}t STOP{mark}", f"follow{mark}up", f"tired {mark} and{mark} dizzy {mark}", f"{mark}Yes.{mark}No"]
    out.append("".join(chr(c) for c in range(32, 0x3000)))
    assert len(out) > 300
    return out


def test_the_folds_give_what_each_stage_gave_before(samples):
    for sample in samples:
        assert fold(sample.strip()) == old_ingest_fold(sample)
        assert fold(sample) == sample.lower().replace("’", "'")  # credibility and the drug finder
        assert fold_words(sample) == old_scope_fold(sample)
        assert fold_spaced(sample) == old_conversation_fold(sample)
        assert fold_bare(sample) == old_triage_fold(sample)
        assert normalise_breaks(sample) == old_ingest_breaks(sample)


def test_tokens_and_sentences_are_what_they_were(samples):
    for sample in samples:
        assert tokenize(sample) == old_tokenize(sample)
        # the old splitter, and then a list's intro cut off at its colon ("... of action: First-line ...")
        expected = [piece for part in old_split_sentences(sample) for piece in re.split(r"(?<=:)\s+(?=[A-Z][a-z])", part)]
        assert split_sentences(sample) == expected


def test_a_list_intro_ending_in_a_colon_is_a_sentence_of_its_own():
    assert split_sentences("Key strategies include: Temperature regulation is vital. Done.") == [
        "Key strategies include:", "Temperature regulation is vital.", "Done."]
    assert split_sentences("Here is the twist: many people have not heard.") == [
        "Here is the twist: many people have not heard."]  # a colon inside a sentence stays


def test_triage_reads_each_character_as_before():
    for code in range(1, 0x3000):
        c = chr(code)
        for sample in (f"a{c}b", f" {c} ", f"x {c}{c} y", c.upper()):
            assert fold_bare(sample) == old_triage_fold(sample), hex(code)


def test_no_stage_keeps_its_own_copy():
    """Stages take their text handling from msassistant.text rather than redefining it."""
    src = Path(text.__file__).parent
    for path in src.rglob("*.py"):
        if path.name == "text.py":
            continue
        code = path.read_text(encoding="utf-8")
        assert not re.search(r"^(?:def (?:stem|tokenize|split_sentences|english_words)\(|STOPWORDS = )", code, re.M), path
        assert ".replace(\"’\", \"'\")" not in code, path

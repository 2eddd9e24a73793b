"""What the evaluation counts in an answer: its cited sentences, noise, and reading grade."""

from msassistant.evaluate.quality import Sentence, answer_sentences, noise_reason, reading_grade, syllables

REPLY = {
    "answer": "Call now.\n\nInterferon can cause flu-like symptoms. [1] This study was small. [2]\n\nCare team.\n\nRed flags.",
    "safety": {"urgent": "Call now.", "care_team": "Care team.", "red_flags": "Red flags."},
}


def test_answer_sentences_are_the_cited_ones_without_notices():
    got = answer_sentences(REPLY)
    assert [s.text for s in got] == ["Interferon can cause flu-like symptoms.", "This study was small."]
    assert [s.cites for s in got] == [(1,), (2,)]


def test_noise_reasons():
    first = Sentence("Interferon can cause flu-like symptoms.", (1,))
    assert noise_reason(first, None) is None
    assert noise_reason(Sentence("It is like keeping a car running smoothly.", (1,)), first) == "analogy"
    assert noise_reason(Sentence("Treatment is divided into four groups:", (1,)), first) == "intro with nothing after it"
    assert noise_reason(Sentence("Headline of the page.", (1,)), None, frozenset({"headline of the page"})) == "headline"
    # an opener is unclear only when the sentence before it is from another passage
    assert noise_reason(Sentence("This study was small.", (2,)), first) == "subject not shown"
    assert noise_reason(Sentence("This study was small.", (1,)), first) is None


def test_reading_grade_orders_plain_and_technical_text():
    plain = reading_grade(["The drug can make you tired.", "Rest helps."])
    hard = reading_grade(["Immunomodulatory pharmacotherapies demonstrate considerable heterogeneity in efficacy."])
    assert plain < 4 < 12 < hard
    assert reading_grade([]) is None
    assert syllables("fatigue") >= 2 and syllables("the") == 1

"""The reviewed MS vocabulary: brand names, lay words and misspellings map to the reviewed terms (the passages
they reach over the real index: tests/integration/test_vocabulary.py)."""

import pytest

from msassistant.pipeline.vocabulary import Vocabulary, vocabulary


@pytest.mark.parametrize("message, term", [
    ("Is Tysabri safe for me?", "natalizumab"),
    ("what does copaxone do", "glatiramer acetate"),
    ("Gilenya and my heart", "fingolimod"),
    ("Avonex shots every week", "interferon beta-1a"),
    ("I'm on Betaferon", "interferon beta-1b"),
    ("tysabry side effects", "natalizumab"),  # misspelled brand
    ("fingolamod first dose", "fingolimod"),  # misspelled generic
    ("natalizumib risks", "natalizumab"),
])
def test_brand_and_misspelled_drugs_map_to_generic(message, term):
    assert term in vocabulary().expand(message).added


@pytest.mark.parametrize("message, term", [
    ("I feel tired all the time", "fatigue"),
    ("how often do I need a brain scan", "MRI"),
    ("pins and needles in my feet", "numbness"),
    ("my wobbly legs", "balance"),
    ("she gets mixed up easily", "cognitive impairment"),
    ("is a water workout good", "aquatic therapy"),
    ("fish oil for MS?", "omega-3"),
    ("can I get a heart check", "ECG"),
    ("keep getting UTIs", "urinary tract infections"),
])
def test_lay_words_add_clinical_terms(message, term):
    assert term in vocabulary().expand(message).added


def test_misspellings_are_corrected():
    exp = vocabulary().expand("mutiple sclerosus fatige and ballance")
    assert exp.text == "multiple sclerosis fatigue and balance"


def test_lay_words_match_whole_words_only():
    assert "depression" not in vocabulary().expand("slow down the disease").added
    assert vocabulary().expand("the hotel was nice").added == []  # "hot" inside a word


def test_markup_is_not_part_of_the_query():
    exp = vocabulary().expand("<script>alert('x')</script> what is MS?")
    assert "script" not in exp.query and "MS" in exp.query


def test_every_drug_has_a_generic_and_loads(tmp_path):
    vocab = Vocabulary.load()
    assert len(vocab.drugs) >= 30
    assert all(d.generic and d.names[0] == d.generic.lower() for d in vocab.drugs)
    assert {"ocrelizumab", "cladribine", "teriflunomide"} <= {d.generic for d in vocab.drugs}

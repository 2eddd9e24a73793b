"""The reviewed MS vocabulary: brand names, lay words and misspellings reach the right passages."""

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


# End to end: everyday wording retrieves the passage a clinician would point to.
@pytest.mark.parametrize("question, phrase", [
    ("What are the risks with Tysabri?", "natalizumab"),
    ("Does Copaxone cause flu symptoms?", "flu-like symptoms"),
    ("Why do they check my heart when I start Gilenya?", "bradycardia"),
    ("how often should i get a brain scan", "MRI"),
    ("my wife keeps falling over, what can help", "fall risk"),
    ("is fish oil good for ms", "omega-3"),
    ("I keep getting bladder infections", "urinary tract infections"),
    ("my mum is forgetful and mixed up, can anything help", "memory or attention"),
    ("does the heat make ms worse, i get pins and needles", "heat-sensitive"),
    ("can a stem cell transplant reset things", "resetting the immune system"),
    ("Is Imuran better than interferon?", "azathioprine"),
    ("methotrexat in the spine for progresive ms", "intrathecal"),
])
def test_lay_questions_cite_the_right_passage(assistant, question, phrase):
    reply = assistant.reply(question)
    assert reply.category == "answer", reply.answer
    top = [c.passage.lower() for c in reply.citations[:3]]
    assert any(phrase.lower() in p for p in top), [c.passage[:80] for c in reply.citations]

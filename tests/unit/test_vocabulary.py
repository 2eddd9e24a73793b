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
    ("copaxon side efects?", "glatiramer acetate"),  # a brand typed short
    ("can gilenia slow your heart", "fingolimod"),
])
def test_brand_and_misspelled_drugs_map_to_generic(message, term):
    expansion = vocabulary().expand(message)
    assert term in expansion.query  # the generic is searched for, corrected in the text or added to it
    assert term in [d.generic for d in expansion.drugs]


@pytest.mark.parametrize("typed, name", [
    ("pysio", "physio"), ("copaxon", "copaxone"), ("gilenia", "gilenya"), ("efects", "effects"),
])
def test_a_rare_near_spelling_of_a_vocabulary_name_is_read_as_that_name(typed, name):
    assert vocabulary().correct(f"is {typed} ok?") == f"is {name} ok?"


@pytest.mark.parametrize("word", ["heart", "hotel", "ozanimod", "oral", "forks"])
def test_everyday_words_and_unlisted_names_are_left_as_typed(word):
    assert vocabulary().correct(f"what about {word}") == f"what about {word}"


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


# ---- the [terms] table: lay names derived from the corpus's technical terms -----------------------------
@pytest.mark.parametrize("message, term", [
    # drugs and drug classes
    ("is an s1p modulator like a pill?", "S1P receptor modulators"),
    ("are the seizure meds ok with interferon", "anticonvulsants"),
    ("is it given under the skin", "subcutaneous"),
    ("what are DMDs", "disease-modifying therapies"),
    # procedures and tests
    ("do I need a spinal tap to check the spinal fluid", "cerebrospinal fluid"),
    ("he bruises easily, do they test his blood clotting", "coagulation status"),
    ("can I have a video appointment instead", "telemedicine"),
    # symptoms
    ("my legs give way when I stand", "limb weakness"),
    ("she keeps dropping things", "hand coordination"),
    ("I can't find the right word sometimes", "communication difficulties"),
    ("I get a water infection every month", "urinary tract infections"),
    ("are MS symptoms that come and go in the heat a relapse", "transient symptoms"),
    # therapies, rehabilitation and lifestyle
    ("would a cooling vest help in summer", "ventilated clothing"),
    ("does hydrotherapy help", "aquatic therapy"),
    ("are there adapted cutlery sets", "specialized utensils"),
    ("my husband has ms and I'm his carer", "caregivers"),
    # study and research words
    ("can I take part in a trial", "clinical trials"),
    ("is there compassionate use for it", "early access programs"),
    # the disease and its course
    ("spots on my brain scan", "brain lesions"),
    ("is ms hereditary", "genetic and environmental factors"),
])
def test_lay_names_add_corpus_terms(message, term):
    assert term in vocabulary().expand(message).added


@pytest.mark.parametrize("message, corrected", [
    ("bradicardia on fingolimod", "bradycardia on fingolimod"),  # misspelling of a one-word term
    ("is it subcutanious", "is it subcutaneous"),
    ("progresive ms", "progressive ms"),  # a word shared by several terms is corrected on its own
    ("fingolomid and inteferon", "fingolimod and interferon"),  # drug names the fuzzy match misses
])
def test_term_misspellings_are_corrected(message, corrected):
    assert vocabulary().expand(message).text == corrected


def test_every_term_is_reviewable():
    """Each term has a source and 2-8 lay names, each written as the matcher reads it (lower case, words
    one space apart), so that it can match at all; misspellings are single words of letters."""
    from msassistant.text import fold_words

    for term, entry in vocabulary().terms.items():
        lay = entry.get("lay", [])
        assert entry.get("source"), term
        assert 2 <= len(lay) <= 8, term
        assert all(fold_words(name).strip() == name for name in lay), term
        assert all(name.isalpha() and name.islower() for name in entry.get("misspellings", [])), term


def test_misspellings_are_not_english_words():
    from wordfreq import zipf_frequency

    vocab = vocabulary()
    real = [w for w in vocab.misspellings if zipf_frequency(w, "en") >= 2.5]
    assert real == []


@pytest.mark.parametrize("message", [
    "how do I reset my password", "what is the capital of France", "give it a shot", "how does it work",
    "I need to work out my budget", "how many people live in London", "what is artificial intelligence",
    "the stock price is declining", "I like my new tablet computer",
])
def test_lay_names_do_not_fire_on_unrelated_messages(message):
    assert vocabulary().expand(message).added == []


def test_every_technical_word_of_the_corpus_has_a_lay_name():
    """`msassistant vocabulary gaps` prints nothing: each rare word of the corpus is reached from a patient's
    words, or was reviewed as plain English ([gaps].plain)."""
    from conftest import CORPUS
    from msassistant.corpus.ingest import load_corpus
    from msassistant.corpus.terms import gaps

    docs, _ = load_corpus(CORPUS)
    found = gaps(((d.source, text) for d in docs for _, text in d.paragraphs), vocabulary())
    assert [t.word for t in found] == []

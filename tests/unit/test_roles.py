"""Sentence roles marked at ingest (corpus/roles.py, rules/sentence_roles.toml), and the plain-language
steps of composing (pipeline/plain.py): what an answer may show, and how it is shown."""

import pytest

from msassistant.corpus import roles
from msassistant.pipeline import plain


@pytest.mark.parametrize("sentence, expected", [
    ("Treatment is divided into four mechanisms of action:", "intro"),
    ("Absolutely.", "fragment"),
    ("Yes, reversing.", "fragment"),
    ("Call your doctor about new symptoms lasting over 48 hours.", "safety_rule"),
    ("It works like fixing a leaky roof before the rain comes.", "analogy"),
    ("Mild side effects like headaches were common.", "fact"),  # "like" giving examples is not a comparison
    ("New symptoms like tingling in the feet need a review.", "fact"),
    ("Measuring it is just like checking the tyres on a bike.", "analogy"),
    ("It's like having a spare key in your pocket.", "analogy"),
    ("Stories from the trial are nothing short of astonishing.", "hype"),
    ("If you or someone you love has MS, this is news.", "teaser"),
    ("Caregivers can also benefit from reading about new options.", "audience"),
    ("Patients should pay attention because this drug may offer hope.", "audience"),
    ("Patients should pay attention because cladribine could be an option when other drugs fail.", "reason"),
    ("They found lower iron in the thalamus.", "refers_back"),
    ("This suggests that iron matters.", "refers_back"),
    ("Additionally, less iron was linked to lower test scores.", "connective"),
    ("However, it is uncertain how well it works.", "connective"),
    ("It is recommended to have a check-up every six months.", "fact"),
    ("Physiotherapy can improve balance and walking.", "fact"),
])
def test_each_kind_of_sentence_gets_its_role(sentence, expected):
    assert roles.role(sentence) == expected, sentence


def test_what_an_answer_shows_for_a_role():
    assert roles.shown_text("Additionally, less iron was linked to lower test scores.", "connective") == \
        "Less iron was linked to lower test scores."
    assert roles.shown_text("Patients should pay attention because cladribine could be an option when other drugs "
                            "fail.", "reason") == "Cladribine could be an option when other drugs fail."
    assert roles.SHOWN == {"fact", "refers_back", "reason", "connective"}


def test_a_paragraph_about_who_should_read_it_is_filler_to_its_end():
    sentences = ["Iron was lower in the thalamus of people with SPMS.",
                 "This finding is important for MS patients because it may help.",
                 "Healthcare providers may tailor treatments to each person."]
    assert roles.mark(sentences) == ["fact", "audience", "audience"]
    assert roles.mark(sentences[2:], section="Who Should Care and Why") == ["audience"]
    assert roles.mark(["Azathioprine may lower relapses."], section="Key Takeaway") == ["headline"]
    assert roles.mark(["A headline sentence here.", "A fact follows it here."], headline="A headline sentence here.") \
        == ["headline", "fact"]


def test_roles_kept_in_metadata_round_trip_and_old_chunks_are_all_facts():
    marked = roles.encode(["fact", "headline", "analogy"])
    assert roles.decode(marked, 3) == ["fact", "headline", "analogy"]
    assert roles.decode("", 2) == ["fact", "fact"]
    assert roles.decode(marked, 4) == ["fact"] * 4  # out of step with the text: never hide on a guess


def test_the_rules_version_changes_with_the_rules_file():
    assert len(roles.version()) == 12 and roles.version() == roles.version()


@pytest.mark.parametrize("sentence, pieces", [
    ("It was given to patients every three months for a year, and most people tolerated it well, with only "
     "mild side effects like headaches.",
     ["It was given to patients every three months for a year.",
      "Most people tolerated it well, with only mild side effects like headaches."]),
    ("Natalizumab works by blocking immune cells from entering the brain and spinal cord fluid; fingolimod is an "
     "oral medication that may slow the heart.",
     ["Natalizumab works by blocking immune cells from entering the brain and spinal cord fluid.",
      "Fingolimod is an oral medication that may slow the heart."]),
    ("Short sentences stay whole, and so do these.", ["Short sentences stay whole, and so do these."]),
    ("Only a few dozen people took part in the trial over two years, which means its findings may not hold for "
     "everyone.",
     ["Only a few dozen people took part in the trial over two years.", "This means its findings may not hold for everyone."]),
    ("Most of the group had no new lesions on their scans after a year, meaning the disease stayed quiet for them.",
     ["Most of the group had no new lesions on their scans after a year.", "This means the disease stayed quiet for them."]),
    ("The scans only covered the upper part of the spinal cord in this group, so other damage may have been missed.",
     ["The scans only covered the upper part of the spinal cord in this group.", "So other damage may have been missed."]),
    ("Many people in the small group walked further after a year of the treatment, but the new drug isn’t a "
     "cure for the disease.",  # a typographic apostrophe: "isn’t" is the clause's only verb
     ["Many people in the small group walked further after a year of the treatment.",
      "The new drug isn’t a cure for the disease."]),
    ("Patients kept a diary of their fatigue over many months of the trial, meaning fewer clinic visits.",  # no clause
     ["Patients kept a diary of their fatigue over many months of the trial, meaning fewer clinic visits."]),
    ("Doctors consider the disease stage, lesion activity and lifestyle of the patient, and the wishes of the "
     "patient and the family when choosing.",  # "and the wishes of": no verb, not a clause
     ["Doctors consider the disease stage, lesion activity and lifestyle of the patient, and the wishes of the "
      "patient and the family when choosing."]),
])
def test_long_sentences_split_only_where_each_part_stands_alone(sentence, pieces):
    assert plain.joints(sentence) == pieces
    flat = " ".join(sentence.split())
    assert all(plain.in_passage(p, flat) for p in pieces)


def test_a_restated_joint_is_checked_against_the_words_it_replaces():
    passage = "Few people took part in the trial, which means its findings may not hold for everyone."
    assert plain.in_passage("This means its findings may not hold for everyone.", passage)
    assert not plain.in_passage("This means its findings hold for everyone.", passage)
    assert not plain.in_passage("This means few people took part.", passage)  # not what followed the joint
    assert plain.in_passage("This means the dose was halved.", "Side effects were common. This means the dose was halved.")


def test_a_term_is_glossed_on_first_use_only():
    items = (("intrathecal", "into the spinal fluid"), ("ECG", "a heart tracing"))
    out = plain.gloss(["Intrathecal methotrexate was given.", "More intrathecal doses and an ECG (heart test)."], items)
    assert out == ["Intrathecal (into the spinal fluid) methotrexate was given.",
                   "More intrathecal doses and an ECG (heart test)."]  # second use, and an explained term: untouched
    assert plain.in_passage(out[0], "Intrathecal methotrexate was given.", items)
    assert not plain.in_passage("Intrathecal (a made-up gloss) methotrexate was given.", "Intrathecal methotrexate was given.", items)
    assert not plain.in_passage("Methotrexate cures MS.", "Methotrexate was given.", items)

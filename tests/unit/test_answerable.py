"""Answerable?: the aspect a question asks against the aspects its passages hold (rules/aspects.toml)."""

import pytest

from msassistant.pipeline.answerable import asked, asking_part, held, judge
from msassistant.pipeline.vocabulary import vocabulary

NATALIZUMAB = next(d for d in vocabulary().drugs if d.generic == "natalizumab")


@pytest.mark.parametrize("question, aspect", [
    ("how much does a tysabri infusion cost", "cost"),
    ("Will my insurance pay for it?", "cost"),
    ("is it safe to get the flu jab with ms", "vaccination"),
    ("can I breastfeed on interferon", "pregnancy"),
    ("will my kids get ms too, is it genetic?", "heredity"),
    ("how do they diagnose ms, what are the criteria", "diagnosis"),
    ("what age does ms usually start", "onset"),
    ("is it ok to have a glass of wine on fingolimod", "interaction"),
    ("can I still drive with ms", "daily_life"),
])
def test_the_asked_aspect_is_read_from_the_question(question, aspect):
    assert aspect in asked(question)


def test_a_story_before_the_question_does_not_count_as_asking():
    message = ("I was diagnosed four years ago and I travel a lot for work. My interferon injections leave red "
               "patches. Is that a known side effect?")
    assert asking_part(message).startswith("Is that")
    assert "diagnosis" not in asked(message) and "daily_life" not in asked(message)


def test_a_message_with_no_question_is_read_whole():
    assert asking_part("tell me about costs of treatment") == "tell me about costs of treatment"


def test_passages_are_tagged_with_the_aspects_they_state():
    assert "dose" in held("It was given every three months for a year.")
    assert "cost" not in held("Natalizumab requires regular monitoring.")
    assert "vaccination" in held("Live vaccines should be avoided while on this drug.")


def test_an_aspect_no_passage_holds_is_not_answerable():
    passages = [("g#4", "Natalizumab works by blocking immune cell migration and requires regular monitoring.")]
    verdict = judge("how much does tysabri cost a month?", passages, [NATALIZUMAB])
    assert not verdict.answerable and verdict.missing == ["cost"]


def test_the_passage_holding_the_aspect_must_name_the_drug_asked_about():
    passages = [("a#1", "Interferon is injected every three days."),
                ("g#4", "Natalizumab requires regular monitoring.")]
    verdict = judge("how often is natalizumab given, every four weeks?", passages, [NATALIZUMAB])
    assert "dose" in verdict.asked and not verdict.answerable and verdict.missing == []
    passages.append(("g#9", "Natalizumab is given as an infusion every four weeks."))
    assert judge("how often is natalizumab given, every four weeks?", passages, [NATALIZUMAB]).holding == ["g#9"]


def test_questions_that_ask_no_listed_aspect_are_left_to_retrieval():
    verdict = judge("what did the azathioprine review find?", [("r#0", "Azathioprine reduced relapses.")])
    assert verdict.asked == [] and verdict.answerable

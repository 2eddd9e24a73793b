"""What a patient reads: facts only (no headlines, filler, analogies, hype), each source introduced by what it
is, one time rule per reply, and the personal-decision lead only for decisions about one's own treatment."""

import pytest

from msassistant.evaluate.quality import answer_sentences, noise_reason

QUESTIONS = [
    "What did the methotrexate study find?",
    "Why should caregivers care about the azathioprine review?",
    "What does thalamic iron tell doctors about MS?",
    "Is remyelination therapy a breakthrough?",
    "What helps with stress in MS?",
    "What are the limitations of the thalamic iron study?",
]


def body_of(reply) -> str:
    return reply.answer.split(reply.safety.care_team)[0]


@pytest.mark.parametrize("question", QUESTIONS)
def test_answers_carry_no_sentence_that_tells_a_patient_nothing(assistant, question):
    reply = assistant.reply(question).model_dump()
    sentences = answer_sentences(reply)
    assert sentences
    for i, s in enumerate(sentences):
        assert noise_reason(s, sentences[i - 1] if i else None) is None, s.text
    for phrase in ("like keeping a car", "toolbox", "should pay attention", "Yes, reversing", "Absolutely."):
        assert phrase not in reply["answer"]


def test_a_who_should_care_sentence_gives_only_its_reason(assistant):
    body = body_of(assistant.reply("When could azathioprine be an option for MS?"))
    assert "Azathioprine could be an option when other treatments are hard to get." in body
    assert "should pay attention" not in body


def test_an_urgent_reply_carries_one_time_rule(assistant):
    reply = assistant.reply("I suddenly lost the vision in my left eye this morning")
    assert reply.category == "urgent"
    assert "48 hours" not in reply.answer  # the guide's own rule is left to the red-flag guidance code adds


@pytest.mark.parametrize("message, lead", [
    ("Should I stop taking my interferon injections?", True),
    ("should i switch to natalizumab", True),
    ("Should I be worried about heat making my symptoms worse?", False),
    ("What are the side effects of fingolimod?", False),
])
def test_the_personal_decision_lead_only_for_a_decision_about_treatment(assistant, message, lead):
    body = body_of(assistant.reply(message))
    assert body.startswith("I can't tell you what to do about your own treatment") is lead, body[:120]


def test_an_answer_is_led_by_what_its_source_is(assistant):
    reply = assistant.reply("What side effects do interferon beta injections have?")
    paragraphs = [p for p in body_of(reply).split("\n\n") if p.strip()]
    assert paragraphs[0] in ("The treatment guide says:",) or paragraphs[0].startswith("A ")
    assert "flu-like" in body_of(reply)

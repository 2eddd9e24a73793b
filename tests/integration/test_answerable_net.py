"""The shipped answerability net on MiniLM: questions written for this test (not in its labelled set), the
library's answer and its no-coverage reply, and what staff see."""

import pytest

from msassistant.pipeline import answerable_net as net

NOT_IN_LIBRARY = [
    "my neurologist mentioned ocrelizumab. roughly what would a year of it set us back?",
    "what would i need to tell the dentist about my interferon before a tooth pulled out",
    "how many hours after a natalizumab drip do i have to wait before driving home",
]
IN_LIBRARY = [
    "did azathioprine bring down how often people relapsed?",
    "my husband gets wobbly and weak in hot weather and it passes when he cools down, is that a known thing?",
    "what did the brain iron study find about the thalamus and disability",
]


def test_the_test_questions_are_not_in_the_labelled_set():
    texts = {t.lower() for t, _ in net.read_labelled()}
    assert not texts & {q.lower() for q in NOT_IN_LIBRARY + IN_LIBRARY}


@pytest.mark.parametrize("question", NOT_IN_LIBRARY)
def test_a_question_the_library_does_not_answer_gets_the_no_coverage_reply(assistant, question):
    turn = assistant.decide(question)
    assert turn.category == "no_coverage"
    assert not turn.citations


@pytest.mark.parametrize("question", IN_LIBRARY)
def test_a_question_the_library_answers_is_answered_with_citations(assistant, question):
    turn = assistant.decide(question)
    assert turn.category == "answer"
    assert turn.citations


def test_staff_see_the_nets_probability_and_what_it_read(assistant):
    turn = assistant.decide(NOT_IN_LIBRARY[2])
    step = next(s for s in turn.steps if s["step"] == "scope")
    assert step["decision"] == "no_coverage"
    assert 0 <= step["answerable"] < assistant.answerable.threshold
    assert set(step["signals"]) == set(net.FEATURES)

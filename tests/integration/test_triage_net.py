"""Both triage nets on the real MiniLM vectors: wordings the rules were not written from, in each style real
messages use, and their look-alikes. Messages here are written for these tests, not taken from the labelled
set the net is trained on."""

from __future__ import annotations

import pytest

from msassistant.pipeline.triage_net import Triager

# (message, the level triage must give it): each a style the rules alone miss or over-read
CASES = [
    # euphemisms for suicide, and a plan
    ("honestly i think my family would manage fine without me around, i keep thinking about ending things", "crisis"),
    ("ive started putting aside my pregabalin, a few every week, so i have enough when i decide its time", "crisis"),
    # a caregiver, third person
    ("my dad says he doesnt see the point of living anymore since the diagnosis and hes been giving his things away",
     "crisis"),
    # a long post with the red flag in the middle
    ("Hi all, long time reader. Work has been hectic and the kids have colds. Anyway since Monday I cannot see "
     "properly out of my right eye, it is like looking through frosted glass and it hurts when I look sideways. "
     "Otherwise I am fine and the fatigue is manageable.", "urgent"),
    # MS shorthand, no "MS"
    ("on tysabri 3 yrs and this week im getting words muddled and walking into door frames, my wife is worried",
     "urgent"),
    # understatement
    ("probably nothing but since yesterday lunchtime i cant feel my left foot at all and im tripping", "urgent"),
    # look-alikes: a story, the news, a general question, the past, a hypothetical
    ("we watched a documentary about a woman with ms who took her own life, it was very sad", None),
    ("my aunt saw on the news that ms can cause blindness, is that true?", None),
    ("i had a bad relapse with double vision in 2018 but it cleared up completely, could it come back?", None),
    ("what should i do if i ever get chest pain during my ocrevus infusion", None),
    # a question about something happening now is a report, not a general question
    ("is it a stroke if my dads mouth has just gone lopsided and he cant find his words", "emergency"),
    # past and present in one message: the settled part does not hide the new one
    ("the pins and needles from my relapse in march settled, but since saturday my right leg drags and wont lift",
     "urgent"),
    # text-speak from a caregiver
    ("me n my mum r worried, she hasnt been able to pee properly since thurs", "urgent"),
    # a long-settled event, asked about for the future
    ("in 2017 i had one seizure after a bad night, none since, am i allowed to drive?", None),
    # ordinary questions
    ("what are the common side effects of kesimpta injections", None),
    ("does exercise help with ms fatigue", None),
]


@pytest.fixture(scope="module")
def triager(embeddings):
    return Triager(embeddings, emergency_number="112", crisis_line="the crisis line")


@pytest.mark.parametrize("message, level", CASES)
def test_both_nets_read_what_the_rules_alone_miss_or_over_read(triager, message, level):
    tri, _ = triager(message)
    assert tri.level == level, (tri.level, tri.net, tri.score, tri.clause, tri.cues)


def test_a_learned_flag_is_explained_in_its_step(triager):
    tri, vectors = triager("ive started putting aside my pregabalin, a few every week, so i have enough when i decide its time")
    step = tri.step().to_dict()
    assert step["level"] == "crisis" and step["net"] == "learned" and step["rule"] == "learned:crisis"
    assert 0 < step["score"] <= 1 and step["clause"]
    assert "the crisis line" in tri.guidance
    assert list(vectors) == ["ive started putting aside my pregabalin, a few every week, so i have enough when i decide its time"]


def test_the_rules_still_fire_first_when_they_know_the_words(triager):
    tri, _ = triager("I want to kill myself")
    assert tri.level == "crisis" and tri.net == "rules" and tri.rule == "suicidal_thoughts"


def test_the_assistant_reuses_triages_vector_for_retrieval(fresh_assistant):
    bot = fresh_assistant()
    bot.ensure_index()
    calls = []
    real = bot.embeddings.embed_query
    bot.embeddings.embed_query = lambda text: calls.append(text) or real(text)  # noqa: E731
    try:
        reply = bot.reply("Does exercise help with MS fatigue?")
    finally:
        del bot.embeddings.embed_query
    assert reply.category == "answer"
    assert calls.count("Does exercise help with MS fatigue?") == 1  # embedded once, for triage and retrieval both

"""The reviewed MS vocabulary over the real index and model (the word lists alone: tests/unit/test_vocabulary.py)."""

import pytest


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

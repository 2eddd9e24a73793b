"""Conversations over the real index and model: follow-ups and new topics reach their own passages, and another
replica continues a conversation (the rules alone, and what holds whatever is retrieved:
tests/unit/test_conversation.py)."""

from __future__ import annotations

import pytest

from msassistant.store import LogStore
from unit.test_conversation import AZA, GUIDE, IRON, ITMTX, talk

PROMO = "004_164da9cc3357f88a.txt"


def cited_sources(reply) -> list[str]:
    return [c.source for c in reply.citations]


def passage_with(reply, source: str, phrase: str) -> bool:
    return any(c.source == source and phrase.lower() in c.passage.lower() for c in reply.citations)


@pytest.mark.parametrize("first, follow_up, source, phrase", [
    ("What did the study find about azathioprine?", "What are its side effects?", AZA, "serious side effects"),
    ("What did the study find about azathioprine?", "does the medicine upset the stomach?", AZA, "stomach"),
    ("Tell me about intrathecal methotrexate.", "Did it help people walk better?", ITMTX, "walking ability"),
    ("Tell me about intrathecal methotrexate.", "how often did they give it?", ITMTX, "every three months"),
    ("Tell me about intrathecal methotrexate.", "and what were the side effects?", ITMTX, "headaches"),
    ("My mother has secondary progressive MS and read about thalamic iron.", "what did they find?", IRON, "less iron"),
    ("What helps with balance problems?", "Is water exercise an option too?", GUIDE, "Aquatic therapy"),
    ("What are the side effects of interferon beta?", "what about fingolimod?", GUIDE, "bradycardia"),
])
def test_follow_ups_answer_from_the_earlier_topic(assistant, first, follow_up, source, phrase):
    _, reply = talk(assistant, first, follow_up)
    assert reply.category == "answer"
    assert passage_with(reply, source, phrase), [(c.source, c.passage[:80]) for c in reply.citations]
    assert "[1]" in reply.answer


@pytest.mark.parametrize("message, source, phrase", [
    ("Separate question: what exercise helps with balance?", GUIDE, "Tai Chi"),
    ("Unrelated, but how often should I have check-ups and MRI scans?", GUIDE, "every 3-6 months"),
    ("Does fingolimod need heart monitoring?", GUIDE, "ECG"),
    ("What did researchers find about iron in the thalamus?", IRON, "less iron"),
])
def test_a_new_topic_retrieves_its_own_passages(assistant, message, source, phrase):
    _, reply = talk(assistant, "What did the study find about azathioprine?", message)
    assert passage_with(reply, source, phrase)
    assert AZA not in cited_sources(reply)[:1]
    assert not any("azathioprine" in c.passage.lower() for c in reply.citations[:1])


def test_another_server_continues_the_conversation(assistant):
    """Sessions live in the database: a second assistant (another replica) with its own connection picks up
    the first one's conversation."""
    from msassistant.pipeline.assistant import Assistant

    replica = Assistant(assistant.settings, embeddings=assistant.embeddings, index=assistant.index,
                        logstore=LogStore(assistant.settings.db_url), llm=None)
    replica.suggestions.pool = assistant.follow_ups
    (first,) = talk(assistant, "Tell me about intrathecal methotrexate.")
    (second,) = talk(replica, "Did it help people walk better?", session=first.session_id)
    assert second.session_id == first.session_id
    assert passage_with(second, ITMTX, "walking ability")
    assert len(replica.logstore.history(first.session_id)) == 2


def test_it_after_an_answer_from_one_document_is_that_document(assistant):
    """The earlier answer rested on the promotional article alone: "it" is the therapy the article promotes, so
    the follow-up is answered from the article with its frame, even though the carried words ("news story
    reversing damage") name neither the therapy nor the article's claims."""
    first, second = talk(assistant, "There's a news story about reversing MS damage, what is it?",
                         "can I get on it early?")
    assert {c.source for c in first.citations} == {PROMO}
    assert second.category == "answer"
    assert passage_with(second, PROMO, "early access"), [(c.source, c.passage[:80]) for c in second.citations]
    assert "Do not change or stop your current treatment" in second.answer


def test_a_named_topic_after_a_pronoun_carries_into_the_next_turn(assistant):
    *_, last = talk(assistant, "My neighbour sent me a link about MS.", "It's about myelin repair, what does that mean?",
                    "and is there a catch?")
    assert last.category == "answer" and PROMO in cited_sources(last)


@pytest.mark.parametrize("first, message", [
    ("What are second-line MS drugs?", "who are they meant for?"),
    ("What are second-line MS drugs?", "my sister swears by them"),
    ("Does the remyelination article mention support groups?", "what do they actually offer?"),
])
def test_a_short_turn_that_leans_on_an_ms_conversation_is_never_out_of_scope(assistant, first, message):
    """Read alone, these have no health words and sit nearer the unrelated examples than the health ones."""
    reply = assistant.reply(message, session_id=assistant.reply(first).session_id)
    assert reply.category != "out_of_scope"


def test_a_short_turn_after_an_unrelated_one_is_still_unrelated(assistant):
    reply = assistant.reply("who did they play?", session_id=assistant.reply("who won the football last night").session_id)
    assert reply.category == "out_of_scope"

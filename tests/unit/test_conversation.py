"""Conversations: follow-ups resolved against earlier turns (no model), sessions kept in the log database,
and the suggested next questions (the passages follow-ups reach over the real index:
tests/integration/test_conversation.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from msassistant.pipeline.conversation import resolve, topic_words
from msassistant.pipeline.followups import FollowUps, Suggestion
from msassistant.pipeline.vocabulary import vocabulary

AZA = "002_5bd68b2e9fd4fbfd.txt"
ITMTX = "000_020e82a42c733ae6.txt"
GUIDE = "001_fa889e840cef5881.txt"
IRON = "003_5ad99458e9dfddf9.txt"


@dataclass
class Earlier:
    message: str
    resolved_query: str = ""
    topic: str = ""
    category: str = "answer"


def converse(*messages: str):
    """Resolve each message against the ones before it, as the service does; returns the resolutions."""
    vocab = vocabulary()
    history: list[Earlier] = []
    out = []
    for message in messages:
        res = resolve(message, history, vocab)
        out.append(res)
        history.append(Earlier(message, res.query, res.topic))
    return out


# ---- the rules, without an index ---------------------------------------------------------------------
@pytest.mark.parametrize("first, follow_up, topic", [
    ("What did the study find about azathioprine?", "What are its side effects?", "azathioprine"),
    ("What did the study find about azathioprine?", "Side effects?", "azathioprine"),
    ("What did the study find about azathioprine?", "Does the medicine cause stomach problems?", "azathioprine"),
    ("What did the study find about azathioprine?", "Is it better than interferon beta?", "azathioprine"),
    ("What did the study find about azathioprine?", "Any other risks?", "azathioprine"),
    ("Tell me about intrathecal methotrexate.", "Did it help people walk better?", "methotrexate"),
    ("Tell me about intrathecal methotrexate.", "how long did they follow people?", "methotrexate"),
    ("Tell me about intrathecal methotrexate.", "and for progressive MS?", "methotrexate"),
    ("Tell me about intrathecal methotrexate.", "How often was that given?", "methotrexate"),
    ("Tell me about intrathecal methotrexate.", "What did the study look at?", "methotrexate"),
    ("What helps with balance problems?", "Is water exercise an option too?", "balance"),
    ("What helps with balance problems?", "What about yoga?", "balance"),
    ("What are the side effects of interferon beta?", "Can they cause liver problems?", "interferon"),
    # caregivers speak of the person they look after, and of "it" for the treatment
    ("My husband was offered azathioprine.", "Would that help my husband?", "azathioprine"),
    ("My husband was offered azathioprine.", "Can my mum take it with her other pills?", "azathioprine"),
    ("My wife is on fingolimod.", "is this drug safe for her heart?", "fingolimod"),
    ("My wife is on fingolimod.", "what should I watch for with it?", "fingolimod"),
    # "they" before any word of its own, in a short question: the earlier topic, whatever verb follows
    ("What are second-line MS drugs?", "who are they meant for?", "line"),
    ("Does the article mention support groups?", "what do they actually offer?", "support"),
])
def test_follow_ups_carry_the_earlier_topic(first, follow_up, topic):
    _, res = converse(first, follow_up)
    assert res.follow_up, res
    assert topic in res.topic
    assert topic in res.query  # what is searched for names the topic


@pytest.mark.parametrize("first, message, own", [
    ("What did the study find about azathioprine?", "Separate question: what exercise helps with balance?", "balance"),
    ("What did the study find about azathioprine?", "Different question - how often should I have an MRI?", "mri"),
    ("What did the study find about azathioprine?", "New question: is it safe to exercise in the heat?", "heat"),
    ("What did the study find about azathioprine?", "Unrelated, but does smoking make MS worse?", "smoking"),
    ("What did the study find about azathioprine?", "Does fingolimod need heart monitoring?", "fingolimod"),
    ("What did the study find about azathioprine?", "What helps with depression in MS?", "depression"),
    ("What did the study find about azathioprine?", "My wife gets really tired, what can help her?", "tired"),
    ("What did the study find about azathioprine?", "What did researchers find about iron in the thalamus?", "thalamus"),
    ("What did the study find about azathioprine?", "What is MS?", "MS"),
    ("What did the study find about azathioprine?", "Is it normal to feel tired after a relapse?", "relapse"),
    ("Tell me about intrathecal methotrexate.", "I get pins and needles in my hands when it's hot out", "hot"),
    ("Tell me about intrathecal methotrexate.", "What can they do for my husband's balance?", "balance"),
    ("Tell me about intrathecal methotrexate.", "Does the study on thalamic iron apply to children?", "thalamic"),
])
def test_a_new_topic_does_not_drag_the_old_one(first, message, own):
    _, res = converse(first, message)
    assert not res.follow_up, res
    assert res.carried == ""
    earlier = converse(first)[0].topic
    assert not set(earlier.split()) & set(res.query.lower().split()), res.query
    assert own in res.topic


def test_an_announced_switch_is_not_searched_for():
    _, res = converse("What did the study find about azathioprine?", "Separate question: what exercise helps with balance?")
    assert res.cue == "switch"
    assert res.query == "what exercise helps with balance?"
    assert "separate" not in res.topic


def test_a_new_drug_keeps_the_question_but_not_the_old_drug():
    _, _, res = converse("What did the study find about azathioprine?", "What are its side effects?", "What about fingolimod?")
    assert res.follow_up and res.topic == "fingolimod"
    assert "azathioprine" not in res.query and "side effects" in res.query


def test_topics_chain_through_several_follow_ups():
    *_, last = converse("Tell me about intrathecal methotrexate.", "Did it help people walk better?",
                        "how long did they follow people?", "What were its side effects?")
    assert last.follow_up and "methotrexate" in last.query


def test_a_turn_that_refers_back_and_names_its_own_topic_passes_both_on():
    """'It's about myelin repair': the pronoun leans on the first turn, the words it names are what the next
    turn leans on."""
    *_, second, third = converse("My neighbour sent me a link about MS.", "It's about myelin repair, what does that mean?",
                                 "and are there side effects?")
    assert second.follow_up and {"myelin", "repair"} <= set(second.topic.split())
    assert third.follow_up and "myelin" in third.query


def test_without_history_nothing_is_carried():
    (res,) = converse("What are its side effects?")
    assert not res.follow_up and res.query == "What are its side effects?"


def test_topic_words_name_drugs_by_their_generic_name():
    words = topic_words("Does Gilenya slow my heart?", vocabulary())
    assert words.drugs == ["fingolimod"] and "fingolimod" in words.words and "gilenya" not in words.words


def test_suggestions_skip_what_was_asked_and_what_was_shown():
    pool = FollowUps([
        Suggestion("What are the risks of azathioprine?", AZA, (f"{AZA}#1",), ("Serious side effects.",)),
        Suggestion("Does azathioprine reduce relapses?", AZA, (f"{AZA}#1",), ("Fewer relapses.",)),
        Suggestion("What did researchers find about thalamic iron?", IRON, (f"{IRON}#1",), ("Less iron.",)),
        Suggestion("Why is ECG monitoring needed with fingolimod?", GUIDE, (f"{GUIDE}#5",), ("Bradycardia.",)),
    ])
    picks = pool.pick(category="answer", asked=["What are the risks of azathioprine?"], shown=["Fewer relapses."],
                      hit_chunks=[f"{AZA}#1", f"{GUIDE}#5"], topic="azathioprine")
    assert "What are the risks of azathioprine?" not in picks  # already asked
    assert "Does azathioprine reduce relapses?" not in picks  # its answer was just shown
    assert picks[0] == "Why is ECG monitoring needed with fingolimod?"  # nearest by retrieval
    assert pool.pick(category="out_of_scope", asked=[], shown=[], hit_chunks=[]) == []


# ---- the whole pipeline, on the fake embedder: what holds whatever is retrieved ---------------------
def talk(assistant, *messages: str, session: str | None = None):
    replies = []
    for message in messages:
        reply = assistant.reply(message, session)
        session = reply.session_id
        replies.append(reply)
    return replies


def test_the_turn_log_keeps_the_resolved_query_and_topic(assistant):
    first, second = talk(assistant, "What did the study find about azathioprine?", "What are its side effects?")
    assert first.session_id == second.session_id
    turns = assistant.logstore.history(second.session_id)
    assert [t.topic for t in turns] == ["azathioprine", "azathioprine"]
    assert "azathioprine" in turns[1].resolved_query and "side effects" in turns[1].resolved_query
    resolve_step = next(s for s in turns[1].steps if s["step"] == "resolve")
    assert resolve_step["follow_up"] and resolve_step["carried"] == "azathioprine"


@pytest.mark.parametrize("session", ["client-chosen-0001", "zzzzzzzzzzzzzzzz", "bad id!", "x" * 500])
def test_an_id_the_server_never_issued_starts_a_new_session(assistant, session):
    talk(assistant, "What did the study find about azathioprine?")  # another person's conversation is in the log
    (reply,) = talk(assistant, "What are its side effects?", session=session)
    assert reply.session_id != session
    assert assistant.logstore.history(session) == []  # the id the client named was not created
    (turn,) = assistant.logstore.history(reply.session_id)  # a new conversation: nothing earlier to continue
    assert turn.topic == "" and not next(s for s in turn.steps if s["step"] == "resolve")["follow_up"]


def test_an_issued_id_continues_and_new_sessions_get_random_ids(assistant):
    first, second = talk(assistant, "What did the study find about azathioprine?", "What are its side effects?")
    assert second.session_id == first.session_id
    assert len(assistant.logstore.history(first.session_id)) == 2
    ids = [assistant.reply("Is fatigue common in MS?").session_id for _ in range(3)] + [first.session_id]
    assert len(set(ids)) == len(ids)
    for session in ids:  # URL-safe base64: 6 bits a character, at least 128 random bits
        assert re.fullmatch(r"[A-Za-z0-9_-]+", session) and len(session) * 6 >= 128


def test_a_deleted_session_is_not_continued(assistant):
    (first,) = talk(assistant, "What did the study find about azathioprine?")
    assert assistant.logstore.delete_session(first.session_id) == 1
    (again,) = talk(assistant, "What are its side effects?", session=first.session_id)
    assert again.session_id != first.session_id and assistant.logstore.history(first.session_id) == []


def test_a_session_that_cannot_be_read_starts_a_new_one(assistant, monkeypatch):
    (first,) = talk(assistant, "What did the study find about azathioprine?")

    def broken(*args, **kwargs):
        raise RuntimeError("the database is unavailable")

    monkeypatch.setattr(assistant.logstore, "history", broken)
    (again,) = talk(assistant, "What are its side effects?", session=first.session_id)
    assert again.session_id != first.session_id


def test_follow_ups_after_an_answer_are_answerable(assistant):
    (reply,) = talk(assistant, "What did the study find about azathioprine?")
    assert 2 <= len(reply.follow_ups) <= 3
    assert len(set(reply.follow_ups)) == len(reply.follow_ups)
    for question in reply.follow_ups:
        check = assistant.reply(question)
        assert check.category == "answer" and check.citations, question


def test_follow_ups_for_no_coverage_show_what_the_library_covers(assistant):
    (reply,) = talk(assistant, "What is the success rate of ocrelizumab compared with rituximab?")
    assert reply.category == "no_coverage"
    assert 2 <= len(reply.follow_ups) <= 3
    for question in reply.follow_ups:
        assert assistant.reply(question).category == "answer", question


def test_no_follow_ups_out_of_scope_or_on_any_urgent_reply(assistant):
    (reply,) = talk(assistant, "What is the best pizza place in Chicago?")
    assert reply.category == "out_of_scope" and reply.follow_ups == []
    (crisis,) = talk(assistant, "I don't want to live anymore.")
    assert crisis.category == "urgent" and crisis.follow_ups == []
    (urgent,) = talk(assistant, "my left arm went numb and weak since this morning and it is not getting better")
    assert urgent.category == "urgent" and urgent.follow_ups == []


def test_follow_ups_do_not_repeat_the_conversation(assistant):
    replies = talk(assistant, "Tell me about intrathecal methotrexate.", "Did it help people walk better?")
    asked = {"Tell me about intrathecal methotrexate.", "Did it help people walk better?"}
    for reply in replies:
        assert not asked & set(reply.follow_ups)


def test_a_follow_up_after_out_of_scope_is_not_dragged_into_it(assistant):
    _, reply = talk(assistant, "What is the best pizza place in Chicago?", "What are its side effects?")
    resolve_step = assistant.logstore.history(reply.session_id)[-1].steps
    assert not next(s for s in resolve_step if s["step"] == "resolve")["follow_up"]


@pytest.mark.parametrize("message", [
    "my husband gets wobbly and weak in hot weather and it passes when he cools down, is that a known thing?",
    "does the cold weather make spasticity worse?",
    "i watched the football in the sun and my vision went blurry for a while afterwards, heat thing?",
])
def test_a_health_message_with_an_unrelated_topic_word_is_in_scope(assistant, message):
    (reply,) = talk(assistant, message)
    assert reply.category != "out_of_scope"


@pytest.mark.parametrize("message", ["whats the weather forecast for tomorrow", "who won the football last night"])
def test_the_unrelated_topic_words_still_decline_a_message_without_health_words(assistant, message):
    (reply,) = talk(assistant, message)
    assert reply.category == "out_of_scope"


@pytest.mark.parametrize("first, message", [
    ("What are second-line MS drugs?", "who are they meant for?"),
    ("Does the remyelination article mention support groups?", "what do they actually offer?"),
])
def test_a_short_turn_that_leans_on_an_ms_conversation_is_not_declined_as_unrelated(assistant, first, message):
    _, reply = talk(assistant, first, message)
    assert reply.category != "out_of_scope"



@pytest.mark.parametrize("message", ["my neighbour reckons those are awful", "my sister swears by them"])
def test_a_short_remark_on_an_ms_conversation_is_read_as_part_of_it(assistant, message):
    """Not a follow-up (it names its own words), but it leans on the talk about MS: never "out of scope"."""
    res = converse("What are second-line MS drugs?", message)[1]
    assert res.in_conversation and not res.follow_up
    _, reply = talk(assistant, "What are second-line MS drugs?", message)
    assert reply.category != "out_of_scope"  # with the real model too: tests/integration/test_conversation.py
    assert not converse("What are second-line MS drugs?", "how many tablespoons are in a cup of flour")[1].in_conversation

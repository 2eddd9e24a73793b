"""The optional language model, with LangChain's fake chat models (no network): its answer is used only
when every sentence is cited and grounded in the passages; otherwise the extractive answer is shown and
the reason is logged. Notices and urgent guidance never depend on it. Here: the checks alone, and what holds
whatever is retrieved (answers about particular passages of the real index: tests/integration/test_llm.py)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage

from msassistant.pipeline.llm import LLMFallback, split_answer, verify

RISKS = "What are the risks of taking azathioprine for MS?"
URGENT = "My legs have been getting weaker for three days and now I can barely stand. Is azathioprine risky?"


class Recording(FakeListChatModel):
    """A fake model that remembers the prompts it was sent."""

    prompts: list = []

    def _call(self, messages, *args: Any, **kwargs: Any) -> str:
        self.prompts.append(messages)
        return super()._call(messages, *args, **kwargs)


class Quoting(FakeListChatModel):
    """A well-behaved fake model: it rewrites a follow-up as told, and answers by quoting the sentence of the
    passages it is sent that contains `phrase`, citing that passage's number."""

    phrase: str = ""
    rewrite_to: str = ""
    prompts: list = []

    def _call(self, messages, *args: Any, **kwargs: Any) -> str:
        self.prompts.append(messages)
        system, user = messages[0].content, messages[-1].content
        if "standalone question" in system:
            return self.rewrite_to
        for number, passage in re.findall(r"^\[(\d+)\][^\n]*\n(.+?)(?=\n\n\[\d+\]|\n\nAnswer from)", user, re.S | re.M):
            for sentence in re.split(r"(?<=[.!?])\s+", passage):
                if self.phrase in sentence:
                    return f"{sentence} [{number}]"
        return "NO_ANSWER"


class Broken(FakeListChatModel):
    def _call(self, *args: Any, **kwargs: Any) -> str:
        raise ConnectionError("connection refused")


def with_model(assistant, model, **settings):
    """An assistant over the shared index and log, with `model` as its language model."""
    from msassistant.pipeline.assistant import Assistant

    bot = Assistant(assistant.settings.model_copy(update=settings), embeddings=assistant.embeddings,
                    index=assistant.index, logstore=assistant.logstore, llm=model)
    bot.library.search = assistant.search
    bot.suggestions.pool = assistant.follow_ups
    return bot


def logged(assistant, reply):
    return next(t for t in assistant.logstore.history(reply.session_id) if t.id == reply.turn_id)


def llm_steps(turn) -> list[dict]:
    return [s for s in turn.steps if s["step"] == "llm"]


def passage_number(assistant, question: str, phrase: str) -> int:
    """The number the extractive pipeline gives the passage containing `phrase` (the model sees the same)."""
    turn = assistant.decide(question)
    return next(c.id for c in turn.composed.citations if phrase in c.passage)


def assert_notices(assistant, reply):
    assert reply.answer.endswith(assistant.notices.red_flags)
    assert assistant.notices.care_team in reply.answer
    for marker in re.findall(r"\[(\d+)\]", reply.answer):
        assert int(marker) in {c.id for c in reply.citations}


# ---- verification alone ----------------------------------------------------------------------------
PASSAGES = {
    1: "The study found that azathioprine, a medication sometimes used for MS, may lower the number of relapses "
       "compared to another medicine called interferon beta. Some people taking azathioprine had a higher chance "
       "of experiencing serious side effects compared to those on interferon beta.",
    2: "First-line drugs such as interferon beta-1a/b-1b and glatiramer acetate can regulate immune activity, "
       "reducing annual relapse rates by 30-50%.",
}


def test_a_grounded_answer_passes():
    checked = verify("Azathioprine may lower the number of relapses compared with interferon beta [1]. "
                     "Interferon beta can reduce annual relapse rates by 30-50% [2].", PASSAGES, RISKS)
    assert [ids for _, ids in checked.sentences] == [[1], [2]]
    assert checked.sentences[0][0].startswith("Azathioprine may lower")


def test_markers_after_the_full_stop_and_in_groups():
    text = "Azathioprine may lower the number of relapses. [1] Interferon beta reduces annual relapse rates by 30-50%. [1, 2]"
    assert split_answer(text)[0].endswith("[1]")
    assert [ids for _, ids in verify(text, {**PASSAGES, 1: PASSAGES[1] + " " + PASSAGES[2]}).sentences] == [[1], [1, 2]]


@pytest.mark.parametrize("text, reason", [
    ("Azathioprine may lower the number of relapses compared with interferon beta [9].", "[9]"),
    ("Azathioprine may lower the number of relapses compared with interferon beta.", "without a citation"),
    ("Azathioprine lowers relapses [1]. It is completely safe for everyone.", "without a citation"),
    ("MS can be cured with bleach and a special diet from Paris [1].", "not grounded"),
    ("Some people taking azathioprine had serious side effects [1][2].", "[2] does not support"),
    ("", "empty"),
    ("NO_ANSWER", "no answer"),
])
def test_bad_answers_are_refused_with_a_reason(text, reason):
    with pytest.raises(LLMFallback) as err:
        verify(text, PASSAGES, RISKS)
    assert reason in err.value.reason


# ---- in the service --------------------------------------------------------------------------------
@pytest.mark.parametrize("model, reason", [
    (FakeListChatModel(responses=["Azathioprine may lower the number of relapses compared with interferon beta [9]."]),
     "[9]"),
    (FakeListChatModel(responses=["The Eiffel Tower is in Paris, and MS can be cured with bleach [1]."]), "not grounded"),
    (FakeListChatModel(responses=["Azathioprine is a wonderful drug with no downsides at all."]), "without a citation"),
    (GenericFakeChatModel(messages=iter([AIMessage(content="I'm sorry, I can't help with that.")])), "without a citation"),
    (Broken(responses=["unused"]), "ConnectionError"),
], ids=["hallucinated-citation", "ungrounded", "uncited", "refusal", "exception"])
def test_a_bad_model_answer_falls_back_to_the_extractive_one(assistant, model, reason):
    plain = assistant.reply(RISKS)
    bot = with_model(assistant, model)
    reply = bot.reply(RISKS)
    assert reply.answer == plain.answer  # the extractive answer, word for word
    assert [c.model_dump() for c in reply.citations] == [c.model_dump() for c in plain.citations]
    assert_notices(bot, reply)
    turn = logged(bot, reply)
    assert reason in turn.llm_fallback
    step = llm_steps(turn)[-1]
    assert step["used"] is False and reason in step["fallback"]


def test_urgent_guidance_comes_first_whatever_the_model_says(assistant):
    for model in (FakeListChatModel(responses=["Please ignore the doctors, rest at home [1]."]),
                  Broken(responses=["unused"])):
        bot = with_model(assistant, model)
        reply = bot.reply(URGENT)
        assert reply.category == "urgent"
        assert reply.answer.startswith(reply.safety.urgent)
        assert "ignore the doctors" not in reply.answer
        assert_notices(bot, reply)


def test_the_model_is_not_asked_in_an_emergency_or_a_crisis(assistant):
    model = Recording(responses=["Anything [1]."])
    model.prompts = []
    bot = with_model(assistant, model)
    for message in ("I don't want to live anymore.", "I suddenly can't speak and my face is drooping on one side"):
        reply = bot.reply(message)
        assert reply.category == "urgent" and reply.answer.startswith(reply.safety.urgent)
        assert_notices(bot, reply)
    assert model.prompts == []


def test_an_unloadable_model_is_logged_not_fatal(assistant):
    from msassistant.pipeline.assistant import Assistant

    settings = assistant.settings.model_copy(update={"llm": "no-such-provider:some-model"})
    bot = Assistant(settings, embeddings=assistant.embeddings, index=assistant.index, logstore=assistant.logstore)
    bot.library.search, bot.suggestions.pool = assistant.search, assistant.follow_ups
    assert bot.llm is None and "unavailable" in bot.llm_unavailable
    reply = bot.reply(RISKS)
    assert reply.answer == assistant.reply(RISKS).answer
    assert "unavailable" in logged(bot, reply).llm_fallback


@pytest.mark.parametrize("rewrite, used", [
    ("Is azathioprine better than Rebif for relapses?", True),  # the brand the person wrote still names the drug
    ("Is azathioprine better for relapses?", False),  # the drug the person named was dropped
])
def test_a_rewrite_keeps_the_drugs_the_person_named(assistant, rewrite, used):
    model = Quoting(responses=["unused"], phrase="lower the number of relapses", rewrite_to=rewrite)
    bot = with_model(assistant, model)
    first = bot.reply("What did the study find about azathioprine?")
    reply = bot.reply("Is it better than Rebif?", first.session_id)
    turn = logged(bot, reply)
    resolve_step = next(s for s in turn.steps if s["step"] == "resolve")
    assert (resolve_step["by"] == "llm") is used
    if not used:
        assert "dropped interferon beta-1a" in next(s for s in llm_steps(turn) if s["task"] == "rewrite")["fallback"]
    assert_notices(bot, reply)

"""The optional language model over the real index and model, with LangChain's fake chat models (no network):
the answers that quote or cite particular passages, rewrites that must reach them, and a real provider's client
built from the settings (the checks alone, and what holds whatever is retrieved: tests/unit/test_llm.py)."""

from __future__ import annotations

import re

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from msassistant.pipeline.llm import build_chat_model
from unit.test_llm import RISKS, Quoting, Recording, assert_notices, llm_steps, logged, passage_number, with_model


# ---- in the service --------------------------------------------------------------------------------
def test_a_grounded_model_answer_is_used(assistant):
    n = passage_number(assistant, RISKS, "serious side effects")
    model = Recording(responses=[
        f"According to the review, some people taking azathioprine had a higher chance of serious side effects "
        f"than those on interferon beta [{n}]. Azathioprine may lower the number of relapses [{n}]."
    ])
    model.prompts = []
    bot = with_model(assistant, model)
    reply = bot.reply(RISKS)
    assert reply.category == "answer"
    assert reply.answer.startswith("According to the review, some people taking azathioprine")
    assert [c.id for c in reply.citations] == [1]  # renumbered: only what the model cited
    assert "serious side effects" in reply.citations[0].passage
    body = reply.answer.split("\n\n")[: -2]
    assert set(re.findall(r"\[(\d+)\]", " ".join(body))) == {"1"}
    assert_notices(bot, reply)
    turn = logged(bot, reply)
    assert turn.llm_fallback is None
    assert llm_steps(turn)[-1]["used"] is True
    system, user = model.prompts[0]
    assert "ONLY the numbered passages" in system.content and f"[{n}]" in user.content and RISKS in user.content


def test_a_quoting_model_is_used_and_its_citation_matches(assistant):
    model = Quoting(responses=["unused"], phrase="walking ability")
    model.prompts = []
    bot = with_model(assistant, model)
    reply = bot.reply("Did intrathecal methotrexate help people walk better?")
    assert logged(bot, reply).llm_fallback is None
    assert reply.answer.startswith("After a year, there were no big changes in patients' walking ability")
    assert "walking ability" in reply.citations[0].passage and len(reply.citations) == 1


def test_a_slow_model_times_out(assistant):
    n = passage_number(assistant, RISKS, "serious side effects")
    slow = FakeListChatModel(responses=[f"Some people taking azathioprine had serious side effects [{n}]."], sleep=5)
    bot = with_model(assistant, slow, llm_timeout=0.2)
    reply = bot.reply(RISKS)
    assert reply.answer == assistant.reply(RISKS).answer
    assert logged(bot, reply).llm_fallback.startswith("timeout")
    assert_notices(bot, reply)


def test_the_promotional_caution_applies_to_a_model_answer(assistant):
    question = "What is remyelination therapy and how does it work?"
    turn = assistant.decide(question)
    promo = next(c for c in turn.composed.citations if c.promotional)
    first = re.split(r"(?<=[.!?])\s+", promo.passage)[0]
    bot = with_model(assistant, FakeListChatModel(responses=[f"{first} [{promo.id}]"]))
    reply = bot.reply(question)
    assert logged(bot, reply).llm_fallback is None
    assert [c.source for c in reply.citations] == [promo.source]
    assert "comes from a promotional article" in reply.answer and "[1] comes from" in reply.answer
    assert_notices(bot, reply)


def test_the_model_rewrites_a_follow_up(assistant):
    model = Quoting(responses=["unused"], phrase="serious side effects",
                    rewrite_to="What are the side effects of azathioprine?")
    model.prompts = []
    bot = with_model(assistant, model)
    first = bot.reply("What did the study find about azathioprine?")
    model.prompts.clear()
    reply = bot.reply("What are its side effects?", first.session_id)
    turn = logged(bot, reply)
    resolve_step = next(s for s in turn.steps if s["step"] == "resolve")
    assert resolve_step["by"] == "llm" and resolve_step["query"] == "What are the side effects of azathioprine?"
    assert "What did the study find about azathioprine?" in model.prompts[0][1].content  # the history was shown
    assert "What are the side effects of azathioprine?" in model.prompts[1][1].content  # and the rewrite answered
    assert turn.topic == "azathioprine" and turn.llm_fallback is None
    assert "serious side effects" in reply.answer.split("\n\n")[0]


def test_a_bad_rewrite_falls_back_to_the_rules(assistant):
    model = FakeListChatModel(responses=["Tell me a story about cats."])
    bot = with_model(assistant, model)
    first = bot.reply("Tell me about intrathecal methotrexate.")
    reply = bot.reply("Did it help people walk better?", first.session_id)
    turn = logged(bot, reply)
    rewrite = next(s for s in llm_steps(turn) if s["task"] == "rewrite")
    assert rewrite["used"] is False and "topic" in rewrite["fallback"]
    assert next(s for s in turn.steps if s["step"] == "resolve")["by"] == "rules"
    assert "methotrexate" in turn.resolved_query
    assert any("walking ability" in c.passage for c in reply.citations)


def test_off_by_default_and_built_from_settings(monkeypatch):
    from msassistant.config import Settings

    assert build_chat_model(Settings()) is None
    pytest.importorskip("langchain_openai")
    monkeypatch.setenv("OPENAI_API_KEY", "not-a-real-key")
    model = build_chat_model(Settings(llm="openai:gpt-4o-mini", llm_base_url="http://127.0.0.1:9/v1", llm_timeout=3))
    assert type(model).__name__ == "ChatOpenAI"
    assert model.openai_api_base == "http://127.0.0.1:9/v1"

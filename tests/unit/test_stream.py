"""Streaming in process: the pieces `Assistant.stream` yields, urgent guidance first and before retrieval, spell
the reply (the HTTP stream from a real server: tests/integration/test_stream.py)."""

from __future__ import annotations

URGENT = "My legs have been getting weaker for three days and now I can barely stand. Could fingolimod cause that?"


def test_urgent_guidance_is_yielded_before_retrieval(assistant, monkeypatch):
    """In process: the first piece comes out of stream() before the search has been asked anything."""
    search = assistant.search
    calls = []
    real = search.search
    monkeypatch.setattr(search, "search", lambda *a, **k: calls.append(a) or real(*a, **k))
    stream = assistant.stream(URGENT)
    kind, first = next(stream)
    assert kind == "delta" and calls == []
    rest = list(stream)
    assert calls  # the information after the guidance was retrieved afterwards
    reply = rest[-1][1]
    assert first == reply.safety.urgent
    assert first + "".join(text for kind, text in rest if kind == "delta") == reply.answer


def test_stream_and_reply_give_the_same_answer(assistant):
    *pieces, (kind, reply) = list(assistant.stream("Does smoking make MS worse?"))
    assert kind == "final"
    assert "".join(text for _, text in pieces) == reply.answer == assistant.reply("Does smoking make MS worse?").answer

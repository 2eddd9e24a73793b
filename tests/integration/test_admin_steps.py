"""The steps of a turn as staff read them in the review console: readable titles and fields by default, raw JSON
one click away, and no logged row (old, new or malformed) that stops the page."""

from __future__ import annotations

import re
from html import unescape

import pytest

from msassistant.admin.steps import LABELS, TITLES, StepView, TurnSteps, describe, describe_step
from .test_admin import add_turn, console  # noqa: F401 - the console fixture and its turn helper
from .test_postgres import db_url  # noqa: F401 - the SQLite/PostgreSQL fixture

HITS = [{"id": f"00{i}_abc.txt#{i}", "score": round(0.05 - i / 1000, 4)} for i in range(20)]

# one logged step of every kind the pipeline writes, with the title staff should see
KNOWN = [
    ({"step": "triage", "level": "urgent", "rule": "vision_loss_or_double_vision"},
     "Triage: urgent — vision loss or double vision"),
    ({"step": "triage", "level": None, "rule": None}, "Triage: no red flag"),
    ({"step": "resolve", "follow_up": True, "cue": "anaphora:its", "carried": "azathioprine", "topic": "azathioprine",
      "query": "What are its side effects? azathioprine", "by": "rules"},
     "Follow-up: yes, carried 'azathioprine' (pronoun 'its')"),
    ({"step": "resolve", "follow_up": False, "cue": "own topic", "carried": "", "topic": "fatigue",
      "query": "Is fatigue common?", "by": "rules"}, "Follow-up: no (names its own topic)"),
    ({"step": "resolve", "follow_up": True, "cue": "ellipsis:what about (new drug)", "carried": "side effects",
      "topic": "fingolimod", "query": "What about fingolimod? side effects", "by": "rules"},
     "Follow-up: yes, carried 'side effects' (continues the last question with 'what about', new drug)"),
    ({"step": "llm", "task": "rewrite", "used": False, "model": "ollama:llama3", "fallback": "rewrite: dropped natalizumab"},
     TITLES["llm.rewrite.fallback"]),
    ({"step": "llm", "task": "answer", "used": True, "model": "ollama:llama3", "sentences": 3,
      "citations": ["002_a.txt#0", "004_b.txt#2"]}, "The model wrote the answer: 3 sentences from 2 passages"),
    ({"step": "llm", "task": "answer", "used": False, "model": "ollama:llama3", "fallback": "timeout after 20 s"},
     TITLES["llm.answer.fallback"]),
    ({"step": "scope", "decision": "out_of_scope", "reason": "off-topic request"}, "Scope: out of scope — off-topic request"),
    ({"step": "scope", "decision": "no_coverage", "missing_drugs": [], "unknown_words": ["zolgensma", "wibble"]},
     "Scope: no coverage — unknown words 'zolgensma', 'wibble'"),
    ({"step": "scope", "decision": "no_coverage", "missing_drugs": ["ocrelizumab"], "unknown_words": []},
     "Scope: no coverage — nothing in the library on ocrelizumab"),
    ({"step": "scope", "decision": "personal_decision"}, TITLES["scope.personal_decision"]),
    ({"step": "expand", "added": ["fatigue", "tiredness"], "drugs": []}, "Expanded the search with 'fatigue', 'tiredness'"),
    ({"step": "expand", "added": [], "drugs": []}, "Searched as written: no words added"),
    ({"step": "retrieve", "mode": "hybrid", "top_similarity": 0.6123, "hits": HITS},
     "Retrieved 20 passages (hybrid), best similarity 0.61"),
    ({"step": "focus", "topic_weight": 0.3, "passages": ["002_a.txt#0", "002_a.txt#1"]},
     "Chose sentences from 2 passages about the earlier topic (its words count 0.3 of their weight)"),
    ({"step": "compose", "sentences": 3, "citations": ["002_a.txt#0", "004_b.txt#2"]}, "Composed 3 sentences from 2 passages"),
    ({"step": "compose", "sentences": 1, "citations": ["002_a.txt#0"]}, "Composed 1 sentence from 1 passage"),
    ({"step": "compose", "sentences": 0, "citations": []}, TITLES["compose.none"]),
    ({"step": "follow_ups", "suggested": ["Is fatigue common in MS?", "What helps with MS fatigue?"]},
     "Suggested next questions: Is fatigue common in MS? · What helps with MS fatigue?"),
    ({"step": "follow_ups", "suggested": []}, "No next questions suggested"),
    ({"step": "triage", "level": None, "rule": None, "overruled": "new_or_worse_symptoms", "ordinary": 0.97,
      "cues": ["past", "resolved"]},
     "Triage: no red flag — rule new or worse symptoms explained away by the learned net (ordinary: 0.97)"),
]


# ---- the pure rendering --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("step,title", KNOWN, ids=[f"{s['step']}-{i}" for i, (s, _) in enumerate(KNOWN)])
def test_every_kind_has_a_readable_title(step, title):
    [view] = describe([step])
    assert view == describe_step(step) and view.kind == step["step"]
    assert view.title == title
    assert "{" not in view.title and "_" not in view.title.replace("'", "")
    assert all(isinstance(label, str) and isinstance(value, str) for label, value in view.fields)


def test_fields_are_labelled_in_words():
    resolve = describe_step(KNOWN[2][0])
    assert dict(resolve.fields) == {"Query searched": "What are its side effects? azathioprine",
                                    "Topic": "azathioprine", "Question built by": "rules"}
    triage = describe_step(KNOWN[0][0])
    assert dict(triage.fields) == {"Rule id": "vision_loss_or_double_vision"}  # the id, to find the rule in the file
    fallback = describe_step(KNOWN[7][0])
    assert dict(fallback.fields) == {"Model": "ollama:llama3", "Why not used": "timeout after 20 s"}
    hits = dict(describe_step(KNOWN[14][0]).fields)[LABELS["hits"]]
    assert hits.startswith("000_abc.txt#0 (0.05); 001_abc.txt#1 (0.049)") and hits.endswith("and 12 more")


def test_new_fields_of_a_known_kind_are_shown_after_its_own():
    step = {"step": "triage", "level": "urgent", "rule": "new_or_worse_symptoms", "net": "semantic", "score": 0.8123,
            "nearest": {"case": "legs numb since yesterday", "similarity": 0.71}, "checked": True}
    view = describe_step(step)
    assert view.title == "Triage: urgent — new or worse symptoms"
    assert view.fields == (("Rule id", "new_or_worse_symptoms"), ("Net", "semantic"), ("Score", "0.8123"),
                           ("Nearest", "case legs numb since yesterday, similarity 0.71"), ("Checked", "yes"))


def test_unknown_kinds_are_shown_field_by_field():
    view = describe_step({"step": "rerank", "model": "cross-encoder", "kept_passages": ["a#0", "b#1"], "took_ms": 12})
    assert view.kind == "rerank" and view.title == "Step: rerank"
    assert view.fields == (("Model", "cross-encoder"), ("Kept passages", "a#0; b#1"), ("Took ms", "12"))
    assert describe_step({"step": "sentence_retrieval"}).title == "Step: sentence retrieval"


@pytest.mark.parametrize("steps", [
    None, [], "not a list", 42, {"step": "triage", "level": "urgent"}, [None, 3, "text", ["a", "list"]],
    [{}, {"level": "urgent"}, {"step": None}, {"step": ""}, {"step": 7}, {"step": ["triage"]}, {"step": {"a": 1}}],
    [{"step": "triage"}, {"step": "resolve"}, {"step": "llm"}, {"step": "scope"}, {"step": "expand"},
     {"step": "retrieve"}, {"step": "focus"}, {"step": "compose"}, {"step": "follow_ups"}],
    [{"step": "retrieve", "mode": "dense", "top_similarity": "high", "hits": "none"},
     {"step": "retrieve", "hits": [1, None, {"score": 2}, {"id": "x"}]},
     {"step": "compose", "sentences": "three", "citations": 5}, {"step": "compose", "sentences": True},
     {"step": "llm", "task": "answer", "used": True, "sentences": None},
     {"step": "llm", "task": ["answer"], "used": "maybe"},
     {"step": "scope", "decision": ["no_coverage"], "unknown_words": 3},
     {"step": "scope", "decision": "no_coverage", "unknown_words": 3, "missing_drugs": 5},
     {"step": "expand", "added": 3, "drugs": {"x": 1}}, {"step": "focus", "passages": 4},
     {"step": "follow_ups", "suggested": "one question"}, {"step": "follow_ups", "suggested": {"q": 1}},
     {"step": "resolve", "follow_up": "yes", "cue": 5, "carried": ["x"]},
     {"step": "triage", "level": ["urgent"], "rule": {"id": 1}}],
])
def test_old_and_malformed_rows_render_without_error(steps):
    views = describe(steps)
    assert all(isinstance(v, StepView) and isinstance(v.kind, str) and v.title for v in views)
    assert all(isinstance(label, str) and isinstance(value, str) for v in views for label, value in v.fields)
    TurnSteps.of(steps)  # the raw view too


def test_malformed_rows_say_what_they_are():
    assert describe(None) == []
    assert [v.title for v in describe(["text", {}, {"level": "urgent"}])] == [
        "Unreadable step", "Step without a name", "Step without a name"]
    view = describe_step({"step": "compose", "sentences": "three"})
    assert view.title == TITLES["malformed"].format(kind="compose") and view.fields == (("Sentences", "three"),)


def test_long_values_are_cut():
    view = describe_step({"step": "note", "text": "x" * 5000, "items": list(range(100))})
    text, items = dict(view.fields)["Text"], dict(view.fields)["Items"]
    assert len(text) <= 600 and text.endswith("…")
    assert items == "0; 1; 2; 3; 4; 5; 6; 7; and 92 more"


def test_raw_json_keeps_the_logged_steps():
    steps = TurnSteps.of([KNOWN[0][0], {"step": "rerank", "note": "ü"}])
    assert '"rule": "vision_loss_or_double_vision"' in steps.raw and '"note": "ü"' in steps.raw
    assert TurnSteps.of(None).raw == "[]"


# ---- the conversation page -------------------------------------------------------------------------------------------
def _section(html: str, turn_id: str) -> str:
    start = html.index(f'id="turn-{turn_id}"')
    return html[start:html.index("</article>", start)]


def test_conversation_shows_step_titles_by_default_and_raw_json_in_details(console):  # noqa: F811
    session = "steps-view-0001"
    add_turn(console.store, session, "What is azathioprine?")
    turn = add_turn(console.store, session, "And its side effects?", steps=[step for step, _ in KNOWN] + [
        {"step": "rerank", "kept": 5}, "an old row", {"level": "urgent"}])
    html = console.signed_in().get(f"/admin/conversations/{session}").text
    part = _section(html, turn.id)
    start = part.index('<details class="steps-raw"')  # the raw steps (a citation's flag form is a <details> too)
    end = part.index("</details>", start)
    details = part[start:end]
    shown = part[:start] + part[end:]
    for _, title in KNOWN:
        assert unescape(title) in unescape(shown), title  # visible without opening anything
    assert "Step: rerank" in shown and "Unreadable step" in shown and "Step without a name" in shown
    assert "<dt>Query searched</dt><dd>What are its side effects? azathioprine</dd>" in shown
    assert "vision_loss_or_double_vision" in shown  # the rule id, as a field
    assert '&#34;rule&#34;: &#34;vision_loss_or_double_vision&#34;' in details and "<summary>" in details
    assert "&#34;" not in shown  # no raw JSON outside the details
    assert re.search(r"<h3>Why the answer came out this way</h3>\s*<ol class=\"steps\">", part)


def test_conversation_page_with_no_or_broken_steps(console):  # noqa: F811
    session = "steps-view-0002"
    empty = add_turn(console.store, session, "Hello", steps=[])
    broken = add_turn(console.store, session, "Again", steps=[{"step": "retrieve", "hits": "oops", "top_similarity": "x"}])
    response = console.signed_in().get(f"/admin/conversations/{session}")
    assert response.status_code == 200
    assert "No steps were recorded for this turn." in _section(response.text, empty.id)
    assert unescape(TITLES["malformed"].format(kind="retrieve")) in unescape(_section(response.text, broken.id))

"""The evaluation command's reading of case files and its figures, on replies made up for the test."""

import json

import pytest

from msassistant.evaluate.cases import Outcome, figures, read_cases, run, table


def reply(category, citations=(), answer="x [1]"):
    return {"category": category, "answer": answer, "citations": list(citations),
            "safety": {"urgent": None, "care_team": "", "red_flags": ""}}


def write(tmp_path, rows, name="c.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_a_bad_line_names_its_file_and_line(tmp_path):
    path = write(tmp_path, [{"id": "a", "turns": ["hi"]}, {"id": "b", "turns": []}])
    with pytest.raises(ValueError, match=r"c.jsonl:2"):
        read_cases([path])
    with pytest.raises(ValueError, match="unknown category"):
        read_cases([write(tmp_path, [{"turns": ["x"], "category": "maybe"}], "d.jsonl")])


def test_figures_count_hits_categories_and_false_alarms(tmp_path):
    cases = read_cases([write(tmp_path, [
        {"id": "1", "turns": ["q"], "category": "answer", "sources": ["g.txt"], "phrases": ["flu-like"],
         "expect_any": ["flu-like"]},
        {"id": "2", "turns": ["q"], "category": "no_coverage"},
        {"id": "3", "turns": ["q", "q2"], "category": "answer", "sources": ["g.txt"], "phrases": ["walk"]},
        {"id": "4", "turns": ["q"], "category": "urgent"},
    ])])
    good = {"source": "g.txt", "passage": "It can cause flu-like symptoms.", "kind": "treatment guide"}
    promo = {"source": "p.txt", "passage": "Walk again!", "kind": "news/promotional article"}
    replies = {"1": [reply("answer", [good], "It can cause flu-like symptoms. [1]")],
               "2": [reply("answer", [good])],
               "3": [reply("urgent"), reply("answer", [promo, good])],
               "4": [reply("answer")]}
    outcomes = [Outcome(c, replies[c.id], [0.01] * len(replies[c.id])) for c in cases]
    f = figures(outcomes)
    assert f["category"] == {"n": 2, "of": 4, "pct": 50.0}
    assert f["hit@1"]["n"] == 1 and f["hit@3"]["n"] == 1  # case 3's gold passage lacks its phrase
    assert f["key_fact"]["n"] == 1
    assert f["unanswerable_answered"]["n"] == 1 and f["no_coverage_right"]["n"] == 0
    assert f["urgent_recall"] == {"n": 0, "of": 1, "pct": 0.0}
    assert f["false_alarms"]["n"] == 1  # case 3's first turn
    assert f["promotional_leads"]["n"] == 1
    assert "| truth \\ reply |" in table(outcomes)


def test_a_failed_request_is_a_failed_case_not_a_crash(tmp_path):
    cases = read_cases([write(tmp_path, [{"id": "1", "turns": ["q"], "category": "answer"}])])

    def send(message, session):
        raise ConnectionError("refused")

    [outcome] = run(cases, send, progress=False)
    assert outcome.category == "error" and outcome.problems()

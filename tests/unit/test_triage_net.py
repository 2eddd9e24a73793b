"""The learned triage net's pure parts: units, look-alike cues, the decision over given probabilities, the
model file checks, and the evaluation's counting. The net on real MiniLM vectors is in tests/integration."""

from __future__ import annotations

import json

import numpy as np
import pytest

from msassistant.evaluate.triage import Case, correct, measure, read_cases
from msassistant.pipeline import triage_net as net

THRESHOLDS = {"emergency": 0.5, "crisis": 0.5, "urgent": 0.5}


def probs(*rows: tuple[float, float, float, float]) -> np.ndarray:
    return np.asarray(rows, dtype=np.float32)


def test_a_short_message_is_one_unit_a_longer_one_is_the_whole_and_each_clause():
    texts, parts = net.units("My arm went numb")
    assert texts == ["My arm went numb"] and len(parts) == 1
    texts, parts = net.units("The tingling settled last month, but since yesterday my left hand is numb.")
    assert texts[0].startswith("The tingling") and len(texts) == len(parts) == 3
    assert parts[1].clause.startswith("the tingling settled") and "since yesterday" in parts[2].clause
    assert parts[2].sentence == parts[1].sentence  # both clauses are of one sentence


@pytest.mark.parametrize("text, cue", [
    ("what should i do if i ever get double vision", "hypothetical"),
    ("suppose my wife has a seizure at night", "hypothetical"),
    ("my aunt read in the paper that ms can cause seizures", "report"),
    ("in the film the main character wanted to die", "report"),
    ("the book im reading has a character who cuts herself", "report"),
    ("no fever, no rash, just tired", "negated"),
    ("ive never had a seizure", "negated"),
    ("jcv came back negative again", "negated"),
    ("i had optic neuritis back in 2019", "past"),
    ("it cleared up after the steroids", "resolved"),
])
def test_look_alike_cues(text, cue):
    assert cue in net.look_alikes(text, None, False)


@pytest.mark.parametrize("text", [
    "since this morning my husband has been numb down his left side",  # a caregiver's report: family never silences
    "i cant see out of my right eye since tuesday",
    "ive written letters to my kids just in case",  # "in case" is not a hypothetical
    "i cant imagine going on like this",
])
def test_reports_of_now_have_no_cue_that_silences_them(text):
    assert not net.look_alikes(text, None, False) & {"hypothetical", "report", "negated", "past", "resolved"}


def test_a_clause_over_its_threshold_raises_its_level():
    _, parts = net.units("since yesterday my left hand is numb and clumsy")
    finding = net.decide_probabilities(THRESHOLDS, probs((0.1, 0.0, 0.0, 0.9)), parts)
    assert finding.level == "urgent" and finding.score == pytest.approx(0.9)


def test_past_silences_urgent_but_never_crisis():
    _, parts = net.units("back in 2019 i lost the sight in one eye")
    assert net.decide_probabilities(THRESHOLDS, probs((0.1, 0.0, 0.0, 0.9)), parts).level is None
    _, parts = net.units("ive wanted to die for years")
    assert "chronic" in net.look_alikes(parts[0].clause, None, False)
    assert net.decide_probabilities(THRESHOLDS, probs((0.1, 0.0, 0.9, 0.0)), parts).level == "crisis"


def test_a_story_silences_crisis():
    _, parts = net.units("in the film the main character wanted to die")
    finding = net.decide_probabilities(THRESHOLDS, probs((0.1, 0.0, 0.9, 0.0)), parts)
    assert finding.level is None and finding.silenced == ("crisis:report",)


def test_mixed_time_the_settled_clause_is_silenced_the_new_one_is_not():
    texts, parts = net.units("The tingling in my feet settled last month, but since yesterday my left hand is numb")
    assert len(parts) == 3
    scores = probs((0.2, 0.0, 0.0, 0.8), (0.3, 0.0, 0.0, 0.7), (0.1, 0.0, 0.0, 0.9))
    finding = net.decide_probabilities(THRESHOLDS, scores, parts)
    assert finding.level == "urgent" and "since yesterday" in finding.clause


def test_the_more_urgent_net_wins_and_a_story_explains_a_rule_away():
    _, parts = net.units("my left arm is weak since this morning")
    learned = net.Finding("emergency", 0.9, "x")
    assert net.combined("urgent", learned, parts) == ("emergency", "learned")
    assert net.combined("crisis", net.Finding(None, 0.1, None), parts) == ("crisis", "rules")
    _, story = net.units("in the drama last night her face drooped and she slurred")
    assert net.combined("emergency", net.Finding(None, 0.1, None), story) == (None, None)


def test_a_stale_model_is_refused_with_how_to_retrain(tmp_path):
    shipped = json.loads(net.resource_path(*net.MODEL_FILE).read_text(encoding="utf-8"))
    label = shipped["model_label"]
    assert net.TriageNet.load(label).model_label == label  # the shipped model matches the shipped data
    stale = tmp_path / "model.json"
    stale.write_text(json.dumps({**shipped, "data_sha256": "0" * 64}))
    with pytest.raises(net.StaleTriageModel, match="msassistant triage train"):
        net.TriageNet.load(label, path=stale)
    with pytest.raises(net.StaleTriageModel, match="embedding model"):
        net.TriageNet.load("another-model")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(net.StaleTriageModel, match="cannot be read"):
        net.TriageNet.load(label, path=broken)


def test_eval_reads_both_case_formats(tmp_path):
    cases = tmp_path / "cases.jsonl"
    cases.write_text("\n".join([
        json.dumps({"text": "I cant breathe", "level": "emergency"}),
        json.dumps({"text": "what is ms", "level": None}),
        json.dumps({"id": "c1", "turns": ["hello", "since yesterday I cannot see"], "category": "urgent"}),
        "",
    ]))
    rows = read_cases(cases)
    assert [(c.level, c.text) for c in rows] == [("emergency", "I cant breathe"), ("none", "what is ms"),
                                                 ("none", "hello"), ("any", "since yesterday I cannot see")]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{oops\n')
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        read_cases(bad)


def test_eval_counts_recall_false_alarms_and_the_confusion_table():
    cases = [Case("a", "emergency"), Case("b", "crisis"), Case("c", "urgent"), Case("d", "none"), Case("e", "none")]
    said = {"a": ("emergency", "rules"), "b": ("emergency", "learned"), "c": ("none", ""), "d": ("urgent", "learned"),
            "e": ("none", "")}
    report = measure(cases, said.__getitem__)
    d = report.as_dict()
    assert d["recall"]["emergency"]["caught"] == 1 and d["recall"]["crisis"]["caught"] == 1  # emergency covers crisis
    assert d["recall"]["urgent"]["caught"] == 0 and d["false_alarms"] == {"flagged": 1, "of": 2, "pct": 50.0}
    assert report.confusion[("none", "urgent")] == 1 and "| urgent | 0/1 | 0.0% |" in report.table()
    assert correct("any", "urgent") and not correct("emergency", "crisis")

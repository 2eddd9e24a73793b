"""The learned triage net's pure parts: units, look-alike cues, the decision over given probabilities, the
model file checks, and the evaluation's counting. The net on real MiniLM vectors is in tests/integration."""

from __future__ import annotations

import json

import numpy as np
import pytest

from msassistant.evaluate.triage import Case, correct, measure, read_cases
from msassistant.pipeline import triage_net as net
from msassistant.resources import path as resource_path

THRESHOLDS = {"emergency": 0.5, "crisis": 0.5, "urgent": 0.5}


def probs(*rows: tuple[float, float, float, float]) -> np.ndarray:
    return np.asarray(rows, dtype=np.float32)


def test_a_short_message_is_one_unit_a_longer_one_is_the_whole_and_each_clause():
    parts = net.units("My arm went numb")
    assert [u.text for u in parts] == ["My arm went numb"]
    parts = net.units("The tingling settled last month, but since yesterday my left hand is numb.")
    assert parts[0].text.startswith("The tingling") and len(parts) == 3
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
    ("my face has been numb since tuesday", "now"),
    ("is it a stroke if his face dropped just now", "now"),
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


def test_a_clause_over_its_threshold_raises_its_level_and_staff_see_its_cues():
    parts = net.units("since yesterday my left hand is numb and clumsy")
    finding = net.decide_probabilities(THRESHOLDS, probs((0.1, 0.0, 0.0, 0.9)), parts)
    assert finding.level == "urgent" and finding.score == pytest.approx(0.9) and "now" in finding.cues


def test_the_most_urgent_level_wins_and_nothing_under_its_threshold_fires():
    parts = net.units("my arm is weak")
    assert net.decide_probabilities(THRESHOLDS, probs((0.1, 0.5, 0.0, 0.9)), parts).level == "emergency"
    finding = net.decide_probabilities(THRESHOLDS, probs((0.6, 0.1, 0.1, 0.2)), parts)
    assert finding.level is None and finding.score == pytest.approx(0.2)


def test_mixed_time_the_new_clause_is_the_one_reported():
    parts = net.units("The tingling in my feet settled last month, but since yesterday my left hand is numb")
    assert len(parts) == 3
    scores = probs((0.2, 0.0, 0.0, 0.8), (0.3, 0.0, 0.0, 0.7), (0.1, 0.0, 0.0, 0.9))
    finding = net.decide_probabilities(THRESHOLDS, scores, parts)
    assert finding.level == "urgent" and "since yesterday" in finding.clause
    assert "resolved" in net.cue_sets(parts)[1] and "now" in finding.cues


def toy_net(cue_weight: dict[str, float]) -> net.TriageNet:
    """A net whose only weights are on the cues: urgent unless a cue pushes it down."""
    k, d = len(net.CLASSES), 4
    cue = np.zeros((k, len(net.CUES)), dtype=np.float32)
    for name, w in cue_weight.items():
        cue[net.CLASSES.index("urgent"), net.CUES.index(name)] = w
    return net.TriageNet(np.zeros((k, d), np.float32), np.zeros((net.TEXT_FEATURES, k), np.float32), cue,
                         np.array([0.0, -5.0, -5.0, 2.0], np.float32), THRESHOLDS, "toy", "0")


def test_the_cues_are_features_the_net_weighs():
    model = toy_net({"past": -6.0, "now": 6.0})
    vec = np.zeros((1, 4), np.float32)
    assert net.decide(model, vec, net.units("my vision in one eye is dim")).level == "urgent"
    assert net.decide(model, vec, net.units("back in 2019 my vision in one eye went dim")).level is None
    assert net.decide(model, vec, net.units("back in 2019 my eye went dim, and right now its dim again")).level == "urgent"


def test_the_weights_survive_the_file_round_trip():
    rng = np.random.default_rng(0)
    k, d = len(net.CLASSES), 8
    coef = rng.normal(size=(k, d + net.TEXT_FEATURES + len(net.CUES))).astype(np.float32)
    coef[:, d + 10:d + net.TEXT_FEATURES] = 0  # most n-grams are never seen
    model = net.TriageNet.from_weights(coef, rng.normal(size=k), THRESHOLDS, "m", "h")
    again = net.TriageNet.from_dict(json.loads(json.dumps(model.to_dict())))
    parts = net.units("since monday i cant see properly")
    vec = rng.normal(size=(1, d)).astype(np.float32)
    sets = net.cue_sets(parts)
    assert np.allclose(model.probabilities(vec, parts, sets), again.probabilities(vec, parts, sets), atol=2e-3)
    assert again.thresholds == THRESHOLDS and again.model_label == "m"


def test_rules_flags_are_explained_away_by_a_story_and_crisis_never_by_a_hypothetical():
    parts = net.units("my left arm is weak since this morning")
    learned = net.Finding("emergency", 0.9, "x")
    assert net.combined("urgent", learned, parts) == ("emergency", "learned")
    assert net.combined("crisis", net.Finding(None, 0.1, None), parts) == ("crisis", "rules")
    story = net.units("in the drama last night her face drooped and she slurred")
    assert net.combined("emergency", net.Finding(None, 0.1, None), story) == (None, None)
    film = net.units("in the film the main character wanted to die")
    assert net.combined("crisis", net.Finding(None, 0.1, None), film) == (None, None)
    hypothetical = net.units("what if i ended it all, would anyone notice")
    assert net.combined("crisis", net.Finding(None, 0.1, None), hypothetical) == ("crisis", "rules")


def test_a_rule_is_overruled_only_when_the_whole_message_and_every_clause_read_ordinary():
    thresholds = {**THRESHOLDS, "overrule": 0.9}
    parts = net.units("I lost the sight in my left eye back in 2019. It cleared up with steroids, and I'm fine now.")
    assert len(parts) > 2
    ordinary = probs(*[(0.97, 0.01, 0.01, 0.01)] * len(parts))
    finding = net.decide_probabilities(thresholds, ordinary, parts)
    assert finding.level is None and finding.ordinary == pytest.approx(0.97, abs=1e-3)
    assert net.rule_overruled("urgent", finding, thresholds) and net.rule_overruled("emergency", finding, thresholds)
    assert net.combined("urgent", finding, parts, thresholds) == (None, None)
    # A crisis rule is never overruled, however ordinary the message reads.
    assert net.combined("crisis", finding, parts, thresholds) == ("crisis", "rules")
    # Without an overrule threshold (a model trained without one), or just under it, the rule stands.
    assert net.combined("urgent", finding, parts, THRESHOLDS) == ("urgent", "rules")
    assert net.combined("urgent", finding, parts, {**THRESHOLDS, "overrule": 0.98}) == ("urgent", "rules")

    assert set(finding.context) >= {"past", "resolved"}

    # Without a look-alike cue anywhere in the message, nothing can be explained away, however ordinary it reads.
    plain = net.units("My left leg has been weak and dragging for three days and I keep tripping.")
    finding = net.decide_probabilities(thresholds, probs(*[(0.99, 0.0, 0.0, 0.01)] * len(plain)), plain)
    assert finding.context == () and net.combined("urgent", finding, plain, thresholds) == ("urgent", "rules")

    # One clause that does not read ordinary keeps the rule's flag: a red flag buried in a long ordinary post.
    finding = net.decide_probabilities(thresholds, ordinary, parts)
    buried = ordinary.copy()
    buried[2] = (0.6, 0.0, 0.0, 0.4)
    finding = net.decide_probabilities(thresholds, buried, parts)
    assert finding.level is None and finding.ordinary == pytest.approx(0.6, abs=1e-3)
    assert net.combined("urgent", finding, parts, thresholds) == ("urgent", "rules")


def test_staff_see_which_rule_the_learned_net_overruled():
    from msassistant.pipeline.triage import Triage

    step = Triage(None, None, None, score=0.02, overruled="new_or_worse_symptoms", ordinary=0.97).step().to_dict()
    assert step["level"] is None and step["overruled"] == "new_or_worse_symptoms" and step["ordinary"] == 0.97
    assert "overruled" not in Triage(None, None, None).step().to_dict()  # left out when nothing was overruled


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
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**shipped, "text_features": 1024}))
    with pytest.raises(net.StaleTriageModel, match="not this version"):
        net.TriageNet.load(label, path=other)
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


def test_thresholds_are_set_for_recall_then_the_fewest_false_alarms_with_crisis_fixed():
    from msassistant.evaluate import triage as tr

    texts = [f"message number {i}" for i in range(40)]
    levels = ["urgent"] * 10 + ["none"] * 30
    cases = [Case(t, lv) for t, lv in zip(texts, levels)]
    parts = [net.units(t) for t in texts]
    units = tr.Units(np.zeros((40, 2), np.float32), [(i, i + 1) for i in range(40)], parts,
                     [net.cue_sets(p) for p in parts])
    # red flags score 0.55..0.99 for urgent; one ordinary message scores 0.75, the rest 0.1
    scores = [0.55 + 0.05 * i for i in range(10)] + [0.75] + [0.1] * 29
    c, thresholds = tr.choose(cases, units, {1.0: [probs_row(s) for s in scores]}, [None] * 40)
    assert c == 1.0 and thresholds["crisis"] == tr.CRISIS_THRESHOLD
    # Catching every red flag needs urgent at 0.5 or below, which flags the ordinary one at 0.75 too: recall
    # comes first.
    assert thresholds["urgent"] == min(tr.GRID["urgent"])

    # With a less sure red flag gone, the same recall is reached at 0.8, which no longer flags it.
    scores = [0.8 + 0.02 * i for i in range(10)] + [0.75] + [0.1] * 29
    _, thresholds = tr.choose(cases, units, {1.0: [probs_row(s) for s in scores]}, [None] * 40)
    assert thresholds["urgent"] == 0.8


def probs_row(urgent: float) -> np.ndarray:
    return np.asarray([[1 - urgent, 0.0, 0.0, urgent]], dtype=np.float32)


def test_a_model_of_an_older_version_says_once_how_to_retrain(tmp_path):
    data = json.loads(resource_path(*net.MODEL_FILE).read_text(encoding="utf-8"))
    data["cues"] = data["cues"][:-1]
    (tmp_path / "model.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(net.StaleTriageModel) as raised:
        net.TriageNet.load(data["model_label"], tmp_path / "model.json", expected_hash=data["data_sha256"])
    assert str(raised.value).count("msassistant triage train") == 1

"""Red-flag triage: a labelled set of patient and caregiver messages, plus the contract of triage()."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from msassistant.pipeline import triage as triage_module
from msassistant.config import Settings
from msassistant.pipeline.triage import Triage, load_rules, triage

CASES_FILE = Path(__file__).parent / "data" / "triage_cases.jsonl"
RULES_FILE = Path(triage_module.__file__).parents[1] / "rules" / "red_flags.toml"
LEVELS = {"emergency", "urgent", "crisis"}

DEFAULTS = Settings.model_fields
EMERGENCY = DEFAULTS["emergency_number"].default
CRISIS = DEFAULTS["crisis_line"].default


def load_cases() -> list[dict]:
    rows = []
    for n, line in enumerate(CASES_FILE.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            row = json.loads(line)
            assert set(row) == {"text", "level", "note"}, f"line {n}: {row}"
            assert row["level"] in LEVELS | {None}, f"line {n}: {row['level']}"
            rows.append(row)
    return rows


CASES = load_cases()


def run(text: str, emergency_number: str = EMERGENCY, crisis_line: str = CRISIS) -> Triage:
    return triage(text, emergency_number=emergency_number, crisis_line=crisis_line)


# --- the labelled set --------------------------------------------------------------------------------


def test_case_set_is_large_and_balanced():
    levels = [c["level"] for c in CASES]
    assert len(CASES) >= 100
    assert levels.count(None) >= 35
    for level in LEVELS:
        assert levels.count(level) >= 10, level
    texts = [c["text"] for c in CASES]
    assert len(texts) == len(set(texts)), "duplicate messages in the case set"


def test_recall_and_precision():
    caught = flagged = correct_flags = exact = 0
    misses, false_alarms, wrong_level = [], [], []
    positives = [c for c in CASES if c["level"] is not None]
    for case in CASES:
        result = run(case["text"])
        if result.level == case["level"]:
            exact += 1
        if result.level is not None:
            flagged += 1
            if case["level"] is not None:
                correct_flags += 1
            else:
                false_alarms.append((case["text"], result.rule))
        if case["level"] is not None:
            if result.level is not None:
                caught += 1
                if result.level != case["level"]:
                    wrong_level.append((case["text"], case["level"], result.level, result.rule))
            else:
                misses.append((case["text"], case["level"]))

    recall = caught / len(positives)
    precision = correct_flags / flagged if flagged else 0.0
    accuracy = exact / len(CASES)
    summary = (
        f"triage on {len(CASES)} messages ({len(positives)} red flags, {len(CASES) - len(positives)} look-alikes): "
        f"recall {recall:.1%}, precision {precision:.1%}, exact level {accuracy:.1%}"
    )
    print("\n" + summary)
    for label, items in (("missed", misses), ("false alarm", false_alarms), ("wrong level", wrong_level)):
        for item in items:
            print(f"  {label}: {item}")
    detail = f"{summary}; missed={misses}; false alarms={false_alarms}; wrong level={wrong_level}"
    assert recall == 1.0, detail
    assert precision >= 0.95, detail
    assert accuracy >= 0.90, detail


@pytest.mark.parametrize("case", [c for c in CASES if c["level"] is not None], ids=lambda c: c["text"][:50])
def test_each_red_flag_is_caught(case):
    result = run(case["text"])
    assert result.level is not None, f"missed ({case['note']}): {case['text']}"


# --- the Triage contract -----------------------------------------------------------------------------


def test_no_flag_has_no_guidance():
    result = run("What are the signs of a relapse?")
    assert result == Triage(level=None, guidance=None, rule=None)


@pytest.mark.parametrize(
    "text, level",
    [
        ("no fever but I can't breathe", "emergency"),
        ("I had a relapse last year and now my vision went dark today", "urgent"),
        ("I don't want to live anymore", "crisis"),
    ],
)
def test_flag_has_guidance_and_rule(text, level):
    result = run(text)
    assert result.level == level
    assert result.guidance and result.rule


def test_emergency_guidance_contains_emergency_number():
    result = run("my husband is having a seizure and it won't stop")
    assert result.level == "emergency"
    assert EMERGENCY in result.guidance
    assert result.guidance.startswith("This could be an emergency.")


def test_crisis_guidance_contains_crisis_line():
    result = run("I want to end it all")
    assert result.level == "crisis"
    assert CRISIS in result.guidance
    assert "care team" in result.guidance


def test_urgent_guidance_points_to_the_care_team():
    result = run("my legs have been getting weaker for three days")
    assert result.level == "urgent"
    assert result.guidance.startswith("Please contact your MS care team")


def test_custom_numbers_flow_through():
    emergency = "the number 555-0100"
    crisis = "the Helpline at 555-0199"
    for text, expected in (("I can't breathe", emergency), ("I want to kill myself", crisis)):
        result = run(text, emergency_number=emergency, crisis_line=crisis)
        assert expected in result.guidance
        assert EMERGENCY not in result.guidance and CRISIS not in result.guidance
        assert "{" not in result.guidance


def test_guidance_start_is_stable_text():
    """The answer begins with the guidance, so its first 40 characters must not depend on settings."""
    rs = load_rules()
    for level, template in rs.guidance.items():
        assert "{" not in template[:40], level
        a = triage_module.render(level, "", emergency_number="A", crisis_line="B", rs=rs)
        b = triage_module.render(level, "", emergency_number="XYZ 1", crisis_line="XYZ 2", rs=rs)
        assert a[:40] == b[:40] == template[:40]


def test_guidance_is_short_and_plain():
    rs = load_rules()
    for level, template in rs.guidance.items():
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", template) if s]
        assert len(template) <= 400, level
        assert max(len(s.split()) for s in sentences) <= 20, level


def test_apostrophes_and_case():
    for text in ("I can\u2019t breathe", "I can't breathe", "I CANT BREATHE", "i cannot breathe"):
        assert run(text).level == "emergency", text


def test_deterministic():
    text = "Since starting my new medication I have a high fever and chills"
    assert {run(text) for _ in range(3)} == {run(text)}


def test_empty_message():
    assert run("").level is None
    assert run("   ").level is None


# --- the rules file -----------------------------------------------------------------------------------


def test_rules_file_loads():
    data = tomllib.loads(RULES_FILE.read_text(encoding="utf-8"))
    assert set(data["guidance"]) == LEVELS
    rs = load_rules()
    assert len(rs.rules) == len(data["rule"]) >= 15
    assert {r.level for r in rs.rules} == LEVELS


def test_every_rule_has_id_level_and_source():
    data = tomllib.loads(RULES_FILE.read_text(encoding="utf-8"))
    ids = [r.get("id") for r in data["rule"]]
    assert all(ids) and len(ids) == len(set(ids))
    for rule in data["rule"]:
        assert rule.get("level") in LEVELS, rule.get("id")
        assert str(rule.get("source", "")).strip(), rule.get("id")
        assert rule.get("match"), rule.get("id")


def test_guidance_placeholders():
    data = tomllib.loads(RULES_FILE.read_text(encoding="utf-8"))
    assert "{emergency_number}" in data["guidance"]["emergency"]
    assert "{emergency_number}" in data["guidance"]["urgent"]
    assert "{crisis_line}" in data["guidance"]["crisis"]
    for text in list(data["guidance"].values()) + [r.get("extra", "") for r in data["rule"]]:
        assert set(re.findall(r"\{(\w+)\}", text)) <= {"emergency_number", "crisis_line"}, text


def test_bad_rules_are_rejected(tmp_path):
    good = RULES_FILE.read_text(encoding="utf-8")
    broken = {
        "no source": re.sub(r'(?m)^source = ".*"$', 'source = ""', good, count=1),
        "bad level": good.replace('level = "emergency"', 'level = "soon"', 1),
        "unknown group": good.replace("match = ['@seizure_words'", "match = ['@no_such_group'", 1),
    }
    for name, text in broken.items():
        assert text != good, name
        path = tmp_path / f"{name}.toml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ValueError):
            load_rules(path)


def _variants(text: str) -> list[str]:
    return [text, f"I have MS. {text}", f"{text} I have MS.", f"{text}\nThanks for listening"]


def test_quick_pre_check_never_changes_a_decision():
    """Each rule is tried only when its phrases occur in some clause; without that pre-check every decision is
    the same, wherever in the message (first, last, between other sentences) the phrase stands."""
    from dataclasses import replace

    rules = load_rules()
    slow = replace(rules, rules=tuple(replace(r, match_any=None) for r in rules.rules))
    assert any(r.match_any is not None for r in rules.rules)
    texts = [c["text"] for c in load_cases()]
    for text in [v for t in texts for v in _variants(t)]:
        fast_rule, slow_rule = triage_module.classify(text, rules), triage_module.classify(text, slow)
        assert (fast_rule and fast_rule.id) == (slow_rule and slow_rule.id), text

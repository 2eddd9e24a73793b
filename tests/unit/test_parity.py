"""The parity report of the embedding backends: each eval figure compared with torch's, within one case."""

from benchmarks import parity


def _cases(category: int, key_fact: int) -> dict:
    rate = lambda n, of: {"n": n, "of": of, "pct": round(100 * n / of, 1)}  # noqa: E731
    figures = {k: rate(0, 10) for k in parity.CASE_FIGURES}
    figures.update(category=rate(category, 100), key_fact=rate(key_fact, 50), noise={"n": 0, "of": 0, "pct": None})
    return figures


def _triage(crisis: int, flagged: int) -> dict:
    return {"cases": 100, "recall": {"crisis": {"caught": crisis, "of": 40, "pct": None}},
            "false_alarms": {"flagged": flagged, "of": 60, "pct": None}}


def test_each_figure_is_judged_within_one_case_of_torch():
    figs = {"torch": {"dev": _cases(90, 40), "triage heldout": _triage(38, 5)},
            "onnx": {"dev": _cases(90, 40), "triage heldout": _triage(38, 5)},
            "onnx-int8": {"dev": _cases(91, 38), "triage heldout": _triage(37, 7)}}
    rows = {(r["set"], r["figure"]): r for r in parity.compare(figs)}
    assert ("dev", "noise") not in rows  # a figure with no cases is not compared
    assert rows[("dev", "category")]["within_one"] == {"onnx": True, "onnx-int8": True}
    assert rows[("dev", "key_fact")]["within_one"] == {"onnx": True, "onnx-int8": False}
    assert rows[("dev", "key_fact")]["onnx-int8"] == "38/50"
    assert rows[("triage heldout", "recall crisis")]["within_one"]["onnx-int8"] is True
    assert rows[("triage heldout", "false alarms")]["within_one"]["onnx-int8"] is False

    text = parity.markdown({"date": "today", "cosines": {"onnx": {"eval questions": {
        "n": 3, "min": 0.99, "p1": 0.99, "median": 1.0}}}, "figures": list(rows.values())})
    assert "onnx: parity holds" in text
    assert "onnx-int8: parity does not hold (more than one case apart: dev key_fact, triage heldout false alarms)" in text

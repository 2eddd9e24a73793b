"""Triage: train the learned net, and measure both nets on any labelled case file.

    msassistant triage train                      # rules/triage/train.jsonl -> rules/triage/model.json
    msassistant eval triage FILE.jsonl            # recall per level, false alarms, a confusion table

Case files: one JSON object per line, either a triage case ({"text", "level": emergency | crisis |
urgent | null}) or a conversation case of the shared eval format ({"turns": [...], "category": ...}),
where only category "urgent" counts as a red flag (any level) and every turn's message is triaged.

Training never sees rules/triage/heldout*.jsonl. The regularisation, the emergency and urgent thresholds and
the overrule threshold (how sure the learned net must be that a message is ordinary to explain a rule's
emergency or urgent flag away) are chosen on out-of-fold predictions over the training split (stratified
5-fold): the fewest false alarms that keep the recall of emergency and of urgent within RECALL_TOLERANCE of
the best reached.
The crisis threshold is fixed (CRISIS_THRESHOLD), and a crisis rule is never overruled. Held-out figures are
reported as they come.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from ..pipeline import triage as rules_net
from ..pipeline import triage_net as net
from ..resources import path as resource_path

RECALL_TOLERANCE = 0.01  # how far below the best out-of-fold recall of emergency and of urgent the thresholds may go
# Crisis is asymmetric: its threshold is fixed, not tuned, so a crisis reading the net finds more likely
# than not always fires, and the false alarms it costs are paid willingly (they get a warm message with the
# crisis line). Only the emergency and urgent thresholds are tuned.
CRISIS_THRESHOLD = 0.5
GRID = {"emergency": (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98),
        "urgent": (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98),
        # How sure the learned net must be that the whole message and each clause are ordinary to explain a
        # rule's emergency or urgent flag away, in a message with a look-alike cue (None: never).
        "overrule": (0.8, 0.9, 0.95, 0.98, None)}
C_VALUES = (2.0, 8.0, 32.0)
FOLDS = 5
SEED = 7
ORDER = ("emergency", "crisis", "urgent", "none")


@dataclass
class Case:
    text: str
    level: str  # emergency | crisis | urgent | none; "any" for a red flag of unknown level
    id: str = ""


def read_cases(path: Path) -> list[Case]:
    """Cases from a file in either format; a bad line is an error naming its line number."""
    out: list[Case] = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if "turns" in row:
                level = "any" if row.get("category") == "urgent" else "none"
                out += [Case(str(t), level, f"{row.get('id', n)}#{i}") for i, t in enumerate(row["turns"])]
                if level == "any" and len(row["turns"]) > 1:  # a conversation: the red flag is in its last turn
                    for c in out[-len(row["turns"]):-1]:
                        c.level = "none"
            else:
                out.append(Case(str(row["text"]), row.get("level") or "none", str(row.get("id", n))))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{n}: not a triage case ({exc})") from exc
    return out


# ---- measuring -------------------------------------------------------------------------------------
def correct(truth: str, got: str) -> bool:
    """A red flag is caught when it gets its own guidance or a stronger one: any level for urgent, crisis
    or emergency for crisis (emergency guidance also says to call now), emergency for emergency."""
    if truth == "any":
        return got != "none"
    return {"urgent": got != "none", "crisis": got in ("crisis", "emergency"), "emergency": got == "emergency",
            "none": got == "none"}[truth]


@dataclass
class Report:
    n: int
    recall: dict[str, tuple[int, int]]  # level -> (caught, of)
    false_alarms: tuple[int, int]  # (flagged, of the messages with no red flag)
    confusion: Counter = field(default_factory=Counter)  # (truth, got) -> count
    by_net: Counter = field(default_factory=Counter)  # which net raised each flag
    misses: list[tuple[str, str, str]] = field(default_factory=list)  # (truth, got, text)

    def as_dict(self) -> dict:
        def pct(a: int, b: int) -> float | None:
            return round(100 * a / b, 1) if b else None

        return {"cases": self.n,
                "recall": {k: {"caught": a, "of": b, "pct": pct(a, b)} for k, (a, b) in self.recall.items()},
                "false_alarms": {"flagged": self.false_alarms[0], "of": self.false_alarms[1],
                                 "pct": pct(*self.false_alarms)},
                "by_net": dict(self.by_net)}

    def table(self) -> str:
        """The report as Markdown: recall per level, false alarms, and truth against what triage said."""
        d = self.as_dict()
        lines = ["| level | caught | recall |", "|---|---|---|"]
        for level, r in d["recall"].items():
            lines.append(f"| {level} | {r['caught']}/{r['of']} | {r['pct']}% |")
        fa = d["false_alarms"]
        lines.append(f"| no red flag: false alarms | {fa['flagged']}/{fa['of']} | {fa['pct']}% |")
        truths = [t for t in ("emergency", "crisis", "urgent", "any", "none") if any(k[0] == t for k in self.confusion)]
        lines += ["", "| truth \\ triage | " + " | ".join(ORDER) + " |", "|---" * (len(ORDER) + 1) + "|"]
        for t in truths:
            lines.append(f"| {t} | " + " | ".join(str(self.confusion[(t, g)]) for g in ORDER) + " |")
        return "\n".join(lines)


def measure(cases: Sequence[Case], decide: Callable[[str], tuple[str, str]]) -> Report:
    """`decide(text)` -> (level or "none", the net that raised it or "")."""
    levels = [lv for lv in ("emergency", "crisis", "urgent", "any") if any(c.level == lv for c in cases)]
    caught = Counter()
    confusion, by_net, misses = Counter(), Counter(), []
    for case in cases:
        got, which = decide(case.text)
        confusion[(case.level, got)] += 1
        if got != "none":
            by_net[which] += 1
        if correct(case.level, got):
            caught[case.level] += 1
        else:
            misses.append((case.level, got, case.text))
    totals = Counter(c.level for c in cases)
    none = totals["none"]
    return Report(len(cases), {lv: (caught[lv], totals[lv]) for lv in levels},
                  (none - caught["none"], none), confusion, by_net, misses)


# ---- training ----------------------------------------------------------------------------------------
def _embed(embeddings, texts: list[str], desc: str, progress: bool) -> np.ndarray:
    from tqdm import tqdm

    out = []
    batches = range(0, len(texts), 64)
    for start in tqdm(batches, desc=desc, unit="batch", disable=not progress, leave=False):
        out += embeddings.embed_documents(texts[start:start + 64])
    return np.asarray(out, dtype=np.float32)


@dataclass
class Units:
    """Every case's units (the whole message, then its clauses) as rows of one feature matrix."""

    vectors: np.ndarray
    spans: list[tuple[int, int]]  # rows of each case
    cleaned: list[list[net.Unit]]
    cues: list[list[frozenset[str]]]
    matrix: object = None  # the sparse features of every row (net.features)

    @classmethod
    def of(cls, texts: Iterable[str], embeddings, progress: bool, desc: str) -> "Units":
        rows, spans, cleaned, cues = [], [], [], []
        for text in texts:
            parts = net.units(text)
            spans.append((len(rows), len(rows) + len(parts)))
            rows += [u.text for u in parts]
            cleaned.append(parts)
            cues.append(net.cue_sets(parts))
        vectors = _embed(embeddings, rows, desc, progress)
        matrix = net.features(vectors, [u for p in cleaned for u in p], [c for cs in cues for c in cs])
        return cls(vectors, spans, cleaned, cues, matrix)

    def whole(self) -> np.ndarray:
        return self.vectors[[s for s, _ in self.spans]]

    def training_rows(self, cases: Sequence[int], labels: Sequence[str]) -> tuple[list[int], list[str]]:
        """The whole messages of `cases`, and every clause of those with no red flag: no part of an ordinary
        message is a red flag, so its clauses teach the net what ordinary fragments look like (the clauses of
        a red-flag message are not all red flags, so they are left out)."""
        rows, ys = [], []
        for i in cases:
            s, e = self.spans[i]
            rows.append(s)
            ys.append(labels[i])
            if labels[i] == "none":
                rows += range(s + 1, e)
                ys += ["none"] * (e - s - 1)
        return rows, ys


def _fit(units: Units, cases: Sequence[int], labels: list[str], c: float) -> net.TriageNet:
    from sklearn.linear_model import LogisticRegression

    rows, ys = units.training_rows(cases, labels)
    model = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
    model.fit(units.matrix[rows], ys)
    order = [list(model.classes_).index(k) for k in net.CLASSES]
    return net.TriageNet.from_weights(model.coef_[order], model.intercept_[order], {})


def _probabilities(model: net.TriageNet, units: Units, i: int) -> np.ndarray:
    s, e = units.spans[i]
    return model.probabilities(units.vectors[s:e], units.cleaned[i], units.cues[i])


def _out_of_fold(units: Units, labels: list[str], c: float) -> list[np.ndarray]:
    """Per case, the probabilities of its units from a model that never saw the case."""
    from sklearn.model_selection import StratifiedKFold

    out: list[np.ndarray | None] = [None] * len(labels)
    for train_idx, test_idx in StratifiedKFold(FOLDS, shuffle=True, random_state=SEED).split(units.whole(), labels):
        probe = _fit(units, train_idx, labels, c)
        for i in test_idx:
            out[i] = _probabilities(probe, units, i)
    return out  # type: ignore[return-value]


def _oof_report(cases: list[Case], units: Units, probs: list[np.ndarray], rule_levels: list[str | None],
                thresholds: dict[str, float]) -> Report:
    by_text = {}
    for i, case in enumerate(cases):
        finding = net.decide_probabilities(thresholds, probs[i], units.cleaned[i], units.cues[i])
        level, which = net.combined(rule_levels[i], finding, units.cleaned[i], thresholds)
        by_text[case.text] = (level or "none", which or "")
    return measure(cases, lambda t: by_text[t])


def choose(cases, units, probs_by_c: dict[float, list[np.ndarray]], rule_levels) -> tuple[float, dict[str, float]]:
    """The regularisation and thresholds, set for recall: among every C and every emergency, urgent and
    overrule threshold whose out-of-fold recall of emergency and of urgent each comes within RECALL_TOLERANCE
    of the best any of them reaches, the one with the fewest false alarms."""
    tried = []
    for c, probs in probs_by_c.items():
        for e, u, o in itertools.product(GRID["emergency"], GRID["urgent"], GRID["overrule"]):
            thresholds = {"emergency": e, "crisis": CRISIS_THRESHOLD, "urgent": u, **({"overrule": o} if o else {})}
            r = _oof_report(cases, units, probs, rule_levels, thresholds)
            recall = tuple(a / b if b else 1.0 for a, b in (r.recall.get(lv, (0, 0)) for lv in ("emergency", "urgent")))
            tried.append((recall, r.false_alarms[0], c, thresholds))
    best = [max(t[0][k] for t in tried) for k in range(2)]
    kept = [t for t in tried if all(t[0][k] >= best[k] - RECALL_TOLERANCE for k in range(2))]
    _, _, c, thresholds = min(kept, key=lambda t: (t[1], -sum(t[0])))
    return c, thresholds


def train(embeddings, out: Path | None = None, progress: bool = True) -> dict:
    """Train the learned net on rules/triage/train.jsonl and write rules/triage/model.json."""
    started = time.perf_counter()
    train_file = resource_path(*net.TRAIN_FILE)
    text = train_file.read_text(encoding="utf-8")
    cases = read_cases(Path(str(train_file)))
    labels = [c.level for c in cases]
    units = Units.of([c.text for c in cases], embeddings, progress, "embedding the labelled messages")
    rule_levels = [getattr(rules_net.classify(c.text), "level", None) for c in cases]
    probs_by_c = {c: _out_of_fold(units, labels, c) for c in C_VALUES}
    best_c, thresholds = choose(cases, units, probs_by_c, rule_levels)
    oof = _oof_report(cases, units, probs_by_c[best_c], rule_levels, thresholds)
    fitted = replace(_fit(units, range(len(cases)), labels, best_c), thresholds=thresholds,
                     model_label=embeddings.label, data_sha256=net.data_hash(text))
    model = {**fitted.to_dict(), "C": best_c, "trained_on": len(cases), "out_of_fold": oof.as_dict()}
    target = Path(out) if out else Path(str(resource_path(*net.MODEL_FILE)))
    target.write_text(json.dumps(model, separators=(",", ":")) + "\n", encoding="utf-8")
    return {"model": str(target), "C": best_c, "thresholds": thresholds, "out_of_fold": oof.as_dict(),
            "seconds": round(time.perf_counter() - started, 1)}

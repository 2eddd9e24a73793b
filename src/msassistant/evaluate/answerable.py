"""Training the learned answerability net (`msassistant answerable train`) on rules/answerable/train.jsonl.

Each labelled question goes through retrieval as a turn would; its signals are measured against the index
(so train after `msassistant ingest`, and again when the corpus changes much). The labelled-question
signals of a training row leave out the row itself and its near copies, as an unseen question would find
them. The regularisation and the threshold are chosen on out-of-fold predictions.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ..pipeline import answerable_net as net
from ..pipeline.scope import generic
from ..resources import path as resource_path

C_VALUES = (0.1, 0.3, 1.0, 3.0)
FOLDS = 5
NEAR_COPY = 0.92  # a labelled question this close to another is a rewording of it, not a neighbour
# Declining a question the library answers withholds what it holds; answering one it does not shows passages
# beside the point. Both are wrong, but the threshold first keeps this share of covered questions answered.
ANSWER_AT_LEAST = 0.9


def measure(assistant, rows, progress: bool = True) -> list[net.Signals]:
    from tqdm import tqdm

    library, out = assistant.library, []
    for text, _ in tqdm(rows, desc="retrieving the labelled questions", unit="question", disable=not progress):
        found = library.retrieve(text)
        covered = [d for d in found.expansion.drugs if library.covered(d)]
        s = net.signals(text, found, library.search, assistant.vocab, generic(), library.knows, covered)
        if s is None:
            raise ValueError("the answerability net reads query vectors: train it with retrieval_mode hybrid or dense")
        out.append(s)
    return out


def feature_rows(measured: list[net.Signals], covered: np.ndarray) -> np.ndarray:
    """Every row's features, its labelled-question signals from the others (not itself or its near copies)."""
    vectors = np.stack([s.vector for s in measured])
    sims = vectors @ vectors.T
    rows = []
    for i, s in enumerate(measured):
        others = sims[i] < NEAR_COPY
        others[i] = False
        c, u = net.nearest(sims[i][others], covered[others])
        rows.append(s.row(c, u))
    return np.stack(rows)


def _fit(x: np.ndarray, y: np.ndarray, c: float):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=c, class_weight="balanced", max_iter=2000)).fit(x, y)


def choose_threshold(probs: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The threshold with the best balanced accuracy (covered answered, uncovered declined) among those that
    still answer ANSWER_AT_LEAST of the covered questions, and that accuracy."""
    best = (0.5, -1.0)
    for t in np.linspace(0.05, 0.95, 91):
        answered = probs >= t
        balanced = (answered[y == 1].mean() + (~answered[y == 0]).mean()) / 2
        if answered[y == 1].mean() >= ANSWER_AT_LEAST and balanced > best[1] + 1e-9:
            best = (float(t), float(balanced))
    return best


def train(assistant, out: Path | None = None, progress: bool = True, train_file: Path | None = None) -> dict:
    """`train_file`: another labelled set (tests); the shipped model is trained on the shipped one."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    started = time.perf_counter()
    train_file = Path(train_file) if train_file else Path(str(resource_path(*net.TRAIN_FILE)))
    rows = net.read_labelled(train_file)
    y = np.asarray([label == "covered" for _, label in rows], dtype=int)
    measured = measure(assistant, rows, progress)
    x = feature_rows(measured, y.astype(bool))
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=0)
    tried = {}
    for c in C_VALUES:
        probs = cross_val_predict(_fit(x, y, c), x, y, cv=folds, method="predict_proba")[:, 1]
        tried[c] = (*choose_threshold(probs, y), probs)
    best_c = max(tried, key=lambda c: tried[c][1])
    threshold, balanced, probs = tried[best_c]
    fitted = _fit(x, y, best_c)
    scaler, lr = fitted[0], fitted[-1]
    model = net.AnswerableNet(scaler.mean_.astype(np.float32), scaler.scale_.astype(np.float32),
                              lr.coef_[0].astype(np.float32), float(lr.intercept_[0]), threshold,
                              np.stack([s.vector for s in measured]).astype(np.float32), y.astype(bool),
                              assistant.embeddings.label, net.labelled_set_hash(train_file))
    answered = probs >= threshold
    oof = {"covered_answered": f"{answered[y == 1].mean():.1%} ({int(answered[y == 1].sum())}/{int((y == 1).sum())})",
           "uncovered_declined": f"{(~answered[y == 0]).mean():.1%} ({int((~answered[y == 0]).sum())}/{int((y == 0).sum())})"}
    target = Path(out) if out else Path(str(resource_path(*net.MODEL_FILE)))
    target.write_text(json.dumps({**model.to_dict(), "C": best_c, "trained_on": len(rows), "out_of_fold": oof},
                                 separators=(",", ":")) + "\n", encoding="utf-8")
    return {"model": str(target), "C": best_c, "threshold": round(threshold, 3), "out_of_fold": oof,
            "weights": {f: round(float(w), 3) for f, w in zip(net.FEATURES, lr.coef_[0])},
            "seconds": round(time.perf_counter() - started, 1)}

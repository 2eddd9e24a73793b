"""How close two questions must be for a reviewed answer to one to be served to the other:
`msassistant eval paraphrases FILE.jsonl...`.

Pairs of cases from the eval sets: questions with the same gold (sources and phrases) are paraphrases; questions
with different gold must never share a reviewed answer. Questions are compared as the review loop compares
them: misspellings corrected and lay words expanded (pipeline/vocabulary.py), then embedded. For each threshold: the share of paraphrase pairs that
would be served (recall) and of other pairs that would be served wrongly (false matches). The setting
(MSA_REVIEWED_SIMILARITY) is the lowest threshold with no more than `MAX_FALSE` false matches.
"""

from __future__ import annotations

from itertools import combinations
from typing import Sequence

import numpy as np

from .cases import Case

THRESHOLDS = (0.55, 0.60, 0.65, 0.70, 0.75, 0.80, 0.85, 0.90, 0.95)
MAX_FALSE = 0.002


def pairs(cases: Sequence[Case]) -> tuple[list[str], list[tuple[int, int, bool]]]:
    """The single-turn questions with gold, and every pair of them (i, j, same gold)."""
    kept = [c for c in cases if len(c.turns) == 1 and c.sources and c.phrases]
    gold = [(tuple(sorted(c.sources)), tuple(sorted(p.lower() for p in c.phrases))) for c in kept]
    out = [(i, j, gold[i] == gold[j]) for i, j in combinations(range(len(kept)), 2)]
    return [c.turns[0] for c in kept], out


def sweep(vectors: np.ndarray, pair_list: Sequence[tuple[int, int, bool]]) -> list[dict]:
    v = vectors / (np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12)
    sims = np.asarray([float(v[i] @ v[j]) for i, j, _ in pair_list])
    same = np.asarray([s for _, _, s in pair_list], dtype=bool)
    rows = []
    for t in THRESHOLDS:
        served = sims >= t
        rows.append({"threshold": t, "paraphrases": int(same.sum()), "others": int((~same).sum()),
                     "recall": round(float(served[same].mean()) if same.any() else 0.0, 3),
                     "false_matches": round(float(served[~same].mean()) if (~same).any() else 0.0, 4)})
    return rows


def choose(rows: Sequence[dict]) -> float | None:
    ok = [r["threshold"] for r in rows if r["false_matches"] <= MAX_FALSE]
    return min(ok) if ok else None

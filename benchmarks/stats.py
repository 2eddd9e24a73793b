"""Latency summaries (percentiles, the median-first summary every figure uses) and the progress bar."""

from __future__ import annotations

import sys


def percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def ms(values: list[float]) -> dict:
    """p50/p95/mean in milliseconds of durations given in seconds."""
    return {"p50_ms": round(1000 * percentile(values, 50), 2), "p95_ms": round(1000 * percentile(values, 95), 2),
            "mean_ms": round(1000 * sum(values) / max(len(values), 1), 2), "n": len(values)}


def progress(iterable, desc: str, total: int | None = None):
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, total=total, unit="it", leave=False, file=sys.stderr, disable=None)

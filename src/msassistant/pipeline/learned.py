"""Loading a learned net's model file (the triage net, the answerability net): the same checks for both.

A model file is trusted only when it reads, was trained on the labelled set in the repository now (by hash),
and with the embedding model in use; otherwise the assistant refuses to start with one line saying how to
train it again.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Callable, TypeVar

T = TypeVar("T")


def load_checked(from_dict: Callable[[dict], T], file: Path, *, what: str, labelled: str, error: type[Exception],
                 retrain: str, expected_hash: str, model_label: str) -> T:
    """`what`: the model's name in messages; `labelled`: its labelled set's path in messages."""
    if not file.is_file():
        raise error(f"no {what} at {file}: {retrain}")
    try:
        net = from_dict(json.loads(file.read_text(encoding="utf-8")))
    except error:
        raise  # from_dict's own message (a model of an older version) already says how to retrain
    except (ValueError, KeyError, TypeError, zlib.error) as exc:
        raise error(f"the {what} {file} cannot be read ({exc}): {retrain}") from exc
    if net.data_sha256 != expected_hash:  # type: ignore[attr-defined]
        raise error(f"the {what} was trained on another version of {labelled}: {retrain}")
    if net.model_label != model_label:  # type: ignore[attr-defined]
        raise error(f"the {what} was trained with the embedding model {net.model_label!r}, but "  # type: ignore[attr-defined]
                    f"{model_label!r} is in use: {retrain}")
    return net

"""Name redaction, measured on labelled messages: `msassistant eval redaction FILE.jsonl`.

A file holds one message a line: {"id", "text", "names": [{"start", "end", "text"}], "clinical": [...]},
where "names" are the exact spans of personal names (a title such as "Dr" is not part of one) and
"clinical" the spans of clinical words that must survive (medicines, symptoms, tests, clinicians' roles).

Figures are counted over words (runs of letters): name recall is the share of the words inside labelled
names that redaction replaced; the false-redaction rate is the share of all other words that it replaced.
Messages with a clinical word redacted are counted apart. Names are scored as `name_spans` finds them in the
message itself (the labelled messages hold no other details); the time is that of the whole `redact()` (every
kind of detail, as it runs on each turn), per message, after the name lists are loaded.

Tune on eval/redaction/dev.jsonl; eval/redaction/heldout.jsonl is for reporting only.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

_WORD = re.compile(r"[^\W\d_]+")


@dataclass
class Message:
    id: str
    text: str
    names: list[tuple[int, int]]
    clinical: list[tuple[int, int]] = field(default_factory=list)


def read_messages(path: Path) -> list[Message]:
    """The labelled messages of a file; a bad line is an error naming its line number."""
    out: list[Message] = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            text, spans = str(row["text"]), {"names": [], "clinical": []}
            for kind, found in spans.items():
                for label in row.get(kind, []):
                    start, end = int(label["start"]), int(label["end"])
                    if not 0 <= start < end <= len(text) or ("text" in label and text[start:end] != label["text"]):
                        raise ValueError(f"{kind} span {start}:{end} does not match the text")
                    found.append((start, end))
            out.append(Message(str(row.get("id", n)), text, spans["names"], spans["clinical"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{n}: not a labelled message ({exc})") from exc
    return out


def _inside(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    return any(s < end and start < e for s, e in spans)


@dataclass
class Report:
    messages: int = 0
    name_words: int = 0
    names_redacted: int = 0
    other_words: int = 0
    others_redacted: int = 0
    clinical_messages: int = 0  # messages with a clinical word redacted
    with_names: int = 0
    per_message_us: float = 0.0
    p95_us: float = 0.0
    load_s: float = 0.0
    misses: list[tuple[str, str, str]] = field(default_factory=list)  # (id, "missed" | "wrong", words)

    @property
    def recall(self) -> float:
        return self.names_redacted / self.name_words if self.name_words else 1.0

    @property
    def false_rate(self) -> float:
        return self.others_redacted / self.other_words if self.other_words else 0.0

    def as_dict(self) -> dict:
        return {"messages": self.messages, "messages_with_names": self.with_names, "name_words": self.name_words,
                "name_recall": round(self.recall, 4), "other_words": self.other_words,
                "false_redactions": self.others_redacted, "false_redaction_rate": round(self.false_rate, 5),
                "messages_with_clinical_word_redacted": self.clinical_messages,
                "per_message_us": round(self.per_message_us, 1), "p95_us": round(self.p95_us, 1),
                "load_s": round(self.load_s, 3)}

    def lines(self) -> list[str]:
        return [f"name recall: {100 * self.recall:.1f}% ({self.names_redacted}/{self.name_words} name words, "
                f"{self.with_names} messages with names)",
                f"false redactions: {100 * self.false_rate:.2f}% ({self.others_redacted}/{self.other_words} other words)",
                f"messages with a clinical word redacted: {self.clinical_messages}",
                f"time: {self.per_message_us:.0f} µs per message (p95 {self.p95_us:.0f} µs) with every kind of "
                f"detail; name lists loaded in {self.load_s:.2f} s"]


def measure(rows: list[Message], find: Callable[[str], list[tuple[int, int]]],
            redact: Callable[[str], str] | None = None, repeat: int = 20) -> Report:
    """Score `find` (text -> name spans) on `rows`, and time `redact` on them."""
    report = Report(messages=len(rows))
    started = time.perf_counter()
    find("My wife Sarah")  # the name lists are loaded on first use
    report.load_s = time.perf_counter() - started
    for row in rows:
        found = find(row.text)
        report.with_names += bool(row.names)
        missed, wrong = [], []
        for m in _WORD.finditer(row.text):
            hit = _inside(m.start(), m.end(), found)
            if _inside(m.start(), m.end(), row.names):
                report.name_words += 1
                report.names_redacted += hit
                if not hit:
                    missed.append(m.group())
            else:
                report.other_words += 1
                report.others_redacted += hit
                if hit:
                    wrong.append(m.group())
        report.clinical_messages += any(_inside(s, e, found) for s, e in row.clinical)
        report.misses += [(row.id, "missed", " ".join(missed))] if missed else []
        report.misses += [(row.id, "wrong", " ".join(wrong))] if wrong else []
    if redact is not None and rows:
        times = []
        for _ in range(repeat):
            for row in rows:
                t = time.perf_counter()
                redact(row.text)
                times.append(time.perf_counter() - t)
        report.per_message_us = 1e6 * statistics.fmean(times)
        report.p95_us = 1e6 * sorted(times)[int(0.95 * (len(times) - 1))]
    return report

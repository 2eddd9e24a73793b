"""Measure the whole assistant on conversation cases: `msassistant eval cases FILE.jsonl... [--url URL]`.

The case format is the shared one ({"id", "turns", "category", "sources", "phrases", "expect_any",
"forbid"}; other keys are kept as labels). Every turn of a case is sent in one conversation, and the checks
apply to the reply to the last turn, as the shared scorer does. Figures, per file and in all:

- category: the reply's category is the case's, with a confusion table (truth in rows);
- hit@1 / hit@3: a passage of a gold source that holds one of the gold phrases is the first / in the first
  three citations (cases with sources);
- key fact: one of `expect_any` is in the answer (less the notices every reply ends with);
- noise: answer sentences that tell the patient nothing (quality.py, rules/noise.toml), of all answer sentences;
- promotional leads: answers whose first citation is a promotional source the case did not ask about;
- grade: median Flesch-Kincaid grade of the answer's sentences;
- urgent recall and false alarms: "urgent" replies to urgent cases, and to any turn of the others.

Runs in process on a throw-away log database (nothing reaches the clinic's log), or over HTTP against a
server with `--url`.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from statistics import median
from typing import Callable, Iterable, Sequence

from .quality import answer_sentences, answer_text, median_or_none, noise_reason, reading_grade

CATEGORIES = ("answer", "no_coverage", "out_of_scope", "urgent")
KNOWN = {"id", "turns", "category", "sources", "phrases", "expect_any", "forbid"}


@dataclass
class Case:
    id: str
    turns: list[str]
    category: str | None = None
    sources: list[str] = field(default_factory=list)
    phrases: list[str] = field(default_factory=list)
    expect_any: list[str] = field(default_factory=list)
    forbid: list[str] = field(default_factory=list)
    file: str = ""
    labels: dict = field(default_factory=dict)


def read_cases(paths: Iterable[Path]) -> list[Case]:
    """Cases from JSONL files; a bad line is an error naming the file and line."""
    out: list[Case] = []
    for path in paths:
        for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                turns = row["turns"]
                if not isinstance(turns, list) or not turns or not all(isinstance(t, str) and t.strip() for t in turns):
                    raise ValueError("turns must be a non-empty list of messages")
                if row.get("category") not in (None, *CATEGORIES):
                    raise ValueError(f"unknown category {row['category']!r}")
                out.append(Case(str(row.get("id", f"{Path(path).stem}:{n}")), turns, row.get("category"),
                                list(row.get("sources") or []), list(row.get("phrases") or []),
                                list(row.get("expect_any") or []), list(row.get("forbid") or []), Path(path).name,
                                {k: v for k, v in row.items() if k not in KNOWN}))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{n}: not a conversation case ({exc})") from exc
    return out


# ---- one case --------------------------------------------------------------------------------------
@dataclass
class Outcome:
    case: Case
    replies: list[dict]
    seconds: list[float]
    headlines: frozenset[str] = frozenset()

    @property
    def last(self) -> dict:
        return self.replies[-1] if self.replies else {}

    @property
    def category(self) -> str:
        return self.last.get("category") or "error"

    def hit(self, k: int) -> bool:
        phrases = [p.lower() for p in self.case.phrases] or [""]
        return any(c.get("source") in self.case.sources and any(p in (c.get("passage") or "").lower() for p in phrases)
                   for c in (self.last.get("citations") or [])[:k])

    @cached_property
    def sentences(self):
        return answer_sentences(self.last)

    def key_fact(self) -> bool:
        text = answer_text(self.last).lower()
        return any(w.lower() in text for w in self.case.expect_any)

    def noise(self) -> list[tuple[str, str]]:
        sentences, out = self.sentences, []
        for i, s in enumerate(sentences):
            why = noise_reason(s, sentences[i - 1] if i else None, self.headlines)
            if why:
                out.append((why, s.text))
        return out

    def promotional_leads(self) -> bool:
        """The first citation is a promotional source that is not one of the case's gold sources."""
        first = (self.last.get("citations") or [{}])[0]
        return "promotional" in (first.get("kind") or "") and first.get("source") not in self.case.sources

    def flagged_early(self) -> bool:
        """An urgent reply to an earlier turn of a conversation that is not about a red flag."""
        return any(r.get("category") == "urgent" for r in self.replies[:-1])

    def problems(self) -> list[str]:
        out = []
        if self.case.category and self.category != self.case.category:
            out.append(f"category {self.category}, expected {self.case.category}")
        if self.case.sources and not self.hit(3):
            out.append(f"no gold passage in the top 3 (got {[c.get('source') for c in (self.last.get('citations') or [])[:3]]})")
        if self.case.expect_any and not self.key_fact():
            out.append(f"key fact missing ({self.case.expect_any[:3]})")
        answer = (self.last.get("answer") or "").lower()
        out += [f"contains forbidden {bad!r}" for bad in self.case.forbid if bad.lower() in answer]
        return out


# ---- the figures -----------------------------------------------------------------------------------
def _rate(a: int, b: int) -> dict:
    return {"n": a, "of": b, "pct": round(100 * a / b, 1) if b else None}


def figures(outcomes: Sequence[Outcome]) -> dict:
    with_cat = [o for o in outcomes if o.case.category]
    gold = [o for o in outcomes if o.case.sources]
    facts = [o for o in outcomes if o.case.expect_any]
    answered = [o for o in outcomes if o.category == "answer"]
    sentences = sum(len(o.sentences) for o in answered)
    noisy = sum(len(o.noise()) for o in answered)
    urgent = [o for o in outcomes if o.case.category == "urgent"]
    calm = [o for o in outcomes if o.case.category and o.case.category != "urgent"]
    unanswerable = [o for o in outcomes if o.case.category == "no_coverage"]
    in_scope = [o for o in outcomes if o.case.category in ("answer", "no_coverage")]
    multi = [o for o in gold if len(o.case.turns) > 1]
    seconds = [s for o in outcomes for s in o.seconds]
    return {
        "cases": len(outcomes),
        "category": _rate(sum(o.category == o.case.category for o in with_cat), len(with_cat)),
        "hit@1": _rate(sum(o.hit(1) for o in gold), len(gold)),
        "hit@3": _rate(sum(o.hit(3) for o in gold), len(gold)),
        "follow_up_hit@3": _rate(sum(o.hit(3) for o in multi), len(multi)),
        "key_fact": _rate(sum(o.key_fact() for o in facts), len(facts)),
        "noise": _rate(noisy, sentences),
        "promotional_leads": _rate(sum(o.promotional_leads() for o in answered), len(answered)),
        "grade": median_or_none(reading_grade([s.text for s in o.sentences]) for o in answered),
        "no_coverage_right": _rate(sum(o.category == "no_coverage" for o in unanswerable), len(unanswerable)),
        "unanswerable_answered": _rate(sum(o.category == "answer" for o in unanswerable), len(unanswerable)),
        "in_scope_declined": _rate(sum(o.category == "out_of_scope" for o in in_scope), len(in_scope)),
        "urgent_recall": _rate(sum(o.category == "urgent" for o in urgent), len(urgent)),
        "false_alarms": _rate(sum(o.category == "urgent" or o.flagged_early() for o in calm), len(calm)),
        "p50_ms": round(1000 * median(seconds), 1) if seconds else None,
    }


def confusion(outcomes: Sequence[Outcome]) -> Counter:
    return Counter((o.case.category, o.category) for o in outcomes if o.case.category)


COLUMNS = [("category", "category"), ("hit@1", "hit@1"), ("hit@3", "hit@3"), ("follow-up hit@3", "follow_up_hit@3"),
           ("key fact", "key_fact"), ("noise", "noise"), ("promotional leads", "promotional_leads"), ("no_coverage right", "no_coverage_right"),
           ("unanswerable answered", "unanswerable_answered"), ("in scope declined", "in_scope_declined"),
           ("urgent recall", "urgent_recall"), ("false alarms", "false_alarms")]


def _cell(r: dict) -> str:
    return "–" if not r["of"] else f"{r['pct']:g}% ({r['n']}/{r['of']})"


def table(outcomes: Sequence[Outcome]) -> str:
    """Markdown: one row per case file and one for all of them, then the confusion table."""
    groups: dict[str, list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault(o.case.file, []).append(o)
    rows = list(groups.items()) + ([("all", list(outcomes))] if len(groups) > 1 else [])
    head = ["file", "cases"] + [c for c, _ in COLUMNS] + ["grade", "p50 ms"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, group in rows:
        f = figures(group)
        cells = [name, str(f["cases"])] + [_cell(f[k]) for _, k in COLUMNS] + [str(f["grade"] or "–"), str(f["p50_ms"] or "–")]
        lines.append("| " + " | ".join(cells) + " |")
    conf = confusion(outcomes)
    got = list(CATEGORIES) + (["error"] if any(g == "error" for _, g in conf) else [])
    lines += ["", "| truth \\ reply | " + " | ".join(got) + " |", "|---" * (len(got) + 1) + "|"]
    for truth in CATEGORIES:
        if any(t == truth for t, _ in conf):
            lines.append(f"| {truth} | " + " | ".join(str(conf[(truth, g)]) for g in got) + " |")
    return "\n".join(lines)


# ---- running ---------------------------------------------------------------------------------------
Send = Callable[[str, str | None], dict]  # (message, session id) -> the /api/chat reply as a dict


def run(cases: Sequence[Case], send: Send, headlines: frozenset[str] = frozenset(), progress: bool = True) -> list[Outcome]:
    from tqdm import tqdm

    outcomes = []
    for case in tqdm(cases, desc="cases", unit="case", disable=not progress):
        replies, seconds, session = [], [], None
        for message in case.turns:
            start = time.perf_counter()
            try:
                reply = send(message, session)
            except Exception as exc:  # a failed request is a failed case, not a failed evaluation
                reply = {"category": "error", "answer": f"request failed: {exc}"}
            seconds.append(time.perf_counter() - start)
            replies.append(reply)
            session = reply.get("session_id") or session
        outcomes.append(Outcome(case, replies, seconds, headlines))
    return outcomes


def in_process(settings, workdir: Path) -> Send:
    """The assistant in this process, logging to a database in `workdir`."""
    from ..pipeline.assistant import Assistant

    settings = settings.model_copy(update={"database_url": f"sqlite:///{workdir / 'eval.db'}"})
    assistant = Assistant(settings)
    assistant.ensure_index()
    assistant.warm_up()

    def send(message: str, session: str | None) -> dict:
        return assistant.reply(message, session).model_dump()

    return send


def over_http(url: str, timeout: float = 60.0) -> Send:
    import httpx

    client = httpx.Client(base_url=url.rstrip("/"), timeout=timeout)

    def send(message: str, session: str | None) -> dict:
        for _ in range(6):
            r = client.post("/api/chat", json={"message": message, "session_id": session})
            if r.status_code != 429:
                break
            time.sleep(float(r.headers.get("Retry-After") or 5))
        r.raise_for_status()
        return r.json()

    return send


def corpus_headlines(corpus_dir: Path) -> frozenset[str]:
    """The first line of each document (its page headline), which as an answer sentence says nothing new."""
    from ..corpus.ingest import load_corpus
    from ..text import split_sentences

    docs, _ = load_corpus(corpus_dir)
    out = set()
    for doc in docs:
        if doc.paragraphs:
            first = split_sentences(doc.paragraphs[0][1])
            if first:
                out.add(first[0].lower().rstrip(" ."))
    return frozenset(out)


def gold_problems(cases: Sequence[Case], corpus_dir: Path) -> list[str]:
    """Gold phrases that no passage of their gold sources holds: such a case could never pass."""
    from ..corpus.ingest import load_corpus, to_documents

    from ..corpus import roles
    from ..text import split_sentences

    docs, _ = load_corpus(corpus_dir)
    chunks: dict[str, list[str]] = {}
    shown: list[str] = []  # what answers may show of the library (corpus/roles.py)
    everything: list[str] = []
    for doc in docs:
        documents = to_documents(doc)
        chunks[doc.source] = [d.page_content.lower() for d in documents]
        for d in documents:
            sentences = split_sentences(d.page_content)
            for sentence, kind in zip(sentences, roles.decode(d.metadata.get("roles"), len(sentences))):
                everything.append(sentence.lower())
                if kind in roles.SHOWN:
                    shown.append(roles.shown_text(sentence, kind).lower())
    out = []
    for case in cases:
        for source in case.sources:
            if source not in chunks:
                out.append(f"{case.file} {case.id}: source {source} is not in the corpus")
        for phrase in case.phrases:
            if not any(phrase.lower() in c for s in case.sources for c in chunks.get(s, [])):
                out.append(f"{case.file} {case.id}: no passage of {case.sources} holds {phrase!r}")
        facts = [f.lower() for f in case.expect_any]
        if facts and any(f in s for f in facts for s in everything) and not any(f in s for f in facts for s in shown):
            out.append(f"{case.file} {case.id}: every key fact {case.expect_any[:3]} is in sentences answers never "
                       "show (headlines, filler, analogies: corpus/roles.py)")
    return out

"""Suggested next questions: 2-3 questions the library answers, offered under each reply.

They come from a reviewed list per corpus document (prompts/follow_ups.toml) and from the questions the
documents themselves ask; only those the assistant is checked to answer, citing the right document, are
offered. The checked pool is kept with the search snapshot, for one index generation and one version of
the pipeline's code, rules and settings.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import tomllib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..index import snapshot
from ..resources import prompt_data
from ..text import TOKEN as WORDS, fold_spaced, tokenize
from .conversation import BARE_THIS, DEMONSTRATIVE, IT, NON_TOPIC, THEY, topic_words
from .vocabulary import Vocabulary

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Suggestion:
    question: str
    source: str  # the document it is listed under (or taken from)
    chunks: tuple[str, ...] = ()  # the passage of each sentence of its answer
    sentences: tuple[str, ...] = ()  # its answer, as the assistant gives it
    curated: bool = True
    vector: tuple[float, ...] | None = None  # the question's embedding, to find the ones nearest a reply

    @cached_property  # asked for every pool question on every turn
    def tokens(self) -> frozenset[str]:
        return frozenset(tokenize(self.question))


def load_curated(path: Path | None = None) -> dict[str, list[str]]:
    """Reviewed next questions per corpus document (file name → questions), from prompts/follow_ups.toml."""
    if path is not None:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8")) if Path(path).exists() else {}
    else:
        data = prompt_data("follow_ups")
    return {source: list(entry.get("questions", [])) for source, entry in data.items() if isinstance(entry, dict)}


def derived_questions(chunks, vocab: Vocabulary) -> list[tuple[str, str]]:
    """Questions the documents ask themselves (FAQ headings and questions), as (question, passage id), when they
    stand on their own: no pronoun, a topic of their own, not from a promotional article."""
    out: list[tuple[str, str]] = []
    for doc in chunks:
        meta = doc.metadata
        if meta.get("promotional"):
            continue
        candidates = [meta.get("section") or ""]
        candidates += re.findall(r"(?:^|(?<=[.!?]\s))([A-Z][^.!?]{10,160}\?)", doc.page_content)
        for q in candidates:
            q = q.strip()
            words = WORDS.findall(fold_spaced(q))
            if not q.endswith("?") or not 5 <= len(words) <= 20:
                continue
            folded = fold_spaced(q)
            if IT.search(folded) or DEMONSTRATIVE.search(folded) or BARE_THIS.search(folded) or THEY.search(folded):
                continue
            if not topic_words(q, vocab).words:
                continue
            if all(q != seen for seen, _ in out):
                out.append((q, doc.id))
    return out


def _similar(a: frozenset[str], b: frozenset[str], threshold: float) -> bool:
    if not a or not b:
        return False
    return len(a & b) / len(a | b) >= threshold


class FollowUps:
    """Picks 2-3 next questions the library answers, from a pool checked once against the index."""

    def __init__(self, pool: list[Suggestion]):
        self.pool = [s for s in pool if s.sentences]
        # the pool's question vectors as one unit-length matrix, so a turn compares them all in one product
        self._row = {id(s): i for i, s in enumerate(self.pool)}
        dims = next((len(s.vector) for s in self.pool if s.vector), 0)
        matrix = np.array([s.vector if s.vector else [0.0] * dims for s in self.pool], dtype=np.float32).reshape(len(self.pool), dims)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        self._matrix = np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)

    def to_json(self) -> list[dict]:
        return [{"question": s.question, "source": s.source, "chunks": list(s.chunks), "sentences": list(s.sentences),
                 "curated": s.curated, "vector": list(s.vector) if s.vector is not None else None} for s in self.pool]

    @classmethod
    def from_json(cls, data: object) -> "FollowUps | None":
        """The pool `to_json` wrote, or None when the data is not such a pool."""
        try:
            return cls([Suggestion(str(d["question"]), str(d["source"]), tuple(map(str, d["chunks"])),
                                   tuple(map(str, d["sentences"])), bool(d["curated"]),
                                   tuple(map(float, d["vector"])) if d["vector"] is not None else None)
                        for d in data])  # type: ignore[union-attr]
        except (TypeError, KeyError, ValueError):
            return None

    def _nearness(self, vectors: Sequence[Sequence[float]]) -> np.ndarray:
        """Each pool question's best cosine similarity to any of the turn's query vectors."""
        if not len(vectors) or not self._matrix.size:
            return np.zeros(len(self.pool), dtype=np.float32)
        queries = np.asarray(vectors, dtype=np.float32)
        queries /= np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
        return (self._matrix @ queries.T).max(axis=1)

    @classmethod
    def build(cls, candidates: Sequence[tuple[str, str]], answers: Callable[[str], Sequence[tuple[str, str]] | None],
              curated: bool = True, vectors: dict[str, Sequence[float]] | None = None) -> list[Suggestion]:
        """Check `candidates`, (question, where its answer must come from): a document's file name, or one
        passage's id ("file#n") for a question taken from that passage. `answers(question)` gives the
        (passage id, sentence) pairs of the assistant's answer, or None when it would not answer. A question is
        kept when the answer begins with that document, or cites that passage."""
        pool = []
        for question, target in candidates:
            answer = answers(question)
            if not answer:
                continue
            chunks = tuple(c for c, _ in answer)
            ok = target in chunks if "#" in target else chunks[0].split("#")[0] == target
            if ok:
                vector = (vectors or {}).get(question)
                pool.append(Suggestion(question, target.split("#")[0], chunks, tuple(s for _, s in answer), curated,
                                       tuple(vector) if vector is not None else None))
        return pool

    def pick(self, *, category: str, asked: Sequence[str], shown: Sequence[str], hit_chunks: Sequence[str],
             topic: str = "", vectors: Sequence[Sequence[float]] = (), n: int = 3) -> list[str]:
        """Next questions for a reply: close to what was retrieved for this turn (its hits, best first), whose
        answers would not repeat what the reply showed (`shown` sentences), not already asked in this
        conversation."""
        if category == "out_of_scope" or not self.pool:
            return []
        asked_tokens = [frozenset(tokenize(a)) for a in asked if a]
        fresh = [s for s in self.pool if not any(_similar(s.tokens, a, 0.5) for a in asked_tokens)]
        rank_of = {c: i for i, c in enumerate(dict.fromkeys(hit_chunks))}
        far = len(rank_of) + 1
        if category == "no_coverage":
            # what the library does cover: one question per document, the nearest documents first
            best: dict[str, Suggestion] = {}
            for s in sorted(fresh, key=lambda s: (rank_of.get(s.chunks[0], far), not s.curated)):
                best.setdefault(s.source, s)
            order = sorted(best.values(), key=lambda s: rank_of.get(s.chunks[0], far))
            return [s.question for s in order[:n]]
        said = set(shown)
        about = frozenset(tokenize(" ".join([topic, *asked[-2:]]))) - NON_TOPIC
        # its answer would mostly repeat what the reply just said
        fresh = [s for s in fresh if sum(x in said for x in s.sentences) / len(s.sentences) < 0.5]

        nearness = self._nearness(vectors)

        def key(s: Suggestion):
            near = float(nearness[self._row[id(s)]])
            return (-(near + 0.1 * len(s.tokens & about)), rank_of.get(s.chunks[0], far), not s.curated)

        picks: list[Suggestion] = []
        for s in sorted(fresh, key=key):
            if len(picks) >= n:
                break
            if all(s.sentences[0] != p.sentences[0] for p in picks):  # two questions, one answer: keep one
                picks.append(s)
        return [s.question for s in picks]


def pipeline_digest(settings, model: str, vocab: Vocabulary) -> str:
    """Changes whenever anything that decides an answer changes: this package's code, rules and prompts,
    the vocabulary and the retrieval settings. Data derived from answers (the suggested questions) is
    kept under it."""
    digest = hashlib.sha256(repr((model, settings.retrieval_mode, settings.top_k, settings.candidates,
                                  settings.exact_search_max_chunks, vocab)).encode())
    package = Path(__file__).resolve().parents[1]  # the msassistant package
    for path in sorted(p for p in package.rglob("*") if p.suffix in {".py", ".toml", ".md"} and p.is_file()):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


Answers = Callable[[str, "dict | None"], "Sequence[tuple[str, str]] | None"]


class Suggestions:
    """The stage that offers next questions. `answers(question, vectors)` is the assistant's own answer to a
    question ((passage id, sentence) pairs, or None when it would not answer): a question is offered only
    when that answer cites the document it is listed under."""

    def __init__(self, settings, library, vocab: Vocabulary, answers: Answers):
        self.settings, self.library, self.vocab, self.answers = settings, library, vocab, answers
        self._pool: FollowUps | None = None
        self._lock = threading.Lock()

    def reset(self) -> None:
        self._pool = None

    @property
    def pool(self) -> FollowUps:
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = self._load_or_build()
        return self._pool

    @pool.setter
    def pool(self, value: FollowUps) -> None:
        self._pool = value

    def _load_or_build(self) -> FollowUps:
        search, index = self.library.search, self.library.index
        name = f"follow-ups-{pipeline_digest(self.settings, self.library.embeddings.label, self.vocab)}.json"
        saved = snapshot.load_extra(index.snapshot_path, search.generation, name)
        pool = FollowUps.from_json(saved) if saved is not None else None
        if pool is None:
            pool = self.build()
            snapshot.save_extra(index.snapshot_path, search.generation, name, pool.to_json())
        return pool

    def build(self) -> FollowUps:
        search = self.library.search
        present = {d.metadata["source"] for d in search.chunks}
        curated = [(q, src) for src, qs in load_curated().items() if src in present for q in qs]
        derived = derived_questions(search.chunks, self.vocab)
        cache = self.library.embed_all([q for q, _ in curated + derived])
        answers = lambda q: self.answers(q, cache)  # noqa: E731
        texts_of = {q: self.library.expand(q).text for q, _ in curated + derived}
        vectors = {q: cache[t] for q, t in texts_of.items() if t in cache}
        return FollowUps(FollowUps.build(curated, answers, True, vectors) + FollowUps.build(derived, answers, False, vectors))

    def suggest(self, turn, history: Sequence) -> list[str]:
        """2-3 next questions for a reply; none after any urgent reply (the guidance is the one thing to act on) or
        out of scope."""
        if turn.stopped or turn.category in ("out_of_scope", "urgent"):
            return []
        try:
            pool = self.pool
        except Exception:  # suggestions are a convenience: never fail a reply for them
            log.exception("could not build the suggested questions")
            return []
        asked = [h.message for h in history] + [turn.message, turn.resolution.query if turn.resolution else ""]
        return pool.pick(category=turn.category, asked=asked, shown=[s for s, _ in turn.composed.sentences],
                         hit_chunks=[h.id for h in turn.hits], topic=turn.topic, vectors=turn.vectors)

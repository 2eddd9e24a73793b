"""Service: the one entry point that turns a message into a reply.

triage → scope → expand → retrieve → compose → notices → log. Each stage's outcome is recorded in
`steps` so that staff can see why an answer came out as it did.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Iterator

from .compose import Composed, compose
from .config import Settings, get_settings
from .embeddings import SentenceTransformerEmbeddings
from .index import Index, ingest
from .logstore import LogStore
from .retrieve import HybridSearch, tokenize
from .safety import (
    Notices, is_health_related, is_off_topic_request, is_personal_decision, no_coverage_text, notices,
    promotional_caution, texts,
)
from .schemas import ChatReply
from .triage import triage
from .vocabulary import Vocabulary, vocabulary

log = logging.getLogger(__name__)

# Retrieval signals that separate "the library covers this" from "it does not".
OUT_OF_SCOPE_SIMILARITY = 0.30  # below this, a message with no health words is not about MS
NO_COVERAGE_SIMILARITY = 0.45  # below this, and with no specific word of the question in the corpus
GENERIC = set(tokenize("ms multiple sclerosis help helps people patient patients treatment treatments disease work symptom symptoms good best better option choice"))


@dataclass
class Turn:
    """What the pipeline decided for one message, before rendering."""

    message: str
    category: str = "answer"
    urgent: str | None = None
    triage_level: str | None = None
    triage_rule: str | None = None
    lead: list[str] = field(default_factory=list)  # notices said before the body
    composed: Composed = field(default_factory=Composed)
    tail: list[str] = field(default_factory=list)  # cautions said after the body
    query: str = ""
    steps: list[dict] = field(default_factory=list)


class Assistant:
    def __init__(self, settings: Settings | None = None, embeddings=None, index: Index | None = None,
                 logstore: LogStore | None = None, vocab: Vocabulary | None = None):
        self.settings = settings or get_settings()
        self.embeddings = embeddings or SentenceTransformerEmbeddings(self.settings.embedding_model)
        self.index = index or Index(self.settings, self.embeddings, self.embeddings.label)
        self.logstore = logstore or LogStore(self.settings.db_url)
        self.vocab = vocab or vocabulary()
        self.notices: Notices = notices(self.settings)
        self._search: HybridSearch | None = None
        self._lock = threading.Lock()

    # ---- lifecycle ---------------------------------------------------------------------------
    def ensure_index(self, progress: bool = False):
        """Build or refresh the index from the corpus (incremental), then load the search."""
        report = ingest(self.settings, self.index, progress=progress)
        if report.changed or self._search is None:
            self._search = HybridSearch(self.index)
        return report

    @property
    def search(self) -> HybridSearch:
        if self._search is None:
            with self._lock:
                if self._search is None:
                    if self.index.count() == 0:
                        raise RuntimeError("the index is empty: run `msassistant ingest` first")
                    self._search = HybridSearch(self.index)
        return self._search

    def warm_up(self) -> None:
        self.embeddings.embed_query("warm up")
        _ = self.search

    def health(self) -> dict:
        chunks = self.index.count()
        docs = len(self.index.document_hashes()) if chunks else 0
        return {"status": "ok" if chunks else "empty_index", "documents": docs, "chunks": chunks,
                "embedding_model": self.embeddings.label, "retrieval_mode": self.settings.retrieval_mode}

    # ---- pipeline ------------------------------------------------------------------------------
    def _covered(self, drug) -> bool:
        text_terms = self.search.doc_freq
        return any(all(t in text_terms for t in tokenize(term)) for term in drug.corpus_terms)

    def _vectors(self, expansion) -> list[list[float]]:
        """One dense query for the question, one for its clinical expansion (lay words rarely embed well)."""
        if self.settings.retrieval_mode == "bm25":
            return []
        if not expansion.added:
            return [self.embeddings.embed_query(expansion.text)]
        return self.embeddings.embed_documents([expansion.text, " ".join(expansion.added)])

    def decide(self, message: str) -> Turn:
        turn = Turn(message=message)
        s = self.settings
        tri = triage(message, emergency_number=s.emergency_number, crisis_line=s.crisis_line)
        turn.steps.append({"step": "triage", "level": tri.level, "rule": tri.rule})
        if tri.level:
            turn.category, turn.urgent = "urgent", tri.guidance
            turn.triage_level, turn.triage_rule = tri.level, tri.rule
            if tri.level in ("emergency", "crisis"):
                return turn  # nothing may stand between the person and the call to act
        if is_off_topic_request(message) and not tri.level:
            turn.category = "out_of_scope"
            turn.steps.append({"step": "scope", "decision": "out_of_scope", "reason": "off-topic request"})
            return turn
        expansion = self.vocab.expand(message)
        turn.query = expansion.query
        turn.steps.append({"step": "expand", "added": expansion.added, "drugs": [d.generic for d in expansion.drugs]})
        search = self.search
        hits = search.search(turn.query, self._vectors(expansion), s.candidates, s.candidates, s.retrieval_mode)
        top_dense = max((h.dense for h in hits if h.dense is not None), default=0.0)
        turn.steps.append({"step": "retrieve", "mode": s.retrieval_mode, "top_similarity": round(top_dense, 4),
                           "hits": [{"id": h.id, "score": round(h.score, 4)} for h in hits]})
        if not tri.level and not is_health_related(message, self.vocab) and top_dense < OUT_OF_SCOPE_SIMILARITY:
            turn.category = "out_of_scope"
            turn.steps.append({"step": "scope", "decision": "out_of_scope", "reason": "no health words, low similarity"})
            return turn
        missing = [d for d in expansion.drugs if not self._covered(d)]
        covered = [d for d in expansion.drugs if self._covered(d)]
        specific = [t for t in set(tokenize(turn.query)) if t not in GENERIC]
        known = [t for t in specific if t in search.doc_freq]
        if not tri.level and ((missing and not covered) or (specific and not known and top_dense < NO_COVERAGE_SIMILARITY)):
            turn.category = "no_coverage"
            topic = " and ".join(d.generic for d in missing) if missing else None
            turn.lead.append(no_coverage_text(topic))
            turn.steps.append({"step": "scope", "decision": "no_coverage", "missing_drugs": [d.generic for d in missing],
                               "unknown_words": sorted(set(specific) - set(known))})
            return turn
        if missing:
            turn.lead.append(texts()["partial_coverage"].format(topic=" and ".join(d.generic for d in missing)))
        if tri.level:
            turn.lead.append(texts()["urgent_then_info"])
        elif is_personal_decision(message):
            turn.lead.append(texts()["personal_decision"])
            turn.steps.append({"step": "scope", "decision": "personal_decision"})
        turn.composed = compose(turn.query, hits, search.idf, search.doc_freq, max_passages=s.top_k)
        promo = [c.id for c in turn.composed.citations if c.promotional]
        if promo:
            turn.tail.append(promotional_caution(promo))
        turn.steps.append({"step": "compose", "sentences": len(turn.composed.sentences),
                           "citations": [c.chunk_id for c in turn.composed.citations]})
        if not turn.composed.sentences and not tri.level:
            turn.category = "no_coverage"
            turn.lead = [no_coverage_text(None)]
        return turn

    def pieces(self, turn: Turn) -> list[str]:
        """The answer, in the order it is shown: urgent guidance first, notices last."""
        out = [turn.urgent] if turn.urgent else []
        if turn.category == "out_of_scope":
            out.append(texts()["out_of_scope"])
        out += turn.lead + turn.composed.pieces() + turn.tail
        return out + [self.notices.care_team, self.notices.red_flags]

    def reply(self, message: str, session_id: str | None = None) -> ChatReply:
        start = time.perf_counter()
        session_id = session_id or uuid.uuid4().hex
        turn = self.decide(message)
        answer = "\n\n".join(self.pieces(turn))
        citations = [c.public() for c in turn.composed.citations]
        record = self.logstore.record(
            session_id, message=message, resolved_query=turn.query, answer=answer, category=turn.category,
            triage_level=turn.triage_level, triage_rule=turn.triage_rule,
            citations=[{**c, "chunk_id": cc.chunk_id} for c, cc in zip(citations, turn.composed.citations)],
            retrieval_mode=self.settings.retrieval_mode, embedding_model=self.embeddings.label,
            latency_ms=round(1000 * (time.perf_counter() - start), 2), steps=turn.steps,
        )
        return ChatReply(
            session_id=session_id, turn_id=record.id, category=turn.category, answer=answer, citations=citations,
            safety={"urgent": turn.urgent, "care_team": self.notices.care_team, "red_flags": self.notices.red_flags},
        )

    def stream(self, message: str, session_id: str | None = None) -> Iterator[tuple[str, object]]:
        """Yield ("delta", text) pieces as the answer is composed, then ("final", ChatReply)."""
        reply = self.reply(message, session_id)
        for i, piece in enumerate(reply.answer.split("\n\n")):
            yield "delta", ("\n\n" if i else "") + piece
        yield "final", reply

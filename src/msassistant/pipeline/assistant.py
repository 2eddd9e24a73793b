"""Service: the one entry point that turns a message into a reply.

triage → resolve (follow-ups) → scope → expand → retrieve → compose (→ model, when on) → notices → log.
Each stage's outcome is recorded in `steps` so that staff can see why an answer came out as it did.
The reply is built as pieces, in the order they are shown, so that it can be streamed: the urgent
guidance is ready as soon as triage has run, before anything is retrieved.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator, Sequence

from ..index import snapshot
from .compose import Citation, Composed, compose
from ..config import Settings, get_settings
from .conversation import FollowUps, Resolution, derived_questions, load_curated, resolve, topic_words
from ..index.embeddings import SentenceTransformerEmbeddings
from ..index.store import Index, embedding_text, ingest
from .llm import LLMFallback, LLMWriter, Passage, build_chat_model
from ..store import LogStore
from ..index.search import Hit, HybridSearch, tokenize
from .scope import (
    Notices, is_health_related, is_off_topic_request, is_personal_decision, no_coverage_text, notices,
    generic_words, promotional_caution, strip_directives, texts,
)
from ..schemas import ChatReply
from .triage import triage
from .vocabulary import Vocabulary, vocabulary

log = logging.getLogger(__name__)

# Retrieval signals that separate "the library covers this" from "it does not".
OUT_OF_SCOPE_SIMILARITY = 0.30  # below this, a message with no health words is not about MS
GENERIC = set(tokenize(" ".join(generic_words())))
TOPIC_WEIGHT = 0.3  # share of its weight a topic carried into a follow-up has when choosing sentences
STOP_LEVELS = ("emergency", "crisis")  # nothing may stand between the person and the call to act
_UNSET = object()


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
    resolution: Resolution | None = None
    hits: list[Hit] = field(default_factory=list)
    vectors: list[list[float]] = field(default_factory=list)  # the query's embeddings
    body: list[str] | None = None  # the model's checked answer, when it replaces the extractive one
    shown: list[Citation] | None = None  # the citations of that answer
    llm_fallback: str | None = None

    @property
    def stopped(self) -> bool:
        return self.triage_level in STOP_LEVELS

    @property
    def topic(self) -> str:
        return self.resolution.topic if self.resolution and self.category != "out_of_scope" else ""

    @property
    def citations(self) -> list[Citation]:
        return self.shown if self.shown is not None else self.composed.citations

    def body_pieces(self) -> list[str]:
        return self.body if self.body is not None else self.composed.pieces()


def pipeline_digest(settings: Settings, model: str, vocab: Vocabulary) -> str:
    """Changes whenever anything that decides an answer changes: this package's code, rules and prompts,
    the vocabulary and the retrieval settings. Data derived from answers (the suggested questions) is
    kept under it."""
    digest = hashlib.sha256(repr((model, settings.retrieval_mode, settings.top_k, settings.candidates,
                                  settings.exact_search_max_chunks, vocab)).encode())
    package = Path(__file__).resolve().parents[1]  # the msassistant package
    for path in sorted(p for p in package.rglob("*") if p.suffix in {".py", ".toml", ".md"} and p.is_file()):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


class Assistant:
    def __init__(self, settings: Settings | None = None, embeddings=None, index: Index | None = None,
                 logstore: LogStore | None = None, vocab: Vocabulary | None = None, llm=_UNSET):
        """`llm`: a LangChain chat model to use instead of the one MSA_LLM names; None turns the model off."""
        self.settings = settings or get_settings()
        self.embeddings = embeddings or SentenceTransformerEmbeddings(self.settings.embedding_model)
        self.index = index or Index(self.settings, self.embeddings, self.embeddings.label)
        self.logstore = logstore or LogStore(self.settings.db_url)
        self.vocab = vocab or vocabulary()
        self.notices: Notices = notices(self.settings)
        self._search: HybridSearch | None = None
        self._lock = threading.Lock()
        self._follow_ups: FollowUps | None = None
        self._follow_ups_lock = threading.Lock()
        self._term_vectors: dict[str, list[float]] = {}
        self.llm: LLMWriter | None = None
        self.llm_unavailable: str | None = None
        model = llm
        if model is _UNSET:
            try:
                model = build_chat_model(self.settings)
            except Exception as exc:  # a missing provider package or bad settings must not stop the service
                model = None
                self.llm_unavailable = f"model unavailable: {type(exc).__name__}: {str(exc)[:200]}"
                log.warning("MSA_LLM=%s could not be loaded, answering without it: %s", self.settings.llm, exc)
        if model is not None:
            self.llm = LLMWriter(model, self.settings.llm_timeout, self.settings.llm or type(model).__name__)

    # ---- lifecycle ---------------------------------------------------------------------------
    def ensure_index(self, progress: bool = False):
        """Build or refresh the index from the corpus (incremental), then load the search."""
        report = ingest(self.settings, self.index, progress=progress)
        if report.changed or self._search is None:
            self._search = HybridSearch(self.index)
            self._follow_ups = None
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
        _ = self.follow_ups

    def health(self) -> dict:
        search = self._search
        if search is not None and search.generation == self.index.generation(assign=False):
            chunks, docs = len(search.ids), len(search.hashes)  # the index is as loaded: no need to count it
        else:
            chunks = self.index.count()
            docs = len(self.index.document_hashes()) if chunks else 0
        return {"status": "ok" if chunks else "empty_index", "documents": docs, "chunks": chunks,
                "embedding_model": self.embeddings.label, "retrieval_mode": self.settings.retrieval_mode}

    # ---- suggested next questions ----------------------------------------------------------------
    @property
    def follow_ups(self) -> FollowUps:
        """The pool of next questions, each checked once against this index: the assistant must answer it,
        citing the document it is listed under. Kept with the search snapshot, for this index generation and
        this version of the pipeline's code and rules."""
        if self._follow_ups is None:
            with self._follow_ups_lock:
                if self._follow_ups is None:
                    search = self.search
                    name = f"follow-ups-{pipeline_digest(self.settings, self.embeddings.label, self.vocab)}.json"
                    saved = snapshot.load_extra(self.index.snapshot_path, search.generation, name)
                    pool = FollowUps.from_json(saved) if saved is not None else None
                    if pool is None:
                        pool = self._build_follow_ups()
                        snapshot.save_extra(self.index.snapshot_path, search.generation, name, pool.to_json())
                    self._follow_ups = pool
        return self._follow_ups

    def _build_follow_ups(self) -> FollowUps:
        search = self.search
        present = {d.metadata["source"] for d in search.chunks}
        curated = [(q, src) for src, qs in load_curated().items() if src in present for q in qs]
        derived = derived_questions(search.chunks, self.vocab)
        cache = self._embed_all([q for q, _ in curated + derived])
        answers = lambda q: self._answers(q, cache)  # noqa: E731
        texts_of = {q: self._expand(q).text for q, _ in curated + derived}
        vectors = {q: cache[t] for q, t in texts_of.items() if t in cache}
        return FollowUps(FollowUps.build(curated, answers, True, vectors) + FollowUps.build(derived, answers, False, vectors))

    def _embed_all(self, questions: list[str]) -> dict[str, list[float]]:
        """The query vectors of many questions in one batch (what `_vectors` would compute one by one)."""
        if self.settings.retrieval_mode == "bm25":
            return {}
        texts, terms = [], []
        for q in questions:
            e = self._expand(q)
            texts.append(e.text)
            if e.added:
                terms.append(" ".join(e.added))
        texts = list(dict.fromkeys(texts + terms))
        vectors = dict(zip(texts, self.embeddings.embed_documents(texts)))
        for t in terms:  # the vocabulary's terms for these questions are likely to come again
            self._term_vectors.setdefault(t, vectors[t])
        return vectors

    def _answers(self, question: str, cache: dict | None = None) -> list[tuple[str, str]] | None:
        """(passage id, sentence) of the answer the assistant gives to `question` on its own, or None when it
        would not answer it from the library."""
        turn = Turn(message=question)
        if self._triage(turn) or turn.triage_level:
            return None
        self._decide(turn, (), use_llm=False, cache=cache)
        if turn.category != "answer" or not turn.composed.sentences:
            return None
        chunk = {c.id: c.chunk_id for c in turn.composed.citations}
        return [(chunk[cid], sentence) for sentence, cid in turn.composed.sentences]

    def _suggest(self, turn: Turn, history: Sequence) -> list[str]:
        if turn.stopped or turn.category == "out_of_scope":
            return []
        try:
            pool = self.follow_ups
        except Exception:  # suggestions are a convenience: never fail a reply for them
            log.exception("could not build the suggested questions")
            return []
        asked = [h.message for h in history] + [turn.message, turn.resolution.query if turn.resolution else ""]
        return pool.pick(category=turn.category, asked=asked, shown=[s for s, _ in turn.composed.sentences],
                         hit_chunks=[h.id for h in turn.hits], topic=turn.topic, vectors=turn.vectors)

    # ---- pipeline ------------------------------------------------------------------------------
    def _covered(self, drug) -> bool:
        text_terms = self.search.doc_freq
        return any(all(t in text_terms for t in tokenize(term)) for term in drug.corpus_terms)

    def _vectors(self, expansion, cache: dict | None = None) -> list[list[float]]:
        """One dense query for the question, one for its clinical expansion (lay words rarely embed well)."""
        if self.settings.retrieval_mode == "bm25":
            return []
        texts = [expansion.text] + ([" ".join(expansion.added)] if expansion.added else [])
        if cache and all(t in cache for t in texts):
            return [cache[t] for t in texts]
        vectors = [self.embeddings.embed_query(expansion.text)]
        if expansion.added:
            vectors.append(self._term_vector(" ".join(expansion.added)))
        return vectors

    def _term_vector(self, terms: str) -> list[float]:
        """The vector of the clinical terms added to a question. They come from the reviewed vocabulary, so
        there are few distinct ones and each is embedded once (the person's own words are embedded every time)."""
        vector = self._term_vectors.get(terms)
        if vector is None:
            if len(self._term_vectors) >= 4096:
                self._term_vectors.clear()
            vector = self._term_vectors[terms] = self.embeddings.embed_query(terms)
        return vector

    def _expand(self, text: str):
        """The search query for a question: directives to the assistant left out, misspellings corrected,
        lay words expanded."""
        return self.vocab.expand(self.search.correct(strip_directives(text) or text))

    def _triage(self, turn: Turn) -> bool:
        """Red-flag triage on the person's own words. True when nothing may follow the urgent guidance."""
        s = self.settings
        tri = triage(turn.message, emergency_number=s.emergency_number, crisis_line=s.crisis_line)
        turn.steps.append({"step": "triage", "level": tri.level, "rule": tri.rule})
        if tri.level:
            turn.category, turn.urgent = "urgent", tri.guidance
            turn.triage_level, turn.triage_rule = tri.level, tri.rule
        return turn.stopped

    def _resolve(self, turn: Turn, history: Sequence, use_llm: bool) -> Resolution:
        """Continue the conversation: a follow-up borrows the topic of the earlier turns."""
        res = resolve(turn.message, history, self.vocab)
        if res.follow_up and use_llm and self.llm and not turn.stopped:
            own_drugs = topic_words(turn.message, self.vocab).drugs
            earlier = [(h.message, h.topic or "") for h in list(history)[-3:]]
            allowed = " ".join([turn.message, res.query, *(f"{m} {t}" for m, t in earlier)])
            try:
                anchor = [w for w in " ".join([res.carried, *res.own]).split() if not set(tokenize(w)) <= GENERIC]
                question = self.llm.rewrite(turn.message, earlier, allowed=allowed, anchor=anchor)
                lost = set(own_drugs) - {d.generic for d in self.vocab.find_drugs(question)}
                if lost:
                    raise LLMFallback(f"rewrite: dropped {', '.join(sorted(lost))}")
                res = replace(res, query=question, by="llm")
            except LLMFallback as exc:
                turn.steps.append({"step": "llm", "task": "rewrite", "used": False, "model": self.llm.label,
                                   "fallback": exc.reason})
        turn.resolution = res
        turn.query = res.query
        turn.steps.append(res.step())
        return res

    def _decide(self, turn: Turn, history: Sequence, use_llm: bool = True, cache: dict | None = None) -> None:
        """Everything after triage. Fills `turn`; records nothing."""
        s = self.settings
        message = turn.message
        res = self._resolve(turn, history, use_llm)
        if turn.stopped:
            return
        urgent = bool(turn.triage_level)
        if is_off_topic_request(message) and not urgent:
            turn.category = "out_of_scope"
            turn.steps.append({"step": "scope", "decision": "out_of_scope", "reason": "off-topic request"})
            return
        expansion = self._expand(res.query)
        turn.query = expansion.query
        turn.steps.append({"step": "expand", "added": expansion.added, "drugs": [d.generic for d in expansion.drugs]})
        search = self.search
        turn.vectors = self._vectors(expansion, cache)
        hits = search.search(turn.query, turn.vectors, s.candidates, s.candidates, s.retrieval_mode)
        turn.hits = hits
        top_dense = max((h.dense for h in hits if h.dense is not None), default=0.0)
        turn.steps.append({"step": "retrieve", "mode": s.retrieval_mode, "top_similarity": round(top_dense, 4),
                           "hits": [{"id": h.id, "score": round(h.score, 4)} for h in hits]})
        health = is_health_related(message, self.vocab) or (res.follow_up and bool(res.carried))
        if not urgent and not health and top_dense < OUT_OF_SCOPE_SIMILARITY:
            turn.category = "out_of_scope"
            turn.steps.append({"step": "scope", "decision": "out_of_scope", "reason": "no health words, low similarity"})
            return
        missing = [d for d in expansion.drugs if not self._covered(d)]
        covered = [d for d in expansion.drugs if self._covered(d)]
        specific = [t for t in set(tokenize(turn.query)) if t not in GENERIC]
        known = [t for t in specific if t in search.doc_freq or search.near(t)]
        if not urgent and ((missing and not covered) or (specific and not known)):
            turn.category = "no_coverage"
            topic = " and ".join(d.generic for d in missing) if missing else None
            turn.lead.append(no_coverage_text(topic))
            turn.steps.append({"step": "scope", "decision": "no_coverage", "missing_drugs": [d.generic for d in missing],
                               "unknown_words": sorted(set(specific) - set(known))})
            return
        if missing:
            turn.lead.append(texts()["partial_coverage"].format(topic=" and ".join(d.generic for d in missing)))
        if urgent:
            turn.lead.append(texts()["urgent_then_info"])
        elif is_personal_decision(message):
            turn.lead.append(texts()["personal_decision"])
            turn.steps.append({"step": "scope", "decision": "personal_decision"})
        query, passages, idf = self._focus(turn, res, hits)
        # an urgent reply stays short: the guidance, then only the most relevant passage, never a promotional one
        if urgent:
            passages = [h for h in passages if not h.document.metadata.get("promotional")]
        turn.composed = compose(query, passages, idf, search.doc_freq, max_passages=1 if urgent else s.top_k)
        turn.steps.append({"step": "compose", "sentences": len(turn.composed.sentences),
                           "citations": [c.chunk_id for c in turn.composed.citations]})
        if not turn.composed.sentences and not urgent:
            turn.category = "no_coverage"
            turn.lead = [no_coverage_text(None)]
            return
        if use_llm and turn.composed.sentences:
            self._write(turn, res.query)
        promo = [c.id for c in turn.citations if c.promotional]
        if promo:
            turn.tail.append(promotional_caution(promo))

    def _focus(self, turn: Turn, res: Resolution, hits: list[Hit]):
        """How the answer's sentences are chosen. A follow-up that refers back ("What are its side effects?")
        is retrieved with the earlier topic; but every passage about that topic names it, so among the passages
        about the topic, its sentences are chosen mostly by the follow-up's own words (the topic's words count
        for a fraction of their weight)."""
        search = self.search
        if not (res.follow_up and res.carried) or res.cue.startswith("ellipsis"):
            return turn.query, hits, search.idf  # "and for progressive MS?": the earlier topic is part of the question
        topic = set(tokenize(res.carried)) - GENERIC
        on_topic = [h for h in hits if topic & set(tokenize(embedding_text(h.document)))]
        own = set(tokenize(self.vocab.expand(turn.message).query)) - GENERIC - topic
        if not on_topic or not [t for t in own if t in search.doc_freq]:
            return turn.query, hits, search.idf  # nothing of its own to choose by ("what else?")
        turn.steps.append({"step": "focus", "topic_weight": TOPIC_WEIGHT, "passages": [h.id for h in on_topic[:6]]})
        return turn.query, on_topic, lambda t: search.idf(t) * (TOPIC_WEIGHT if t in topic else 1.0)

    def _write(self, turn: Turn, question: str) -> None:
        """Let the model write the body from the cited passages; keep the extractive body unless it passes."""
        if self.llm is None:
            if self.llm_unavailable:
                turn.llm_fallback = self.llm_unavailable
                turn.steps.append({"step": "llm", "task": "answer", "used": False, "model": self.settings.llm,
                                   "fallback": self.llm_unavailable})
            return
        passages = [Passage(c.id, c.passage, c.title, c.kind) for c in turn.composed.citations]
        try:
            checked = self.llm.answer(question, passages)
        except LLMFallback as exc:
            turn.llm_fallback = exc.reason
            turn.steps.append({"step": "llm", "task": "answer", "used": False, "model": self.llm.label,
                               "fallback": exc.reason})
            return
        number = {old: new for new, old in enumerate(checked.cited(), start=1)}
        by_id = {c.id: c for c in turn.composed.citations}
        turn.shown = [replace(by_id[old], id=new) for old, new in number.items()]
        turn.body = [f"{s} " + " ".join(f"[{number[i]}]" for i in ids) for s, ids in checked.sentences]
        turn.steps.append({"step": "llm", "task": "answer", "used": True, "model": self.llm.label,
                           "sentences": len(turn.body), "citations": [c.chunk_id for c in turn.shown]})

    def decide(self, message: str, history: Sequence = ()) -> Turn:
        """The whole decision for one message (`history`: earlier turns of the conversation), not logged."""
        turn = Turn(message=message)
        self._triage(turn)
        self._decide(turn, history)
        return turn

    def pieces(self, turn: Turn) -> list[str]:
        """The answer, in the order it is shown: urgent guidance first, notices last."""
        out = [turn.urgent] if turn.urgent else []
        if turn.category == "out_of_scope":
            out.append(texts()["out_of_scope"])
        out += turn.lead + turn.body_pieces() + turn.tail
        return out + [self.notices.care_team, self.notices.red_flags]

    def _history(self, session_id: str | None) -> list:
        if not session_id:
            return []
        try:
            return list(self.logstore.history(session_id))
        except Exception:  # a conversation that cannot be read is answered as a new one
            log.exception("could not read the history of a session")
            return []

    def _run(self, message: str, session_id: str | None) -> Iterator[tuple[str, object]]:
        """The pipeline as a stream: ("delta", text) pieces as soon as each is known, then ("final", reply)."""
        start = time.perf_counter()
        sent: list[str] = []

        def delta(piece: str) -> tuple[str, str]:
            sent.append(piece)
            return "delta", ("\n\n" if len(sent) > 1 else "") + piece

        turn = Turn(message=message)
        self._triage(turn)
        if turn.urgent:
            yield delta(turn.urgent)  # before anything is looked up
        history = self._history(session_id)
        session_id = session_id or uuid.uuid4().hex
        self._decide(turn, history)
        pieces = self.pieces(turn)  # begins with the urgent guidance already sent
        for piece in pieces[len(sent):]:
            yield delta(piece)
        answer = "\n\n".join(pieces)
        follow_ups = self._suggest(turn, history)
        citations = [c.public() for c in turn.citations]
        record = self.logstore.record(
            session_id, message=message, resolved_query=turn.query, topic=turn.topic, answer=answer,
            category=turn.category, triage_level=turn.triage_level, triage_rule=turn.triage_rule,
            citations=[{**c, "chunk_id": cc.chunk_id} for c, cc in zip(citations, turn.citations)],
            retrieval_mode=self.settings.retrieval_mode, embedding_model=self.embeddings.label,
            latency_ms=round(1000 * (time.perf_counter() - start), 2), llm_fallback=turn.llm_fallback,
            steps=turn.steps + [{"step": "follow_ups", "suggested": follow_ups}],
        )
        yield "final", ChatReply(
            session_id=session_id, turn_id=record.id, category=turn.category, answer=answer, citations=citations,
            safety={"urgent": turn.urgent, "care_team": self.notices.care_team, "red_flags": self.notices.red_flags},
            follow_ups=follow_ups,
        )

    def reply(self, message: str, session_id: str | None = None) -> ChatReply:
        for kind, payload in self._run(message, session_id):
            if kind == "final":
                return payload
        raise RuntimeError("the pipeline ended without a reply")  # pragma: no cover

    def stream(self, message: str, session_id: str | None = None) -> Iterator[tuple[str, object]]:
        """Yield ("delta", text) pieces as the answer is composed, then ("final", ChatReply). The urgent
        guidance, when there is any, is the first piece, sent before retrieval starts; the deltas joined
        are exactly the final answer."""
        yield from self._run(message, session_id)

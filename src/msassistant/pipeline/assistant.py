"""The assistant: one orchestrator over the stages, from a message to a logged reply.

triage → resolve (follow-ups) → scope → retrieve → scope → compose (→ model, when on) → render → log.
Each stage records one typed step (steps.py) on the turn, so that staff can see why an answer came out as
it did. The reply is built as pieces, in the order they are shown, so that it can be streamed: the urgent
guidance is ready as soon as triage has run, before anything is retrieved.
"""

from __future__ import annotations

import logging
import time
from typing import Iterator, Sequence

from ..config import Settings, get_settings
from ..index.embeddings import SentenceTransformerEmbeddings
from ..index.search import HybridSearch
from ..index.store import Index
from ..schemas import ChatReply
from ..store import LogStore, new_session_id
from . import compose, render, scope
from .answerable_net import AnswerableNet
from .conversation import Resolution, resolve
from .curation import ReviewLoop
from .followups import FollowUps, Suggestions
from .llm import DEFAULT, rewrite_follow_up, write_answer, writer_for
from .retrieve import Library
from .steps import FollowUpsStep, ReviewLoopStep
from .triage_net import Triager
from .turn import Turn
from .vocabulary import Vocabulary, vocabulary

log = logging.getLogger(__name__)


class Assistant:
    def __init__(self, settings: Settings | None = None, embeddings=None, index: Index | None = None,
                 logstore: LogStore | None = None, vocab: Vocabulary | None = None, llm=DEFAULT):
        """Missing parts are built from the settings. `llm`: a LangChain chat model to use instead of the one
        MSA_LLM names; None turns the model off."""
        self.settings = settings = settings or get_settings()
        self.embeddings = embeddings or SentenceTransformerEmbeddings.from_settings(settings)
        self.logstore = logstore or LogStore(settings.db_url)
        self.vocab = vocab or vocabulary()
        self.library = Library(settings, self.embeddings, index or Index(settings, self.embeddings, self.embeddings.index_label),
                               self.vocab)
        self.suggestions = Suggestions(settings, self.library, self.vocab, self._answers)
        self.notices = render.notices(settings)
        self.triager = Triager(self.embeddings, emergency_number=settings.emergency_number,
                               crisis_line=settings.crisis_line, learned=settings.triage_net)
        self.answerable = AnswerableNet.load(self.embeddings.label) if settings.answerable_net else None
        self.llm, self.llm_unavailable = writer_for(settings, llm)
        self.review_loop = ReviewLoop(self.logstore.curation, self.embeddings.embed_documents,
                                      similarity=settings.reviewed_similarity,
                                      second_approval=settings.reviewed_needs_second_approval, vocab=self.vocab)

    # ---- lifecycle -------------------------------------------------------------------------------------
    @property
    def index(self) -> Index:
        return self.library.index

    @property
    def search(self) -> HybridSearch:
        return self.library.search

    @property
    def follow_ups(self) -> FollowUps:
        return self.suggestions.pool

    def ensure_index(self, progress: bool = False):
        """Build or refresh the index from the corpus (incremental), then load the search."""
        loaded = self.library.loaded
        report = self.library.refresh(progress=progress)
        if self.library.loaded is not loaded:
            self.suggestions.reset()
        return report

    def warm_up(self) -> None:
        from ..store.redact import redact

        self.embeddings.embed_query("warm up")
        redact("warm up, Sarah")  # the name lists load now, not on the first message
        _ = self.search, self.follow_ups

    def health(self) -> dict:
        return self.library.health()

    # ---- the stages, in order -----------------------------------------------------------------------------
    def _triage(self, turn: Turn) -> None:
        """Red-flag triage on the person's own words, before anything else: the rules, and the learned net."""
        tri, turn.known_vectors = self.triager(turn.message)
        turn.record(tri.step())
        if tri.level:
            turn.category, turn.urgent, turn.triage_level, turn.triage_rule = "urgent", tri.guidance, tri.level, tri.rule

    def _resolve(self, turn: Turn, history: Sequence, use_llm: bool) -> Resolution:
        """Continue the conversation: a follow-up borrows the topic of the earlier turns."""
        res = resolve(turn.message, history, self.vocab, known=self.library.knows)
        if res.follow_up and use_llm and self.llm and not turn.stopped:
            res, refused = rewrite_follow_up(self.llm, turn.message, history, res, self.vocab, scope.generic())
            if refused:
                turn.record(refused)
        turn.resolution, turn.query = res, res.query
        turn.record(res.step())
        return res

    def _decide(self, turn: Turn, history: Sequence, use_llm: bool = True, cache: dict | None = None) -> None:
        """Everything after triage. Fills `turn`; logs nothing."""
        res = self._resolve(turn, history, use_llm)
        if turn.stopped:
            return
        if not res.follow_up and self.review_loop.serve(turn, self.embeddings.embed_query, self.search):
            return  # the clinic's reviewed answer; triage has run and the notices still follow
        urgent = bool(turn.triage_level)
        verdict = scope.before_retrieval(turn.message, urgent, self.vocab)
        notes: dict[str, str] = {}  # the clinic's notes on flagged passages, by chunk id
        about_claims = False
        if verdict.category is None:
            found = self.library.retrieve(res.query, cache or turn.known_vectors, prefer=res.sources)
            found.hits, notes, flagged = self.review_loop.filter(found.hits)
            if flagged:
                turn.record(flagged)
            turn.query, turn.vectors, turn.hits = found.query, found.vectors, found.hits
            about_claims = found.about_claims
            for step in found.steps(self.settings.retrieval_mode):
                turn.record(step)
            verdict = scope.after_retrieval(turn.message, res, found, self.library, self.vocab, urgent, self.answerable)
        if verdict.step:
            turn.record(verdict.step)
        turn.lead += verdict.lead
        if verdict.category:
            turn.category = verdict.category
            if verdict.category == "no_coverage":
                turn.lead.append(self.library.offer())
            return
        turn.composed, steps = compose.answer(turn.query, turn.message, res, turn.hits, self.search, self.vocab,
                                              scope.generic(), urgent, self.settings.top_k, turn.vectors,
                                              about_claims=about_claims)
        for step in steps:
            turn.record(step)
        blocked = self.review_loop.blocked([c.chunk_id for c in turn.composed.citations],
                                           [sentence for sentence, _ in turn.composed.sentences])
        if blocked is not None:  # staff marked this very answer unsafe: say the library cannot answer instead
            turn.record(ReviewLoopStep(action="blocked_unsafe", blocked_id=blocked))
            turn.composed = compose.Composed()
        if not turn.composed.sentences and not urgent:
            turn.category, turn.lead = "no_coverage", [scope.no_coverage_text(None), self.library.offer()]
            return
        changed = compose.source_changed(res.sources, turn.composed.citations)
        if changed:
            turn.lead.append(scope.texts()["source_changed"].format(title=changed))
        if use_llm and turn.composed.sentences:
            written = write_answer(self.llm, self.llm_unavailable, self.settings.llm, res.query, turn.composed.citations)
            turn.body, turn.shown, turn.llm_fallback = written.body, written.shown, written.fallback
            if written.step:
                turn.record(written.step)
        render.caution(turn)
        turn.tail += [scope.texts()["clinic_note"].format(marker=f"[{c.id}]", note=notes[c.chunk_id])
                      for c in turn.citations if c.chunk_id in notes]

    def _answers(self, question: str, cache: dict | None = None) -> list[tuple[str, str]] | None:
        """(passage id, sentence) of the answer to `question` on its own, or None when the assistant would not
        answer it from the library: what a suggested next question is checked against."""
        turn = Turn(message=question)
        self._triage(turn)
        if turn.triage_level:
            return None
        self._decide(turn, (), use_llm=False, cache=cache)
        if turn.category != "answer" or not turn.composed.sentences:
            return None
        chunk = {c.id: c.chunk_id for c in turn.composed.citations}
        return [(chunk[cid], sentence) for sentence, cid in turn.composed.sentences]

    # ---- entry points ----------------------------------------------------------------------------------
    def decide(self, message: str, history: Sequence = ()) -> Turn:
        """The whole decision for one message (`history`: earlier turns of the conversation), not logged."""
        turn = Turn(message=message)
        self._triage(turn)
        self._decide(turn, history)
        return turn

    def pieces(self, turn: Turn) -> list[str]:
        return render.pieces(turn, self.notices)

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
        self.library.follow(on_switch=self.suggestions.reset)  # a newer index from an ingest elsewhere
        session_id, history = _conversation(self.logstore, session_id)
        self._decide(turn, history)
        pieces = self.pieces(turn)  # begins with the urgent guidance already sent
        for piece in pieces[len(sent):]:
            yield delta(piece)
        answer = "\n\n".join(pieces)
        follow_ups = self.suggestions.suggest(turn, history)
        turn.record(FollowUpsStep(suggested=follow_ups))
        record = self.logstore.record(
            session_id, answer=answer, retrieval_mode=self.settings.retrieval_mode, embedding_model=self.embeddings.label,
            latency_ms=round(1000 * (time.perf_counter() - start), 2), **turn.log_fields())
        yield "final", render.reply(turn, self.notices, session_id=session_id, turn_id=record.id, answer=answer,
                                    follow_ups=follow_ups)

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


def _conversation(logstore: LogStore, session_id: str | None) -> tuple[str, list]:
    """The session a message is answered in, and its earlier turns. Only an id the server issued (one with turns
    in the log) continues its conversation; no id, any other id, or a session that cannot be read starts a new
    conversation under a new id: a client never names the session it gets."""
    history: list = []
    if session_id:
        try:
            history = list(logstore.history(session_id))
        except Exception:
            log.exception("could not read the history of a session")
    return (session_id, history) if session_id and history else (new_session_id(), [])

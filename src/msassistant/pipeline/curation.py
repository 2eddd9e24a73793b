"""The review loop, as the assistant reads it: reviewed answers served, unsafe answers stopped, flagged passages.

Staff reviews (store/curation.py) change what the next patient gets: a corrected answer is served to the
same question and its close paraphrases (after triage, before the notices: it never bypasses safety); an
answer marked unsafe is not composed again; a flagged passage is left out, or cited with the clinic's note.
The records are re-read when the store's fingerprint changes, checked at most every `RECHECK` seconds.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from ..index.search import Hit
from ..store.curation import Curation, Snapshot, passage_sha
from ..store.models import ReviewedAnswer, as_utc
from .steps import ReviewLoopStep

if TYPE_CHECKING:
    from .turn import Turn

RECHECK = 1.0  # seconds between fingerprint checks


def comparable(question: str, vocab) -> str:
    """A question as the review loop compares it: misspellings corrected, lay words expanded, so that "Imuran
    side efects" and "azathioprine side effects" meet."""
    return vocab.expand(vocab.correct(question)).query


@dataclass
class State:
    snapshot: Snapshot
    vectors: np.ndarray  # one normalised row per servable reviewed answer
    servable: list[ReviewedAnswer]
    flags: dict[str, tuple[str, str]] = field(default_factory=dict)  # passage sha -> (action, note)


@dataclass(frozen=True)
class Match:
    reviewed: ReviewedAnswer
    similarity: float

    def lead(self) -> str:
        day = as_utc(self.reviewed.approved_at or self.reviewed.created_at) or datetime.now()
        return f"Reviewed by the clinic team on {day.day} {day:%B %Y}."


class ReviewLoop:
    def __init__(self, curation: Curation, embed: Callable[[list[str]], list[list[float]]], *,
                 similarity: float, second_approval: bool, vocab=None):
        self.curation, self.embed, self.vocab = curation, embed, vocab
        self.similarity, self.second_approval = similarity, second_approval
        self._state: State | None = None
        self._fingerprint: tuple | None = None
        self._checked = 0.0
        self._writes = -1
        self._lock = threading.Lock()

    def state(self) -> State:
        now = time.monotonic()
        if self._state is not None and now - self._checked < RECHECK and self.curation.writes == self._writes:
            return self._state  # nothing changed here, and another process's change shows within RECHECK
        with self._lock:
            fingerprint = self.curation.fingerprint()
            self._checked, self._writes = time.monotonic(), self.curation.writes
            if self._state is None or fingerprint != self._fingerprint:
                self._state, self._fingerprint = self._load(self.curation.snapshot()), fingerprint
        return self._state

    def _load(self, snap: Snapshot) -> State:
        servable = [r for r in snap.reviewed if r.approved_by or not self.second_approval]
        vectors = np.zeros((0, 0), dtype=np.float32)
        if servable:
            vectors = np.asarray(self.embed([self._comparable(r.question) for r in servable]), dtype=np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12
        flags = {f.passage_sha: (f.action, f.note) for f in reversed(snap.flags)}  # the newest flag wins
        return State(snap, vectors, servable, flags)

    def _comparable(self, question: str) -> str:
        return comparable(question, self.vocab) if self.vocab is not None else question

    # ---- the three effects ---------------------------------------------------------------------------------
    def match(self, vector: Sequence[float] | None, embed: Callable[[], Sequence[float]] | None = None) -> Match | None:
        """The reviewed answer to a question this close to a reviewed one, if any. `embed`: makes the
        question's vector when `vector` is None (only called when there are reviewed answers)."""
        state = self.state()
        if not state.servable:
            return None
        if vector is None:
            if embed is None:
                return None
            vector = embed()
        q = np.asarray(vector, dtype=np.float32)
        sims = state.vectors @ (q / (np.linalg.norm(q) + 1e-12))
        best = int(np.argmax(sims))
        return Match(state.servable[best], float(sims[best])) if sims[best] >= self.similarity else None

    def serve(self, turn: "Turn", embed_query: Callable[[str], Sequence[float]], search) -> bool:
        """Give `turn` the clinic's reviewed answer when its question is (close to) one staff corrected: the
        reviewed lead, the answer, and the passages it rests on (less any flagged since). False when none."""
        from .compose import citations_for

        text = self._comparable(turn.message)
        found = self.match(turn.known_vectors.get(text), lambda: embed_query(text))
        if found is None:
            return False
        turn.category = "answer"
        turn.lead.append(found.lead())
        turn.body = [found.reviewed.answer]
        turn.shown = [c for c in citations_for(search, list(found.reviewed.citations or [])) if not self.excluded(c.passage)]
        for n, c in enumerate(turn.shown, start=1):
            c.id = n
        turn.record(ReviewLoopStep(action="served_reviewed", reviewed_id=found.reviewed.id,
                                   similarity=round(found.similarity, 4)))
        return True

    def filter(self, hits: list[Hit]) -> tuple[list[Hit], dict[str, str], ReviewLoopStep | None]:
        """Hits without the passages flagged `exclude`, and the clinic's notes on those flagged `annotate`."""
        flags = self.state().flags
        if not flags:
            return hits, {}, None
        kept, excluded, notes = [], [], {}
        for hit in hits:
            flag = flags.get(passage_sha(hit.document.page_content))
            if flag and flag[0] == "exclude":
                excluded.append(hit.id)
                continue
            if flag:
                notes[hit.id] = flag[1]
            kept.append(hit)
        if not excluded and not notes:
            return hits, {}, None
        return kept, notes, ReviewLoopStep(action="flagged_passages", excluded=excluded or None,
                                           annotated=sorted(notes) or None)

    def excluded(self, passage: str) -> bool:
        flag = self.state().flags.get(passage_sha(passage))
        return bool(flag and flag[0] == "exclude")

    def blocked(self, chunk_ids: Sequence[str], sentences: Sequence[str]) -> int | None:
        """The id of the unsafe answer this one repeats (the same passages, the same sentences), if any."""
        shown = {s.strip() for s in sentences}
        for b in self.state().snapshot.blocked:
            if list(b.chunk_ids) == list(chunk_ids) and shown and shown <= {s.strip() for s in b.sentences}:
                return b.id
        return None

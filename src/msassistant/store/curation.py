"""The review loop's records: reviewed answers, answers stopped as unsafe, and flagged passages.

Written by the console (and the CLI) when staff review a turn; read by the assistant (pipeline/curation.py)
on every turn, through `fingerprint`, which changes whenever any of them does.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from .models import FLAG_ACTIONS, BlockedAnswer, PassageFlag, ReviewedAnswer, Turn, utcnow

MARKED = re.compile(r"(?:^|(?<=\]))\s*([^\[\]\n]+?)\s*\[\d+\](?=\s|$)")


def passage_sha(text: str) -> str:
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()


def cited_sentences(answer: str) -> list[str]:
    """The sentences of a logged answer that carry a citation marker, without it."""
    return [m.group(1).strip() for line in answer.split("\n") for m in MARKED.finditer(line) if m.group(1).strip()]


@dataclass(frozen=True)
class Snapshot:
    reviewed: tuple[ReviewedAnswer, ...]
    blocked: tuple[BlockedAnswer, ...]
    flags: tuple[PassageFlag, ...]


class Curation:
    def __init__(self, sessions: sessionmaker):
        self.sessions = sessions
        self.writes = 0  # bumped by every change made through this object: this process sees it at once

    def _changed(self, row):
        self.writes += 1
        return row

    # ---- reviewed answers -------------------------------------------------------------------------------
    def add_reviewed(self, turn_id: str, answer: str, by: str) -> ReviewedAnswer | None:
        """The corrected answer of a review, for the turn's question, resting on the turn's passages."""
        with self.sessions.begin() as db:
            turn = db.get(Turn, turn_id)
            if turn is None or not answer.strip():
                return None
            row = ReviewedAnswer(turn_id=turn_id, question=turn.message, answer=answer.strip(),
                                 citations=[c.get("chunk_id") for c in (turn.citations or []) if c.get("chunk_id")],
                                 created_by=by)
            db.add(row)
        return self._changed(row)

    def edit_reviewed(self, reviewed_id: int, answer: str, by: str) -> ReviewedAnswer | None:
        """A new text for a reviewed answer: a new version replaces it (the old one is retired, so the history
        stays), and it needs a second approval again when the clinic requires one."""
        with self.sessions.begin() as db:
            old = db.get(ReviewedAnswer, reviewed_id)
            if old is None or old.retired_at is not None or not answer.strip():
                return None
            old.retired_at = utcnow()
            row = ReviewedAnswer(turn_id=old.turn_id, question=old.question, answer=answer.strip(),
                                 citations=list(old.citations or []), created_by=by)
            db.add(row)
        return self._changed(row)

    def approve_reviewed(self, reviewed_id: int, by: str) -> bool:
        """A second reviewer's approval: never the author's own."""
        with self.sessions.begin() as db:
            row = db.get(ReviewedAnswer, reviewed_id)
            if row is None or row.created_by == by or row.retired_at is not None:
                return False
            row.approved_by, row.approved_at = by, utcnow()
        return bool(self._changed(True))

    def retire_reviewed(self, reviewed_id: int) -> bool:
        with self.sessions.begin() as db:
            row = db.get(ReviewedAnswer, reviewed_id)
            if row is None or row.retired_at is not None:
                return False
            row.retired_at = utcnow()
        return bool(self._changed(True))

    def list_reviewed(self, include_retired: bool = False) -> list[ReviewedAnswer]:
        with self.sessions() as db:
            q = select(ReviewedAnswer).order_by(ReviewedAnswer.id.desc())
            if not include_retired:
                q = q.where(ReviewedAnswer.retired_at.is_(None))
            return list(db.scalars(q))

    # ---- unsafe answers ------------------------------------------------------------------------------------
    def block(self, turn_id: str, by: str, reason: str | None = None) -> BlockedAnswer | None:
        """Stop the answer a turn gave (its passages, composed the same way) from being served again."""
        with self.sessions.begin() as db:
            turn = db.get(Turn, turn_id)
            if turn is None:
                return None
            chunks = [c.get("chunk_id") for c in (turn.citations or []) if c.get("chunk_id")]
            if not chunks:
                return None  # a reply that cited nothing composed nothing to stop
            row = BlockedAnswer(turn_id=turn_id, chunk_ids=chunks, sentences=cited_sentences(turn.answer),
                                reason=reason, created_by=by)
            db.add(row)
        return self._changed(row)

    def list_blocked(self) -> list[BlockedAnswer]:
        with self.sessions() as db:
            return list(db.scalars(select(BlockedAnswer).order_by(BlockedAnswer.id.desc())))

    # ---- flagged passages ------------------------------------------------------------------------------------
    def flag_passage(self, chunk_id: str, passage: str, action: str, note: str, by: str) -> PassageFlag:
        if action not in FLAG_ACTIONS:
            raise ValueError(f"action must be one of {', '.join(FLAG_ACTIONS)}")
        if not note.strip():
            raise ValueError("say what is wrong with the passage")
        with self.sessions.begin() as db:
            row = PassageFlag(chunk_id=chunk_id, passage_sha=passage_sha(passage), action=action,
                              note=note.strip(), created_by=by)
            db.add(row)
        return self._changed(row)

    def clear_flag(self, flag_id: int) -> bool:
        with self.sessions.begin() as db:
            row = db.get(PassageFlag, flag_id)
            if row is None or row.cleared_at is not None:
                return False
            row.cleared_at = utcnow()
        return bool(self._changed(True))

    def list_flags(self) -> list[PassageFlag]:
        with self.sessions() as db:
            return list(db.scalars(select(PassageFlag).where(PassageFlag.cleared_at.is_(None))
                                   .order_by(PassageFlag.id.desc())))

    # ---- what the assistant reads ------------------------------------------------------------------------------
    def fingerprint(self) -> tuple:
        """Changes whenever a reviewed answer, a block or a flag is added, edited, approved, retired or cleared."""
        with self.sessions() as db:
            out: list = []
            for model, stamps in ((ReviewedAnswer, (ReviewedAnswer.approved_at, ReviewedAnswer.retired_at)),
                                  (BlockedAnswer, ()), (PassageFlag, (PassageFlag.cleared_at,))):
                out += list(db.execute(select(func.count(), func.max(model.id),
                                              *[func.max(s) for s in stamps], *[func.count(s) for s in stamps])).one())
            return tuple(str(x) for x in out)

    def snapshot(self) -> Snapshot:
        return Snapshot(tuple(self.list_reviewed()), tuple(self.list_blocked()), tuple(self.list_flags()))

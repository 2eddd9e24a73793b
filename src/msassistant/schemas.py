"""The HTTP contract, shared by the API, the CLI and the service."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, StrictStr, WithJsonSchema,
                      field_validator, model_validator)

from .text import valid_text

Category = Literal["answer", "no_coverage", "out_of_scope", "urgent"]
SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
SESSION_ID_SCHEMA = {"type": "string", "pattern": SESSION_ID.pattern, "minLength": 8, "maxLength": 64}
# Text a person typed, made valid Unicode before anything else reads it: lone surrogate halves become U+FFFD
# and NUL characters go (see text.valid_text), so triage, the log and every encoder see the same clean text.
UserText = Annotated[StrictStr, BeforeValidator(lambda v: valid_text(v) if isinstance(v, str) else v)]
# Session ids are issued by the server (store.new_session_id); a reply's id always has this form.
SessionId = Annotated[str, WithJsonSchema(SESSION_ID_SCHEMA)]


def _issued_form(value: object) -> object:
    """A session id sent back: one not in the form the server issues is dropped, so it starts a new conversation."""
    if isinstance(value, str) and not SESSION_ID.fullmatch(value):
        return None
    return value


SentSessionId = Annotated[StrictStr | None, BeforeValidator(_issued_form)]


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    message: UserText = Field(description="The question, 1 to 2,000 characters by default (MSA_MAX_MESSAGE_CHARS).")
    session_id: SentSessionId = Field(
        default=None, description="The session_id of an earlier reply, to continue that conversation. Null, or an id "
                                  "this server did not issue, starts a new one (the reply carries its new session_id).")
    _sent_chars: int = PrivateAttr(default=0)  # the message's length as sent (less NULs), before trimming

    @field_validator("message")
    @classmethod
    def _message(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("message is empty: type a question")
        return value

    @model_validator(mode="after")
    def _trim(self) -> "ChatRequest":
        self._sent_chars = len(self.message)
        self.message = self.message.strip()
        return self

    def too_long(self, limit: int) -> str | None:
        """Why the message is over the limit (MSA_MAX_MESSAGE_CHARS), in words; None when it is not."""
        if self._sent_chars > limit:
            return f"message is {self._sent_chars} characters long; the limit is {limit}"
        return None


class CitationOut(BaseModel):
    id: int
    source: str
    title: str
    passage: str
    score: float
    kind: str
    credibility: str


class Safety(BaseModel):
    urgent: str | None
    # the red-flag level of an urgent reply (what the widget shows a crisis or emergency by); None otherwise
    level: Literal["emergency", "crisis", "urgent"] | None = None
    care_team: str
    red_flags: str
    # the same two notices in at most two lines, for a phone after the first reply (the full text opens from it)
    compact: str = ""


class ChatReply(BaseModel):
    session_id: SessionId = Field(description="Issued by the server: send it with the next message to continue.")
    turn_id: str
    category: Category
    answer: str
    citations: list[CitationOut]
    safety: Safety
    follow_ups: list[str] = Field(default_factory=list)


class FeedbackRequest(BaseModel):
    turn_id: UserText = Field(min_length=1, max_length=64)
    rating: Literal["up", "down"]
    comment: UserText | None = Field(default=None, max_length=2000)

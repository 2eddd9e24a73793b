"""Chat endpoints: one reply as JSON, or streamed as server-sent events; feedback and deleting a conversation."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.concurrency import iterate_in_threadpool, run_in_threadpool
from sse_starlette.sse import EventSourceResponse

from ..schemas import SESSION_ID, ChatReply, FeedbackRequest
from .deps import AssistantDep, ChatBody, StoreDep
from .limits import CHAT, FEEDBACK, SESSIONS

router = APIRouter(prefix="/api", tags=["chat"])
SessionPath = Annotated[str, Path(pattern=SESSION_ID.pattern, min_length=8, max_length=64,
                                  description="The session_id of a reply: 8-64 letters, digits, '-' or '_'.")]


def _limit(request: Request, bucket: str) -> None:
    request.app.state.chat_limit.hit(request, bucket)


@router.post("/chat", response_model=ChatReply)
async def chat(request: Request, body: ChatBody, assistant: AssistantDep) -> ChatReply:
    _limit(request, CHAT)
    return await run_in_threadpool(assistant.reply, body.message, body.session_id)


@router.post("/chat/stream")
async def chat_stream(request: Request, body: ChatBody, assistant: AssistantDep):
    _limit(request, CHAT)  # one count with /api/chat: streaming is no way around the limit

    async def events():
        try:
            async for kind, payload in iterate_in_threadpool(assistant.stream(body.message, body.session_id)):
                if kind == "delta":
                    yield {"event": "delta", "data": json.dumps({"text": payload})}
                else:
                    yield {"event": "final", "data": payload.model_dump_json()}
        except Exception as exc:  # the stream is already open: report, don't crash the connection
            yield {"event": "error", "data": json.dumps({"detail": f"the assistant failed: {type(exc).__name__}"})}

    return EventSourceResponse(events(), ping=15)


@router.post("/feedback")
async def feedback(request: Request, body: FeedbackRequest, store: StoreDep) -> dict:
    _limit(request, FEEDBACK)
    if not await run_in_threadpool(store.add_feedback, body.turn_id, body.rating, body.comment):
        raise HTTPException(status_code=404, detail=f"no turn {body.turn_id!r}")
    return {"ok": True}


@router.delete("/sessions/{session_id}")
async def delete_session(request: Request, session_id: SessionPath, store: StoreDep) -> dict:
    _limit(request, SESSIONS)
    return {"deleted": await run_in_threadpool(store.delete_session, session_id)}

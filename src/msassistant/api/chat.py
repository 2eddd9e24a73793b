"""Chat endpoints: one reply as JSON, or streamed as server-sent events."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.concurrency import iterate_in_threadpool, run_in_threadpool
from sse_starlette.sse import EventSourceResponse

from ..schemas import ChatReply, ChatRequest, FeedbackRequest
from .deps import AssistantDep
from .limits import chat_limit, limiter

router = APIRouter(prefix="/api", tags=["chat"])


@router.post("/chat", response_model=ChatReply)
@limiter.limit(chat_limit)
async def chat(request: Request, body: ChatRequest, assistant: AssistantDep) -> ChatReply:
    return await run_in_threadpool(assistant.reply, body.message, body.session_id)


@router.post("/chat/stream")
@limiter.limit(chat_limit)
async def chat_stream(request: Request, body: ChatRequest, assistant: AssistantDep):
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
async def feedback(body: FeedbackRequest, assistant: AssistantDep) -> dict:
    from fastapi import HTTPException

    if not await run_in_threadpool(assistant.logstore.add_feedback, body.turn_id, body.rating, body.comment):
        raise HTTPException(status_code=404, detail=f"no turn {body.turn_id!r}")
    return {"ok": True}


@router.delete("/sessions/{session_id}")
async def delete_session(session_id: str, assistant: AssistantDep) -> dict:
    return {"deleted": await run_in_threadpool(assistant.logstore.delete_session, session_id)}

"""Health: status, corpus size and the embedding model in use."""

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from .deps import AssistantDep

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health")
async def health(assistant: AssistantDep) -> dict:
    return await run_in_threadpool(assistant.health)

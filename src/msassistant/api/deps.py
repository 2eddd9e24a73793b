"""FastAPI dependencies: the app's settings, its store and its assistant, each built once by create_app()."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError

from ..config import Settings
from ..pipeline.assistant import Assistant
from ..schemas import ChatRequest
from ..store import LogStore


def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with (not the process-wide MSA_* ones)."""
    return request.app.state.settings


def get_store(request: Request) -> LogStore:
    store = request.app.state.store
    if store is None:
        raise HTTPException(status_code=503, detail="the log is not open: the app has not started")
    return store


def get_assistant(request: Request) -> Assistant:
    assistant = request.app.state.assistant
    if assistant is None:
        raise HTTPException(status_code=503, detail="this server runs without the assistant")
    return assistant


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
StoreDep = Annotated[LogStore, Depends(get_store)]
AssistantDep = Annotated[Assistant, Depends(get_assistant)]


def chat_request(body: ChatRequest, settings: SettingsDep) -> ChatRequest:
    """The request body, with the message held to the app's MSA_MAX_MESSAGE_CHARS (a 422 like any other)."""
    problem = body.too_long(settings.max_message_chars)
    if problem:
        raise RequestValidationError([{"type": "value_error", "loc": ("body", "message"), "msg": problem}])
    return body


ChatBody = Annotated[ChatRequest, Depends(chat_request)]

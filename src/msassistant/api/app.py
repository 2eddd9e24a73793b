"""The FastAPI application: create_app() builds everything once, from one Settings."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..config import Settings, get_settings
from ..index.embeddings import SentenceTransformerEmbeddings
from ..pipeline.assistant import Assistant
from ..store import LogStore
from . import chat, health, widget
from .edge import BodyLimit, SecurityHeaders
from .limits import RateLimit, TooManyRequests, too_many_requests

# A body the JSON reader could not read at all, by the reason it gave (FastAPI reports these as a 400); they
# get the 422 that malformed JSON gets. The first match wins: UnicodeDecodeError is also a ValueError.
UNREADABLE_BODY = ((UnicodeDecodeError, "request body is not valid UTF-8"),
                   (RecursionError, "request body is nested too deeply"),
                   (ValueError, "request body is not valid JSON"))


def _explain(exc: RequestValidationError) -> list[dict]:
    """Validation errors without echoing the (possibly huge or hostile) input back."""
    out = []
    for err in exc.errors():
        msg = err.get("msg", "invalid")
        if err.get("type") == "json_invalid":
            msg = "request body is not valid JSON"
        out.append({"loc": list(err.get("loc", [])), "msg": msg.removeprefix("Value error, "), "type": err.get("type")})
    return out


def _unreadable_body(exc: StarletteHTTPException) -> str | None:
    """Why a body could not be parsed, when that is what a 400 from FastAPI means; else None."""
    if exc.status_code != 400 or exc.__cause__ is None:
        return None
    return next((why for kind, why in UNREADABLE_BODY if isinstance(exc.__cause__, kind)), None)


def _document_limits(app: FastAPI, settings: Settings) -> None:
    """The OpenAPI schema states this app's message limit (MSA_MAX_MESSAGE_CHARS), which the model cannot
    know; the form of an issued session id is stated by the reply's model itself."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = build()
            fields = schema.get("components", {}).get("schemas", {}).get("ChatRequest", {}).get("properties", {})
            if "message" in fields:
                fields["message"].update(minLength=1, maxLength=settings.max_message_chars)
        return app.openapi_schema

    app.openapi = openapi


def create_app(settings: Settings | None = None, assistant: Assistant | None = None, store: LogStore | None = None,
               *, load_assistant: bool = True) -> FastAPI:
    """The chat API, the widget, health and the review console, all governed by `settings`.

    What is not given is built once, when the app starts: the store (the assistant's own when an assistant
    is given), then the assistant over that same store. With `load_assistant=False` no assistant is built,
    so the console runs without the embedding model; the chat and health endpoints then answer 503.
    """
    settings = settings or get_settings()
    if store is None and assistant is not None:
        store = assistant.logstore

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if app.state.store is None:
            app.state.store = LogStore(settings.db_url)
        if app.state.assistant is None and load_assistant:
            app.state.assistant = Assistant(settings, embeddings=SentenceTransformerEmbeddings.from_settings(settings),
                                            logstore=app.state.store)
        if app.state.assistant is not None:
            app.state.assistant.warm_up()
        yield

    app = FastAPI(title="msassistant", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.store = store
    app.state.assistant = assistant
    app.state.chat_limit = RateLimit(settings.rate_limit)
    app.add_exception_handler(TooManyRequests, too_many_requests)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": _explain(exc)})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        why = _unreadable_body(exc)
        if why:
            return JSONResponse(status_code=422, content={"detail": [{"loc": ["body"], "msg": why, "type": "json_invalid"}]})
        return await http_exception_handler(request, exc)

    # outermost last: the security headers and CORS reach every response, the body limit's 413 among them
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        CORSMiddleware, allow_origins=settings.allowed_origins, allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["Content-Type"], allow_credentials=False,
    )
    for module in (chat, health, widget):
        app.include_router(module.router)
    from ..admin import install as install_admin  # here, not at the top: the console imports this package's deps

    install_admin(app, settings)  # the review console at /admin
    app.add_middleware(SecurityHeaders)
    _document_limits(app, settings)
    return app

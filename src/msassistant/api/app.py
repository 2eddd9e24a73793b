"""The FastAPI application: create_app() builds everything once, from one Settings."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from ..config import Settings, get_settings
from ..index.embeddings import SentenceTransformerEmbeddings
from ..pipeline.assistant import Assistant
from ..store import LogStore
from . import chat, health, widget
from .limits import RateLimit, TooManyRequests, too_many_requests


def _explain(exc: RequestValidationError) -> list[dict]:
    """Validation errors without echoing the (possibly huge or hostile) input back."""
    out = []
    for err in exc.errors():
        msg = err.get("msg", "invalid")
        if err.get("type") == "json_invalid":
            msg = "request body is not valid JSON"
        out.append({"loc": list(err.get("loc", [])), "msg": msg.removeprefix("Value error, "), "type": err.get("type")})
    return out


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

    app.add_middleware(
        CORSMiddleware, allow_origins=settings.allowed_origins, allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["Content-Type"], allow_credentials=False,
    )
    for module in (chat, health, widget):
        app.include_router(module.router)
    from ..admin import install as install_admin  # here, not at the top: the console imports this package's deps

    install_admin(app, settings)  # the review console at /admin
    return app

"""The FastAPI application."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from slowapi import _rate_limit_exceeded_handler
from slowapi.errors import RateLimitExceeded

from ..config import Settings, get_settings
from ..pipeline.assistant import Assistant
from . import chat, health, widget
from .limits import limiter


def _explain(exc: RequestValidationError) -> list[dict]:
    """Validation errors without echoing the (possibly huge or hostile) input back."""
    out = []
    for err in exc.errors():
        msg = err.get("msg", "invalid")
        if err.get("type") == "json_invalid":
            msg = "request body is not valid JSON"
        out.append({"loc": list(err.get("loc", [])), "msg": msg.removeprefix("Value error, "), "type": err.get("type")})
    return out


def create_app(settings: Settings | None = None, assistant: Assistant | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if app.state.assistant is None:
            app.state.assistant = Assistant(settings)
        app.state.assistant.warm_up()
        yield

    app = FastAPI(title="msassistant", version="0.1.0", lifespan=lifespan)
    app.state.assistant = assistant
    app.state.settings = settings
    app.state.limiter = limiter
    app.add_exception_handler(RateLimitExceeded, _rate_limit_exceeded_handler)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": _explain(exc)})

    app.add_middleware(
        CORSMiddleware, allow_origins=settings.allowed_origins, allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["Content-Type"], allow_credentials=False,
    )
    app.dependency_overrides[get_settings] = lambda: settings
    for module in (chat, health, widget):
        app.include_router(module.router)
    from ..admin import install as install_admin

    install_admin(app, settings)  # the review console at /admin
    return app

"""The HTTP edge: a request-body limit enforced before anything is parsed, and the security headers.

Both are plain ASGI middleware, so they hold for every route (the chat API, the widget's files, the demo page)
and for responses the routes never see (a 413, a 422, a 429, a CORS preflight).
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Served documents may do nothing: no scripts, no styles, no framing. The demo page sends its own policy
# (widget.py), which lets it run the widget; the console sends its own (admin/routes.py).
STRICT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# FastAPI's interactive docs load their scripts from a CDN: they are only kept from being framed.
DOCS_CSP = "frame-ancestors 'none'"
DOCS_PATHS = ("/docs", "/redoc")
COMMON_HEADERS = (
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
)


class BodyLimit:
    """Refuses a request body over `max_bytes` with a JSON 413, before any of it is parsed.

    A declared Content-Length over the limit is refused before the body is read at all. A body sent without a
    length (chunked) is read here, counting as it comes, and refused as soon as it passes the limit; one within
    the limit is handed on whole, so the app never sees part of a body that is then refused.
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await _problem(400, "the Content-Length header is not a number")(scope, receive, send)
            elif int(declared) > self.max_bytes:
                await self._too_large(scope, receive, send)
            else:  # the server holds the body to its declared length
                await self.app(scope, receive, send)
            return

        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away while sending
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break

        body, replayed = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: only a disconnect is left to hear

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _problem(413, f"the request body is larger than the limit of {self.max_bytes} bytes")(scope, receive, send)


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


class SecurityHeaders:
    """nosniff, no referrer, no framing and a content policy on every response outside the console (which sends
    its own, stricter set); and `Cache-Control: no-store` on everything under /api/, whose answers are a
    person's health questions."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path or path == "/admin" or path.startswith("/admin/"):
            await self.app(scope, receive, send)
            return
        csp = DOCS_CSP if path.startswith(DOCS_PATHS) else STRICT_CSP
        private = path.startswith("/api/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in (*COMMON_HEADERS, ("content-security-policy", csp)):
                    if name not in headers:  # a route's own policy (the demo page's) stands
                        headers.append(name, value)
                if private:
                    headers["cache-control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)

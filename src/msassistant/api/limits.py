"""Rate limits per client address, counted by the app that enforces them.

Each app built by create_app() counts with its own limits, taken from its own settings: MSA_RATE_LIMIT
per client for each bucket of the public API (chat and its stream share one bucket, feedback has one,
deleting a conversation has one), MSA_ADMIN_LOGIN_LIMIT on the console's sign-in. Counts are kept in
this process's memory in fixed windows (the `limits` package, as slowapi keeps them), so each worker
counts its own. Every 429 says how long to wait in a Retry-After header.
"""

from __future__ import annotations

import math
import time

from fastapi import Request
from fastapi.responses import JSONResponse
from limits import parse_many
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter
from slowapi.util import get_remote_address
from starlette.exceptions import HTTPException

# the public API's buckets: the routes that share a bucket share one count per client
CHAT = "chat"  # POST /api/chat and POST /api/chat/stream
FEEDBACK = "feedback"  # POST /api/feedback
SESSIONS = "sessions"  # DELETE /api/sessions/{id}


class TooManyRequests(HTTPException):
    """A client went over a limit; `detail` names the limit, e.g. "120 per 1 minute"."""

    def __init__(self, limit: str, retry_after: int = 60):
        self.retry_after = max(1, int(retry_after))
        super().__init__(status_code=429, detail=limit, headers={"Retry-After": str(self.retry_after)})


class RateLimit:
    """A limit such as "120/minute" (or several, "10/second;120/minute") per client address."""

    def __init__(self, value: str):
        self.items = parse_many(value)
        self._counter = FixedWindowRateLimiter(MemoryStorage())

    def hit(self, request: Request, bucket: str) -> None:
        """Count one request against `bucket` (each bucket has its own count); over the limit, a 429."""
        key = get_remote_address(request)
        for item in self.items:
            if not self._counter.hit(item, key, bucket):
                reset = self._counter.get_window_stats(item, key, bucket).reset_time
                raise TooManyRequests(str(item), retry_after=math.ceil(reset - time.time()))


def too_many_requests(request: Request, exc: TooManyRequests) -> JSONResponse:
    return JSONResponse({"error": f"Rate limit exceeded: {exc.detail}"}, status_code=429,
                        headers={"Retry-After": str(exc.retry_after)})

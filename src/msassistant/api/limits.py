"""Rate limiting per client address (slowapi); the limit is the MSA_RATE_LIMIT setting."""

from slowapi import Limiter
from slowapi.util import get_remote_address

from ..config import get_settings

limiter = Limiter(key_func=get_remote_address)


def chat_limit() -> str:
    return get_settings().rate_limit

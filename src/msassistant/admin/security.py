"""Console security: the signing secret, password hashing, the signed session cookie and CSRF tokens."""

from __future__ import annotations

import hmac
import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from fastapi import Request
from fastapi.responses import Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..config import Settings

log = logging.getLogger(__name__)
COOKIE = "msa_admin"
COOKIE_PATH = "/admin"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,63}$")
MIN_PASSWORD = 10

_hasher = PasswordHasher()
_dummy_hash: str | None = None


# ---- secret ----------------------------------------------------------------------------------------
def load_secret(settings: Settings) -> str:
    """MSA_SECRET_KEY, or a random key generated once into <data>/secret_key, readable by the owner only."""
    if settings.secret_key is not None and settings.secret_key.get_secret_value():
        return settings.secret_key.get_secret_value()
    path: Path = settings.data_path / "secret_key"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        secret = path.read_text(encoding="utf-8").strip()
        if len(secret) < 32:
            raise RuntimeError(f"{path} holds no usable secret: delete it or set MSA_SECRET_KEY")
        return secret
    except OSError as exc:  # a read-only data folder must not stop the assistant itself
        log.warning("cannot store the console secret in %s (%s): console sign-ins last until the next restart; "
                    "set MSA_SECRET_KEY to keep them", path, exc)
        return secrets.token_urlsafe(48)
    secret = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(secret + "\n")
    return secret


# ---- passwords ---------------------------------------------------------------------------------------
def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not the account exists: unknown names are checked against a dummy hash."""
    global _dummy_hash
    if password_hash is None:
        if _dummy_hash is None:
            _dummy_hash = _hasher.hash(secrets.token_urlsafe(16))
        password_hash, password = _dummy_hash, password + "\x00"
        try:
            _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            pass
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return False


def password_problem(password: str) -> str | None:
    if len(password) < MIN_PASSWORD:
        return f"the password must be at least {MIN_PASSWORD} characters long"
    if password.strip() != password or not password.strip():
        return "the password must not start or end with spaces"
    return None


# ---- the session cookie ------------------------------------------------------------------------------------
@dataclass
class AdminSession:
    csrf: str
    user: str | None = None
    epoch: int = 0

    def dump(self) -> dict:
        return {"c": self.csrf, "u": self.user, "e": self.epoch}


class Sessions:
    """A signed, timestamped cookie holding the CSRF token and, once signed in, the staff name."""

    def __init__(self, secret: str, settings: Settings):
        self.serializer = URLSafeTimedSerializer(secret, salt="msassistant-admin-session")
        self.max_age = int(settings.admin_session_hours * 3600)
        self.cookie_secure = settings.cookie_secure

    def read(self, request: Request) -> AdminSession | None:
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            data = self.serializer.loads(raw, max_age=self.max_age)
        except BadSignature:  # includes expired
            return None
        if not isinstance(data, dict) or not isinstance(data.get("c"), str):
            return None
        return AdminSession(csrf=data["c"], user=data.get("u"), epoch=int(data.get("e") or 0))

    def secure(self, request: Request) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return (request.url.hostname or "").lower() not in LOCAL_HOSTS

    def write(self, request: Request, response: Response, session: AdminSession) -> None:
        response.set_cookie(
            COOKIE, self.serializer.dumps(session.dump()), max_age=self.max_age, path=COOKIE_PATH,
            httponly=True, samesite="strict", secure=self.secure(request),
        )

    def clear(self, request: Request, response: Response) -> None:
        response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict", secure=self.secure(request))


def new_csrf() -> str:
    return secrets.token_urlsafe(32)


def same_token(expected: str | None, given: str | None) -> bool:
    if not expected or not given or not isinstance(given, str):
        return False
    return hmac.compare_digest(expected.encode(), given.encode())

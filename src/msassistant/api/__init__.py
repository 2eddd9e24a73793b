"""HTTP API: one router per concern, assembled by create_app()."""

from .app import create_app

__all__ = ["create_app"]

"""The review console for clinic staff at /admin (see routes.py)."""

from .routes import PUBLIC_ROUTES, install

__all__ = ["PUBLIC_ROUTES", "install"]

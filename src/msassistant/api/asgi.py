"""ASGI entry point for multi-worker servers: `uvicorn msassistant.api.asgi:app`."""

from . import create_app

app = create_app()

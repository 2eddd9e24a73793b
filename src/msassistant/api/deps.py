"""FastAPI dependencies: settings and the process-wide assistant."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ..config import Settings, get_settings
from ..pipeline.assistant import Assistant


def get_assistant(request: Request) -> Assistant:
    return request.app.state.assistant


SettingsDep = Annotated[Settings, Depends(get_settings)]
AssistantDep = Annotated[Assistant, Depends(get_assistant)]

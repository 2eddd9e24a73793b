"""The demo page and the embeddable widget's files."""

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
router = APIRouter(tags=["widget"])


def _file(name: str, media_type: str) -> FileResponse:
    path = STATIC / name
    if not path.is_file():
        raise HTTPException(status_code=404, detail=f"{name} is not installed")
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "no-cache"})


@router.get("/", include_in_schema=False)
async def demo_page() -> FileResponse:
    return _file("demo.html", "text/html; charset=utf-8")


@router.get("/widget.js", include_in_schema=False)
async def widget_js() -> FileResponse:
    return _file("widget.js", "text/javascript; charset=utf-8")


@router.get("/widget.css", include_in_schema=False)
async def widget_css() -> FileResponse:
    return _file("widget.css", "text/css; charset=utf-8")

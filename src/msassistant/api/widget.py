"""The demo page and the embeddable widget's files."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
router = APIRouter(tags=["widget"])
_INLINE = re.compile(r"<(style|script)(?![^>]*\bsrc=)[^>]*>(.*?)</\1\s*>", re.DOTALL | re.IGNORECASE)


def inline_hashes(html: str, tag: str) -> list[str]:
    """CSP sources ('sha256-…') for each inline <style> or <script> block of a page, as a browser hashes them
    (the text between the tags, with line breaks read as the HTML parser reads them)."""
    out = []
    for found, text in _INLINE.findall(html):
        if found.lower() == tag:
            digest = hashlib.sha256(text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")).digest()
            out.append(f"'sha256-{base64.b64encode(digest).decode()}'")
    return out


def demo_policy(html: str) -> str:
    """The demo page's Content-Security-Policy: the widget's script, stylesheet and API calls from this server,
    the page's own inline blocks by hash, nothing else; and the page is never framed."""
    scripts = " ".join(["'self'", *inline_hashes(html, "script")])
    styles = " ".join(["'self'", *inline_hashes(html, "style")])
    return (f"default-src 'none'; script-src {scripts}; style-src {styles}; connect-src 'self'; img-src 'self' data:; "
            "font-src 'self'; base-uri 'none'; form-action 'self'; object-src 'none'; frame-ancestors 'none'")


def _file(name: str, media_type: str, **headers: str) -> FileResponse:
    path = STATIC / name
    if not path.is_file():
        raise HTTPException(status_code=404, detail=f"{name} is not installed")
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "no-cache", **headers})


@router.get("/", include_in_schema=False)
async def demo_page() -> FileResponse:
    path = STATIC / "demo.html"
    policy = demo_policy(path.read_text(encoding="utf-8")) if path.is_file() else ""
    return _file("demo.html", "text/html; charset=utf-8", **({"Content-Security-Policy": policy} if policy else {}))


@router.get("/widget.js", include_in_schema=False)
async def widget_js() -> FileResponse:
    return _file("widget.js", "text/javascript; charset=utf-8")


@router.get("/widget.css", include_in_schema=False)
async def widget_css() -> FileResponse:
    return _file("widget.css", "text/css; charset=utf-8")

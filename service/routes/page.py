"""The analyst's page: index.html and its static files (it asks /v1 for
every answer). Both are open paths (guard.OPEN_PATHS)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parents[1] / "static"
PAGE_HEADERS = {
    # The page loads nothing from elsewhere and runs only its own script.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
    "style-src 'self'; script-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

router = APIRouter(include_in_schema=False)


@router.get("/")
async def page() -> FileResponse:
    """The analyst's page."""
    return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)


def static_files() -> StaticFiles:
    """The page's script, styles and images, mounted at /static."""
    return StaticFiles(directory=STATIC)

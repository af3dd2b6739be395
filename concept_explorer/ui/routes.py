"""What the web server answers beyond gradio's own routes, given to gradio's FastAPI app at launch (its routes come
first, so they take precedence over gradio's).

- plotly.js at `/ce-assets/plotly.min.js`: gradio serves static files at `/gradio_api/file=<absolute path>`, which
  put the server's virtual-environment path into every page and /config.
- The routes gradio opens for components this app does not have are closed: uploads (a visitor could store and
  have served back any file), upload progress, audio recordings, and the monitoring dashboard and its summary.
"""

from __future__ import annotations

from pathlib import Path

import plotly
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Route

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
"""plotly.js as the plotly package ships it: served from disk, nothing fetched from the internet."""
PLOTLY_URL = "/ce-assets/plotly.min.js"

CLOSED = [("/gradio_api/upload", "POST"), ("/gradio_api/upload_progress", "GET"),
          ("/gradio_api/process_recording", "POST"), ("/monitoring", "GET"), ("/monitoring/summary", "GET"),
          ("/monitoring/{key}", "GET")]
"""(path, method) of the gradio routes this app closes."""


async def _plotly(request: Request) -> FileResponse:
    return FileResponse(PLOTLY_JS, media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})


async def _closed(request: Request) -> JSONResponse:
    return JSONResponse({"error": "This app does not offer this route."}, status_code=404)


def app_routes() -> list[Route]:
    return [Route(PLOTLY_URL, _plotly, methods=["GET", "HEAD"]),
            *(Route(path, _closed, methods=[method]) for path, method in CLOSED)]

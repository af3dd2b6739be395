"""What the web server answers beyond gradio's own routes, given to gradio's FastAPI app at launch (its routes come
first, so they take precedence over gradio's).

- plotly.js at `/ce-assets/plotly.min.js`: gradio serves static files at `/gradio_api/file=<absolute path>`, which
  put the server's virtual-environment path into every page and /config.
- The routes gradio opens for components this app does not have are closed: uploads (a visitor could store and
  have served back any file), upload progress, audio recordings, and the monitoring dashboard and its summary.
- A request gradio itself fails on (an unknown fn_index, a malformed body) is answered 400 in one sentence and
  logged in one line, instead of an HTTP 500 and an ASGI traceback.
"""

from __future__ import annotations

from pathlib import Path

import plotly
from fastapi.exceptions import RequestValidationError
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class OneSentenceErrors:
    """ASGI middleware: an exception raised before a response started becomes a 400 with one sentence (the
    request could not be read), and one line in the log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as error:  # noqa: BLE001 - whatever gradio raised, the visitor gets one sentence
            if started:
                raise
            print(f"Refused a malformed request to {scope.get('path', '?')[:80]} ({type(error).__name__}).")
            refusal = JSONResponse({"error": "The server could not read this request.",
                                    "detail": "The server could not read this request."}, status_code=400)
            await refusal(scope, receive, send)


async def _unreadable_body(request: Request, error: Exception) -> JSONResponse:
    """FastAPI's answer to a body of the wrong shape lists pydantic's findings (types, locations, the input echoed
    back); one sentence says enough."""
    return JSONResponse({"detail": "The request's body is not what this route reads."}, status_code=422)


def app_options() -> dict:
    """gradio's `app_kwargs`: the routes above, first, the middleware, and the malformed-body handler."""
    return {"routes": app_routes(), "middleware": [Middleware(OneSentenceErrors)],
            "exception_handlers": {RequestValidationError: _unreadable_body}}

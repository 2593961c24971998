"""The REST API's interactive reference at ``/api/v1/docs``, served offline.

Swagger UI 5 (it reads OpenAPI 3.1) comes from the files the ``fastapi-offline`` package
ships (no CDN); the page loads it and
``/static/api-docs.js`` (no inline script, so the site's Content-Security-Policy holds, but
for inline styles, which Swagger UI sets on its elements).
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse

ASSETS = "/api/v1/docs/assets"
_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'")
_PAGE = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>labelloop REST API</title>
  <link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
  <link rel="icon" href="data:,">
</head>
<body>
  <div id="swagger-ui" data-openapi="/api/v1/openapi.json"></div>
  <script src="{ASSETS}/swagger-ui-bundle.js"></script>
  <script src="/static/api-docs.js"></script>
</body>
</html>
"""


def add_api_docs(app: FastAPI) -> None:
    """Serve the API reference page and Swagger UI's files (when the package is there)."""
    try:
        files = resources.files("fastapi_offline") / "static"
    except ModuleNotFoundError:  # the server extra brings it; without it, no page
        return

    @app.get("/api/v1/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return HTMLResponse(_PAGE, headers={"Content-Security-Policy": _CSP})

    @app.get(f"{ASSETS}/swagger-ui-bundle.js", include_in_schema=False)
    def swagger_js() -> FileResponse:
        return FileResponse(str(files / "swagger-ui-bundle.js"), media_type="text/javascript")

    @app.get(f"{ASSETS}/swagger-ui.css", include_in_schema=False)
    def swagger_css() -> FileResponse:
        return FileResponse(str(files / "swagger-ui.css"), media_type="text/css")

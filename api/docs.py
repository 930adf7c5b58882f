"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), served entirely by this server.

FastAPI's own pages load their scripts from a CDN, so on a machine without internet they
are blank. These pages take Swagger UI's and ReDoc's assets from the installed
``fastapi-offline`` package (MIT; it ships ``swagger-ui-bundle.js``, ``swagger-ui.css``
and ``redoc.standalone.js``), mounted under :data:`ASSETS`; no font, validator or other
outside address is asked for.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/assets"
DOCS, REDOC, OAUTH2_REDIRECT = "/docs", "/redoc", "/docs/oauth2-redirect"
# validatorUrl: none (Swagger UI would otherwise ask an outside validator about the spec).
SWAGGER_PARAMETERS = {"validatorUrl": None, "displayRequestDuration": True}
# The pages may load nothing from elsewhere (ReDoc's side menu, for one, links an image on
# its vendor's CDN): the browser refuses any other origin before asking for it.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; worker-src 'self' blob:; "
    "connect-src 'self'; frame-ancestors 'none'"
)


def _page(html: HTMLResponse) -> HTMLResponse:
    html.headers["Content-Security-Policy"] = PAGE_POLICY
    return html


def assets_directory() -> Path:
    return Path(str(files("fastapi_offline") / "static"))


# ReDoc's side menu shows its vendor's logo from a CDN; served here with our favicon instead.
REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"


def redoc_script() -> bytes:
    script = (assets_directory() / "redoc.standalone.js").read_bytes()
    return script.replace(REDOC_LOGO, f"{ASSETS}/favicon.png".encode())


def install(app: FastAPI) -> None:
    """Mount the assets and add the three pages (none of them in ``/openapi.json``)."""
    script = redoc_script()

    @app.get(f"{ASSETS}/redoc.standalone.js", include_in_schema=False)
    async def redoc_js() -> Response:
        return Response(script, media_type="text/javascript")

    app.mount(ASSETS, StaticFiles(directory=assets_directory()), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get(DOCS, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _page(
            get_swagger_ui_html(
                openapi_url=f"{root}{openapi_url}",
                title=f"{app.title} - Swagger UI",
                oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT}",
                swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
                swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
                swagger_ui_parameters=SWAGGER_PARAMETERS,
            )
        )

    @app.get(OAUTH2_REDIRECT, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _page(
            get_redoc_html(
                openapi_url=f"{root}{openapi_url}",
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{ASSETS}/favicon.png",
                with_google_fonts=False,
            )
        )

"""The playground page at `/`: static files shipped in the package (`static/`), served with a strict content policy.

No build step and no CDN: plain HTML, CSS and JavaScript that talk to this server's own routes (`/v1/models`,
`/v1/completions`, `/v1/chat/completions`), so the page works offline (docs/playground.md). The page itself needs no
key; the API key, when the server has one, is typed into the page and sent only as the requests' `Authorization`
header. `ServeConfig.ui` (`--no-ui`) leaves these routes out.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import Response

from prefixdeploy.serving.http.errors import APIError

STATIC = Path(__file__).with_name("static")
PAGE = "index.html"
ASSETS = {"playground.js": "text/javascript; charset=utf-8", "playground.css": "text/css; charset=utf-8"}
# Only this server's own files and routes: no inline script, no third-party origin, no framing (clickjacking).
CONTENT_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # an upgraded server's page is seen at the next load
}


def install_playground(app: FastAPI) -> None:
    """Add `GET /` (the page) and `GET /playground/{name}` (its script and style sheet) to `app`."""
    files = {name: (STATIC / name).read_bytes() for name in (PAGE, *ASSETS)}  # read once: a missing file fails now

    @app.get("/", include_in_schema=False)
    async def playground_page():
        return Response(files[PAGE], media_type="text/html; charset=utf-8", headers=HEADERS)

    @app.get("/playground/{name}", include_in_schema=False)
    async def playground_asset(name: str):
        if name not in ASSETS:
            raise APIError(404, f"no playground file {name!r}; the page's files are {', '.join(sorted(ASSETS))}")
        return Response(files[name], media_type=ASSETS[name], headers=HEADERS)

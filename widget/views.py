"""The embeddable chat widget: its script at /widget/v1/cmp-widget.js, and a live preview for buyers.

The script is the file built from widget/src (committed, so serving it needs no Node). Its path carries
the major version: everything under v1 stays compatible with embed codes already pasted into sites, so a
fix may replace the file, and browsers and CDNs keep it for a day (then revalidate cheaply by ETag).
"""

import gzip
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import condition, require_GET, require_safe

from widget.selectors import widget_config_get_for_user

SCRIPT_PATH = Path(__file__).resolve().parent / "static" / "widget" / "v1" / "cmp-widget.js"
SCRIPT_CACHE_CONTROL = "public, max-age=86400, stale-while-revalidate=604800"


@dataclass(frozen=True)
class BuiltScript:
    body: bytes
    gzipped: bytes
    etag: str


@lru_cache(maxsize=2)
def _load_script(modified_ns: int, size: int) -> BuiltScript:
    body = SCRIPT_PATH.read_bytes()
    return BuiltScript(
        body=body,
        gzipped=gzip.compress(body, compresslevel=9, mtime=0),
        etag=f'W/"{hashlib.sha256(body).hexdigest()[:32]}"',
    )


def built_script() -> BuiltScript:
    """The built file, read once per version of it (a rebuild is picked up without a restart)."""
    try:
        stat = SCRIPT_PATH.stat()
    except FileNotFoundError as error:
        raise Http404("The widget has not been built (npm run build in widget/).") from error
    return _load_script(stat.st_mtime_ns, stat.st_size)


@require_safe
@condition(etag_func=lambda request: built_script().etag)
def widget_script(request: HttpRequest) -> HttpResponse:
    script = built_script()
    compressed = "gzip" in request.headers.get("Accept-Encoding", "")
    response = HttpResponse(
        script.gzipped if compressed else script.body, content_type="text/javascript; charset=utf-8"
    )
    if compressed:
        response["Content-Encoding"] = "gzip"
    response["Content-Length"] = str(len(response.content))
    response["Cache-Control"] = SCRIPT_CACHE_CONTROL
    # Any site may load it (it holds no data); a page that isolates itself (COEP) may too.
    response["Access-Control-Allow-Origin"] = "*"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    patch_vary_headers(response, ["Accept-Encoding"])
    return response


def preview_policy() -> str:
    """A strict Content-Security-Policy, as a careful buyer's site would send: the widget must work under
    it (no inline script or style, no eval), and only CMP's own pages may frame the preview."""
    images = ["'self'", "data:", "blob:"]
    if settings.MEDIA_URL.startswith(("https://", "http://")):
        images.append("/".join(settings.MEDIA_URL.split("/")[:3]))
    directives = {
        "default-src": ["'none'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "connect-src": ["'self'"],
        "img-src": images,
        "frame-ancestors": ["'self'"],
        "base-uri": ["'none'"],
        "form-action": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


@login_required
@require_GET
@never_cache
@xframe_options_sameorigin
def widget_preview(request: HttpRequest, widget_id: str) -> HttpResponse:
    """A stand-in web page with the real widget, for the buyer's Widget page to frame: the current
    branding, and a working chat (CMP's own pages may always open their agents' widgets)."""
    config = widget_config_get_for_user(user=request.user, widget_id=widget_id)
    response = render(
        request,
        "widget/preview.html",
        {"config": config, "script_url": reverse("widget:script")},
    )
    response["Content-Security-Policy"] = preview_policy()
    return response

"""Content-Security-Policy (Django 5.2 has none built in).

Every request gets a fresh nonce, `request.csp_nonce`; a template's inline script carries it
(`<script nonce="{{ request.csp_nonce }}">`). The policy is CSP_DIRECTIVES, with the marker CSP_NONCE
replaced by the nonce. It is enforced when CSP_REPORT_ONLY is off (production) and only reported in the
browser's console when it is on (development), so a page that breaks it is noticed before it ships.

A view that needs another policy (the embeddable widget, framed by buyers' sites) sets its own
Content-Security-Policy header, which is left alone; a response marked `xframe_options_exempt` loses the
`frame-ancestors` directive, so exempting a view from X-Frame-Options is enough to let it be framed.
"""

import secrets

from django.conf import settings
from django.http import HttpRequest, HttpResponse

CSP_NONCE = "{nonce}"
ENFORCE_HEADER = "Content-Security-Policy"
REPORT_HEADER = "Content-Security-Policy-Report-Only"


def build_policy(directives: dict[str, list[str]], *, nonce: str, frameable: bool = False) -> str:
    parts = []
    for name, sources in directives.items():
        if frameable and name == "frame-ancestors":
            continue
        values = " ".join(f"'nonce-{nonce}'" if source == CSP_NONCE else source for source in sources)
        parts.append(f"{name} {values}".strip())
    return "; ".join(parts)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        nonce = secrets.token_urlsafe(18)
        request.csp_nonce = nonce
        response = self.get_response(request)
        if not settings.CSP_DIRECTIVES or ENFORCE_HEADER in response or REPORT_HEADER in response:
            return response
        header = REPORT_HEADER if settings.CSP_REPORT_ONLY else ENFORCE_HEADER
        frameable = bool(getattr(response, "xframe_options_exempt", False))
        response[header] = build_policy(settings.CSP_DIRECTIVES, nonce=nonce, frameable=frameable)
        return response

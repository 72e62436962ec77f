"""Production headers: HSTS, a nonce-based CSP; `check --deploy` passing with a production environment."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.http import HttpResponse
from django.test import override_settings

from cmp.security import build_policy

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": False,
    "CSP_REPORT_ONLY": False,
    "SECURE_HSTS_SECONDS": 31536000,
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
    "SECURE_HSTS_PRELOAD": True,
    "SECURE_SSL_REDIRECT": True,
    "SESSION_COOKIE_SECURE": True,
    "CSRF_COOKIE_SECURE": True,
    "ALLOWED_HOSTS": ["cmp.example.com"],
}


@pytest.mark.django_db
@override_settings(**PRODUCTION)
def test_a_page_over_https_carries_hsts_and_an_enforced_csp_with_its_nonce(client):
    response = client.get("/marketplace/", secure=True, HTTP_HOST="cmp.example.com")

    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    policy = response["Content-Security-Policy"]
    assert "Content-Security-Policy-Report-Only" not in response
    nonce = re.search(r"script-src 'self' 'nonce-([A-Za-z0-9_-]+)'", policy).group(1)
    # the page's one inline script carries this response's nonce
    assert f'<script nonce="{nonce}">' in response.content.decode()
    assert "default-src 'self'" in policy
    assert "object-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-eval" not in policy


@pytest.mark.django_db
@override_settings(**PRODUCTION)
def test_every_response_gets_a_fresh_nonce_and_plain_http_is_redirected(client):
    first = client.get("/marketplace/", secure=True, HTTP_HOST="cmp.example.com")["Content-Security-Policy"]
    second = client.get("/marketplace/", secure=True, HTTP_HOST="cmp.example.com")["Content-Security-Policy"]
    insecure = client.get("/marketplace/", HTTP_HOST="cmp.example.com")

    assert first != second
    assert insecure.status_code == 301
    assert insecure["Location"] == "https://cmp.example.com/marketplace/"


@pytest.mark.django_db
@override_settings(CSP_REPORT_ONLY=True)
def test_while_developing_the_policy_is_only_reported(client):
    response = client.get("/marketplace/")

    assert "Content-Security-Policy" not in response
    assert "script-src 'self' 'nonce-" in response["Content-Security-Policy-Report-Only"]


def test_a_view_that_may_be_framed_loses_frame_ancestors_and_its_own_policy_wins():
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", "{nonce}"],
        "frame-ancestors": ["'none'"],
    }

    assert build_policy(directives, nonce="n0nce") == (
        "default-src 'self'; script-src 'self' 'nonce-n0nce'; frame-ancestors 'none'"
    )
    assert build_policy(directives, nonce="n0nce", frameable=True) == (
        "default-src 'self'; script-src 'self' 'nonce-n0nce'"
    )


def test_the_middleware_leaves_a_views_own_policy_alone(rf, settings):
    from cmp.security import ContentSecurityPolicyMiddleware

    settings.CSP_REPORT_ONLY = False
    own = HttpResponse("widget")
    own["Content-Security-Policy"] = "frame-ancestors https://buyer.example"
    middleware = ContentSecurityPolicyMiddleware(lambda request: own)

    response = middleware(rf.get("/widget/frame/"))

    assert response["Content-Security-Policy"] == "frame-ancestors https://buyer.example"


def test_check_deploy_passes_with_a_production_environment():
    # given the environment a production deployment sets (as .ci/run does)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "PYTEST", "CMP_")) and key not in {"DEBUG", "SECRET_KEY"}
    }
    env.update(
        {
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "cmp.example.com",
            "SITE_URL": "https://cmp.example.com",
            "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://cmp@127.0.0.1:5432/cmp"),
        }
    )

    # when
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    # then
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout

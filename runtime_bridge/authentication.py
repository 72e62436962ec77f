"""The runtime service credential: `Authorization: Bearer <RUNTIME_SERVICE_TOKEN>`.

External runtimes (a Langflow in front of which CMP sits) use it to check buyers' keys and report usage.
It is one shared secret from the environment, compared in constant time; with no token configured every
request is refused, so the runtime endpoints can never become an open key oracle.
"""

import secrets

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions


class RuntimeService:
    """The caller behind a valid runtime credential: a service, not a person."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    pk = None

    def __str__(self) -> str:
        return "runtime service"


RUNTIME_SERVICE = RuntimeService()


def runtime_credential_is_valid(authorization: str) -> bool:
    """Whether an Authorization header value carries the configured runtime token."""
    expected = settings.RUNTIME_SERVICE_TOKEN
    scheme, _, token = authorization.partition(" ")
    if not expected or scheme.lower() != "bearer" or not token:
        return False
    return secrets.compare_digest(token.strip().encode(), expected.encode())


class RuntimeServiceAuthentication(authentication.BaseAuthentication):
    """Requires the runtime credential; anything else is a 401 in the error envelope."""

    keyword = "Bearer"

    def authenticate(self, request):
        if not runtime_credential_is_valid(request.META.get("HTTP_AUTHORIZATION", "")):
            raise exceptions.AuthenticationFailed("A valid runtime service credential is required.")
        return RUNTIME_SERVICE, None

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="runtime"'


class RuntimeServiceAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "runtime_bridge.authentication.RuntimeServiceAuthentication"
    name = "runtimeServiceToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "The runtime service token (RUNTIME_SERVICE_TOKEN), for external runtimes only.",
        }

"""OpenID Connect (Keycloak) sign-in: allauth's provider, with the id_token signature always verified.

allauth skips the signature check when the id_token came straight from the token endpoint (allowed by
OIDC Core 3.1.3.7 over TLS). A Keycloak reached over plain HTTP inside a cluster gives no such guarantee, so
this provider checks the signature against the provider's JWKS every time. It replaces allauth's class via
`SOCIALACCOUNT_PROVIDERS["openid_connect"]["provider_class"]` and keeps its URL names.
"""

from allauth.socialaccount.internal import jwtkit
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
from django.http import HttpRequest


class VerifyingOpenIDConnectAdapter(OpenIDConnectOAuth2Adapter):
    """allauth's OIDC adapter, but the id_token must carry a valid signature from the provider's JWKS."""

    def _decode_id_token(self, app: SocialApp, id_token: str) -> dict:
        return jwtkit.verify_and_decode(
            credential=id_token,
            keys_url=self.openid_config["jwks_uri"],
            issuer=self.openid_config["issuer"],
            audience=app.client_id,
            lookup_kid=jwtkit.lookup_kid_jwk,
            verify_signature=True,
        )


class VerifyingOpenIDConnectProvider(OpenIDConnectProvider):
    oauth2_adapter_class = VerifyingOpenIDConnectAdapter

    def get_oauth2_adapter(self, request: HttpRequest) -> VerifyingOpenIDConnectAdapter:
        return self.oauth2_adapter_class(request, self.app.provider_id)


provider_classes = [VerifyingOpenIDConnectProvider]

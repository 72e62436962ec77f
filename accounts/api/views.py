"""Personal API tokens: `/api/tokens/` (list, create) and `/api/tokens/<uuid>/revoke/`."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from accounts.api import serializers
from accounts.models import ApiToken
from accounts.selectors import api_token_get_for_user, api_token_list_for_user
from accounts.services import api_token_create, api_token_revoke


class ApiTokenViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Your personal API tokens, for `Authorization: Bearer cmp_pat_...`."""

    lookup_field = "uuid"
    serializer_class = serializers.ApiTokenOutputSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return ApiToken.objects.none()
        return api_token_list_for_user(user=self.request.user)

    @extend_schema(
        request=serializers.ApiTokenCreateInputSerializer,
        responses={201: serializers.ApiTokenCreatedOutputSerializer},
        description="Create a token. The secret is in the response only; CMP stores its SHA-256 hash. "
        "Only a signed-in session may create tokens, so a leaked token cannot mint new ones.",
    )
    def create(self, request):
        if isinstance(request.auth, ApiToken):
            raise PermissionDenied("Create API tokens from a signed-in session, not with another token.")
        data = serializers.ApiTokenCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        api_token, token = api_token_create(user=request.user, **data.validated_data)
        api_token.token = token
        body = serializers.ApiTokenCreatedOutputSerializer(api_token).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: serializers.ApiTokenOutputSerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request, uuid=None):
        api_token = api_token_revoke(api_token=api_token_get_for_user(user=request.user, uuid=uuid))
        return Response(serializers.ApiTokenOutputSerializer(api_token).data)

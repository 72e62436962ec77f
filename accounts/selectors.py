"""Account reads. A token belongs to one user; anyone else gets a 404."""

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import ApiToken


def api_token_list_for_user(*, user) -> QuerySet[ApiToken]:
    if not user.is_authenticated:
        return ApiToken.objects.none()
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-id")


def api_token_get_for_user(*, user, uuid) -> ApiToken:
    api_token = api_token_list_for_user(user=user).filter(uuid=uuid).first()
    if api_token is None:
        raise Http404
    return api_token

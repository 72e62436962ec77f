"""Account writes: personal API tokens. A token's plaintext leaves this module once and is never stored."""

import secrets
import string
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.authentication import TOKEN_PREFIX, hash_token
from accounts.models import ApiToken, User
from cmp.errors import ApplicationError, ConflictError

TOKEN_ALPHABET = string.ascii_letters + string.digits
TOKEN_RANDOM_LENGTH = 40  # 40 characters from 62: about 238 bits
TOKEN_VISIBLE_PREFIX_LENGTH = len(TOKEN_PREFIX) + 4
MAX_ACTIVE_TOKENS_PER_USER = 50


def _generate_token() -> str:
    return TOKEN_PREFIX + "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(TOKEN_RANDOM_LENGTH))


@transaction.atomic
def api_token_create(*, user, name: str, expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """A new token for `user`; returns the row and the plaintext, which the caller shows exactly once."""
    name = name.strip()
    if not name:
        raise ApplicationError("A token needs a name.", errors={"name": ["This field is required."]})
    if expires_at is not None and expires_at <= timezone.now():
        raise ApplicationError(
            "The expiry date must be in the future.", errors={"expires_at": ["Choose a date in the future."]}
        )
    User.objects.select_for_update().filter(pk=user.pk).first()  # serialise the count below
    if _active_tokens(user).count() >= MAX_ACTIVE_TOKENS_PER_USER:
        detail = f"You already have {MAX_ACTIVE_TOKENS_PER_USER} active tokens; revoke one first."
        raise ConflictError(detail, code="too_many_tokens")
    token = _generate_token()
    api_token = ApiToken.objects.create(
        user=user,
        name=name[:100],
        prefix=token[:TOKEN_VISIBLE_PREFIX_LENGTH],
        token_hash=hash_token(token),
        expires_at=expires_at,
    )
    return api_token, token


def _active_tokens(user):
    now = timezone.now()
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).exclude(expires_at__lte=now)


@transaction.atomic
def api_token_revoke(*, api_token: ApiToken) -> ApiToken:
    """Revoke at once (authentication reads the row on every request). Revoking twice changes nothing."""
    api_token = ApiToken.objects.select_for_update().get(pk=api_token.pk)
    if api_token.revoked_at is None:
        api_token.revoked_at = timezone.now()
        api_token.save(update_fields=["revoked_at", "updated_at"])
    return api_token

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    """Local accounts: email is the login."""


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """OpenID Connect accounts: take the person's name from the provider's claims."""

    def populate_user(self, request, sociallogin, data):
        user = super().populate_user(request, sociallogin, data)
        name = " ".join(part for part in (data.get("first_name"), data.get("last_name")) if part)
        if name and not user.full_name:
            user.full_name = name[:150]
        return user

"""Account signals: a first sign-in gives the user an organisation of their own."""

from allauth.account.signals import user_signed_up
from django.dispatch import receiver


@receiver(user_signed_up)
def _create_personal_organization(sender, request, user, **kwargs) -> None:
    from marketplace.services.organizations import organization_ensure_for_new_user

    organization_ensure_for_new_user(user=user)

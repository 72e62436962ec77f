from django.http import HttpRequest


def navigation(request: HttpRequest) -> dict:
    """The signed-in user's organisations and seller profiles, for the top navigation."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    from marketplace.selectors import navigation_for_user

    return {"nav": navigation_for_user(user=user)}

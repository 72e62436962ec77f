"""The personal API tokens page. URL names live in the `marketplace` namespace (account-tokens...)."""

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts.forms import ApiTokenCreateForm
from accounts.selectors import api_token_get_for_user, api_token_list_for_user
from accounts.services import api_token_create, api_token_revoke
from cmp.errors import ApplicationError


def _render_tokens(request: HttpRequest, *, form: ApiTokenCreateForm, new_token: str = "", status=200):
    context = {"form": form, "tokens": api_token_list_for_user(user=request.user), "new_token": new_token}
    return render(request, "accounts/tokens.html", context, status=status)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def account_tokens(request: HttpRequest) -> HttpResponse:
    """List tokens; a POST creates one and shows its secret in this response only, never again."""
    if request.method != "POST":
        return _render_tokens(request, form=ApiTokenCreateForm())
    form = ApiTokenCreateForm(request.POST)
    if not form.is_valid():
        return _render_tokens(request, form=form, status=400)
    days = form.cleaned_data["expires_in_days"]
    expires_at = timezone.now() + timedelta(days=days) if days else None
    try:
        _, token = api_token_create(user=request.user, name=form.cleaned_data["name"], expires_at=expires_at)
    except ApplicationError as error:
        form.add_error(None, error.detail)
        return _render_tokens(request, form=form, status=400)
    return _render_tokens(request, form=ApiTokenCreateForm(), new_token=token)


@login_required
@require_POST
def account_token_revoke(request: HttpRequest, uuid) -> HttpResponse:
    api_token = api_token_revoke(api_token=api_token_get_for_user(user=request.user, uuid=uuid))
    messages.success(request, f"Token “{api_token.name}” revoked. Scripts using it are refused from now on.")
    return redirect("marketplace:account-tokens")

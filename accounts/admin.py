"""Operators manage people here: the custom user (email sign-in, no username) and personal API tokens."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm
from django.contrib.auth.forms import UserChangeForm as DjangoUserChangeForm
from django.utils.translation import gettext_lazy as _

from accounts.models import ApiToken, User
from accounts.services import api_token_revoke


class EmailFormMixin:
    """Emails are stored lower-case (as UserManager does) and unique whatever their case."""

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError("A user with this email address already exists.")
        return email


class UserCreationForm(EmailFormMixin, AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "full_name")


class UserChangeForm(EmailFormMixin, DjangoUserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Personal info"), {"fields": ("full_name", "uuid")}),
        (
            _("Permissions"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "full_name", "usable_password", "password1", "password2"),
            },
        ),
    )
    readonly_fields = ("uuid", "last_login", "date_joined")
    list_display = (
        "email",
        "full_name",
        "is_staff",
        "is_superuser",
        "is_active",
        "date_joined",
        "last_login",
    )
    list_filter = ("is_staff", "is_superuser", "is_active", "groups")
    search_fields = ("email", "full_name", "=uuid")
    ordering = ("email",)
    date_hierarchy = "date_joined"


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are created by their owner and shown once; operators may look and revoke, nothing else.

    Only the prefix is ever displayed: the hash is not a secret by itself, but there is nothing to gain
    from showing it and it would invite copying it around.
    """

    list_display = (
        "name",
        "prefix_display",
        "user",
        "is_active_display",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    )
    list_filter = ("created_at", "last_used_at", "revoked_at", "expires_at")
    list_select_related = ("user",)
    search_fields = ("name", "prefix", "user__email", "=uuid")
    fields = (
        "uuid",
        "user",
        "name",
        "prefix_display",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    )
    readonly_fields = fields
    date_hierarchy = "created_at"
    actions = ("revoke_tokens",)

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke_tokens(self, request, queryset) -> None:
        revoked = []
        for api_token in queryset.select_related("user"):
            if api_token.revoked_at is not None:
                self.message_user(request, f"Skipped {api_token}: already revoked.", messages.WARNING)
                continue
            api_token_revoke(api_token=api_token)
            revoked.append(str(api_token))
        if revoked:
            self.message_user(request, f"Revoked {len(revoked)}: {', '.join(revoked)}.", messages.SUCCESS)

    @admin.display(description="Token", ordering="prefix")
    def prefix_display(self, token: ApiToken) -> str:
        return f"{token.prefix}..."

    @admin.display(description="Active", boolean=True)
    def is_active_display(self, token: ApiToken) -> bool:
        return token.is_active

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        # Changelist level only (it gates the revoke action); a token's page is view-only.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoke instead: the row is the audit trail of what the token did

"""What the admin tests of every app share: admin URLs, running an action, and the messages it left."""

from django.contrib.admin import helpers
from django.contrib.messages import get_messages
from django.urls import reverse


def changelist_url(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def add_url(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add")


def run_admin_action(client, model, action: str, objects, **extra):
    """POST the changelist's action form for `objects`, as the operator's browser does."""
    data = {"action": action, helpers.ACTION_CHECKBOX_NAME: [obj.pk for obj in objects], **extra}
    return client.post(changelist_url(model), data)


def action_messages(response) -> list[tuple[str, str]]:
    return [(message.level_tag, message.message) for message in get_messages(response.wsgi_request)]

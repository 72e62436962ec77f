"""What every app's admin shares: actions that call services and report per object, and read-only bases.

Operators change things only through services (state checks, events, after-commit side effects), so admin
pages look and actions act. Nothing is registered here.
"""

from collections.abc import Callable, Iterable

from django.contrib import admin, messages
from django.db.models import Model
from django.http import HttpRequest

from cmp.errors import ApplicationError


def run_action(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    objects: Iterable[Model],
    *,
    service: Callable[[Model], object],
    done: str,
    from_states: Iterable[str] | None = None,
    wrong_state: str = "",
    skip: Callable[[Model], str] | None = None,
) -> None:
    """Call `service` for each object and tell the operator, per object, what happened.

    Objects whose state is not in `from_states` are skipped with `wrong_state` as the reason, and so are
    those for which `skip(obj)` names a reason. The services check again under a row lock, so a concurrent
    change is reported as a failure, never applied twice.
    """
    allowed = set(from_states) if from_states is not None else None
    succeeded: list[str] = []
    for obj in objects:
        if allowed is not None and obj.state not in allowed:
            reason = f"it is {obj.get_state_display().lower()}; {wrong_state}"
        else:
            reason = skip(obj) if skip is not None else ""
        if reason:
            modeladmin.message_user(request, f"Skipped “{obj}”: {reason}", messages.WARNING)
            continue
        try:
            service(obj)
        except ApplicationError as error:
            modeladmin.message_user(request, f"“{obj}” was not changed: {error.detail}", messages.ERROR)
        else:
            succeeded.append(f"“{obj}”")
    if succeeded:
        modeladmin.message_user(request, f"{done}: {', '.join(succeeded)}.", messages.SUCCESS)


class ActionsOnlyMixin:
    """The change page only shows the object; changes happen through actions, which call services.

    Change permission is kept at changelist level because it is what the actions require.
    """

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class LedgerMixin:
    """Rows written only by services (usage, deliveries): no add, change or delete, so no actions either."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyInline(LedgerMixin, admin.TabularInline):
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True

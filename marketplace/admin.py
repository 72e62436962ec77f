"""Django admin: how operators run the marketplace.

States never change by editing a field. Every change of state is an admin action that calls the service
for that transition, reports each object's outcome, and skips objects in the wrong state. Forms that do
edit content (offerings, plans, organisations) save through the update services too, so validation,
denormalised prices and events stay right.
"""

from collections.abc import Callable
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from cmp.admin import ActionsOnlyMixin, ReadOnlyInline, run_action
from marketplace.models import (
    Capability,
    Category,
    Invitation,
    InvitationState,
    Membership,
    Offering,
    OfferingEvent,
    OfferingState,
    Order,
    OrderEvent,
    OrderState,
    Organization,
    Plan,
    Resource,
    Review,
    Role,
    ServiceProvider,
    ServiceProviderState,
)
from marketplace.services.catalogue import (
    OFFERING_EDITABLE_FIELDS,
    PLAN_EDITABLE_FIELDS,
    offering_approve,
    offering_archive,
    offering_pause,
    offering_reject,
    offering_resume,
    offering_update,
    plan_archive,
    plan_create,
    plan_update,
)
from marketplace.services.orders import order_approve, order_mark_paid, order_reject, order_retry
from marketplace.services.organizations import (
    invitation_cancel,
    membership_change_role,
    membership_remove,
    organization_update,
    service_provider_approve,
    service_provider_reject,
    service_provider_set_trusted,
)

NOTES_TEMPLATE = "admin/marketplace/action_notes.html"

admin.site.site_header = "CMP operations"
admin.site.site_title = "CMP operations"
admin.site.index_title = "Run the marketplace"


def _money(amount_minor: int | None, currency: str) -> str:
    if amount_minor is None:
        return "-"
    return f"{Decimal(amount_minor) / 100:,.2f} {currency}"


class NotesForm(forms.Form):
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 5, "cols": 80}), max_length=4000)


def _with_notes(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    action: str,
    title: str,
    label: str,
    help_text: str,
    required: bool,
    submit: str,
    run: Callable[[str], None],
) -> TemplateResponse | None:
    """An intermediate page asking for notes (a reason, a payment reference) before running the action."""
    form = NotesForm(request.POST if "apply" in request.POST else None)
    form.fields["notes"].label = label
    form.fields["notes"].help_text = help_text
    form.fields["notes"].required = required
    if form.is_bound and form.is_valid():
        run(form.cleaned_data["notes"].strip())
        return None  # back to the changelist, where the messages are shown
    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "opts": opts,
        "objects": list(queryset),
        "form": form,
        "action": action,
        "submit_label": submit,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "is_required": required,
    }
    return TemplateResponse(request, NOTES_TEMPLATE, context)


# --- Organisations, members, invitations ---------------------------------------------------------


class MembershipInline(ReadOnlyInline):
    model = Membership
    fields = ("user", "role", "created_at")
    readonly_fields = fields
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "contact_email", "country", "member_count", "is_seller", "created_at")
    list_filter = ("country", "created_at")
    list_select_related = ("service_provider",)
    search_fields = ("name", "slug", "contact_email", "billing_email", "=uuid")
    fields = ("name", "slug", "uuid", "contact_email", "billing_email", "country", "created_at", "updated_at")
    readonly_fields = ("slug", "uuid", "created_at", "updated_at")
    inlines = (MembershipInline,)
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("memberships", distinct=True))

    @admin.display(description="Members", ordering="member_count")
    def member_count(self, organization: Organization) -> int:
        return organization.member_count

    @admin.display(description="Seller", boolean=True)
    def is_seller(self, organization: Organization) -> bool:
        return hasattr(organization, "service_provider")

    def has_add_permission(self, request) -> bool:
        return False  # organisations are created by people signing up, with them as owner

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        data = {field: form.cleaned_data[field] for field in form.changed_data}
        if data:
            organization_update(organization=obj, actor=request.user, data=data)


@admin.register(Membership)
class MembershipAdmin(ActionsOnlyMixin, admin.ModelAdmin):
    list_display = ("user", "organization", "role", "created_at")
    list_filter = ("role",)
    list_select_related = ("user", "organization")
    search_fields = ("user__email", "user__full_name", "organization__name")
    fields = ("organization", "user", "role", "created_at", "updated_at")
    readonly_fields = fields
    actions = ("make_owner", "make_manager", "make_member", "remove_members")

    def _change_role(self, request, queryset, role: str) -> None:
        label = Role(role).label.lower()
        run_action(
            self,
            request,
            queryset.select_related("user", "organization"),
            service=lambda membership: membership_change_role(
                membership=membership, role=role, actor=request.user
            ),
            done=f"Now {label}",
        )

    @admin.action(description="Make owner", permissions=["change"])
    def make_owner(self, request, queryset) -> None:
        self._change_role(request, queryset, Role.OWNER)

    @admin.action(description="Make manager", permissions=["change"])
    def make_manager(self, request, queryset) -> None:
        self._change_role(request, queryset, Role.MANAGER)

    @admin.action(description="Make member", permissions=["change"])
    def make_member(self, request, queryset) -> None:
        self._change_role(request, queryset, Role.MEMBER)

    @admin.action(description="Remove from the organisation", permissions=["change"])
    def remove_members(self, request, queryset) -> None:
        run_action(
            self,
            request,
            queryset.select_related("user", "organization"),
            service=lambda membership: membership_remove(membership=membership, actor=request.user),
            done="Removed",
        )


@admin.register(Invitation)
class InvitationAdmin(ActionsOnlyMixin, admin.ModelAdmin):
    list_display = ("email", "organization", "role", "state", "invited_by", "created_at", "expires_at")
    list_filter = ("state", "role", "created_at")
    list_select_related = ("organization", "invited_by")
    search_fields = ("email", "organization__name", "=uuid")
    fields = (
        "uuid",
        "organization",
        "email",
        "role",
        "state",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_at",
    )
    readonly_fields = fields
    actions = ("cancel_invitations",)

    @admin.action(description="Cancel selected invitations", permissions=["change"])
    def cancel_invitations(self, request, queryset) -> None:
        run_action(
            self,
            request,
            queryset.select_related("organization"),
            service=lambda invitation: invitation_cancel(invitation=invitation, actor=request.user),
            done="Cancelled",
            from_states=[InvitationState.PENDING],
            wrong_state="only pending invitations can be cancelled.",
        )


@admin.register(ServiceProvider)
class ServiceProviderAdmin(ActionsOnlyMixin, admin.ModelAdmin):
    list_display = (
        "organization",
        "state",
        "is_trusted",
        "offering_count",
        "terms_accepted_at",
        "reviewed_at",
        "reviewed_by",
    )
    list_filter = ("state", "is_trusted", "created_at")
    list_select_related = ("organization", "reviewed_by")
    search_fields = ("organization__name", "organization__slug", "description", "=uuid")
    fields = (
        "uuid",
        "organization",
        "description",
        "state",
        "is_trusted",
        "terms_accepted_at",
        "reviewed_at",
        "reviewed_by",
        "review_notes",
        "created_at",
    )
    readonly_fields = fields
    actions = ("approve_providers", "reject_providers", "trust_providers", "distrust_providers")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(offering_count=Count("offerings", distinct=True))

    @admin.display(description="Offerings", ordering="offering_count")
    def offering_count(self, provider: ServiceProvider) -> int:
        return provider.offering_count

    @admin.action(description="Approve: may publish", permissions=["change"])
    def approve_providers(self, request, queryset) -> None:
        run_action(
            self,
            request,
            queryset.select_related("organization"),
            service=lambda provider: service_provider_approve(provider=provider, actor=request.user),
            done="Approved",
            from_states=[ServiceProviderState.PENDING, ServiceProviderState.REJECTED],
            wrong_state="it is already approved.",
        )

    @admin.action(description="Reject…", permissions=["change"])
    def reject_providers(self, request, queryset):
        queryset = queryset.select_related("organization")
        return _with_notes(
            self,
            request,
            queryset,
            action="reject_providers",
            title="Reject sellers",
            label="Notes to the seller",
            help_text="Why the registration is rejected and what would change the decision.",
            required=True,
            submit="Reject",
            run=lambda notes: run_action(
                self,
                request,
                queryset,
                service=lambda provider: service_provider_reject(
                    provider=provider, actor=request.user, notes=notes
                ),
                done="Rejected",
                from_states=[ServiceProviderState.PENDING, ServiceProviderState.APPROVED],
                wrong_state="it is already rejected.",
            ),
        )

    def _set_trusted(self, request, queryset, is_trusted: bool) -> None:
        run_action(
            self,
            request,
            queryset.select_related("organization"),
            service=lambda provider: service_provider_set_trusted(
                provider=provider, actor=request.user, is_trusted=is_trusted
            ),
            done="Listings now publish without review" if is_trusted else "Listings now need review",
        )

    @admin.action(description="Trust: publish without review", permissions=["change"])
    def trust_providers(self, request, queryset) -> None:
        self._set_trusted(request, queryset, True)

    @admin.action(description="Stop trusting: listings need review", permissions=["change"])
    def distrust_providers(self, request, queryset) -> None:
        self._set_trusted(request, queryset, False)


# --- Catalogue ------------------------------------------------------------------------------------


def _capability_field(label: str) -> forms.TypedMultipleChoiceField:
    return forms.TypedMultipleChoiceField(
        label=label, choices=Capability.choices, required=False, widget=forms.CheckboxSelectMultiple
    )


class CategoryForm(forms.ModelForm):
    default_capabilities = _capability_field("Capabilities its offerings get by default")

    class Meta:
        model = Category
        fields = ("name", "slug", "icon", "colour", "description", "default_capabilities", "sort_order")


class OfferingForm(forms.ModelForm):
    capabilities = _capability_field("Capabilities")

    class Meta:
        model = Offering
        fields = ("name", "category", "summary", "description", "capabilities", "tags", "logo")


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    form = CategoryForm
    list_display = ("name", "slug", "icon", "colour", "sort_order", "offering_count")
    list_editable = ("sort_order",)
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("uuid", "created_at", "updated_at")
    ordering = ("sort_order", "name")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(offering_count=Count("offerings"))

    @admin.display(description="Offerings", ordering="offering_count")
    def offering_count(self, category: Category) -> int:
        return category.offering_count


class PlanInline(admin.TabularInline):
    """The plans on sale, edited through plan_create/plan_update (archived plans are under Plans)."""

    model = Plan
    extra = 0
    can_delete = False
    fields = (
        "name",
        "price_minor",
        "currency",
        "billing_period",
        "monthly_quota_calls",
        "rate_limit_per_minute",
        "overage_price_per_1000_minor",
        "trial_days",
        "sort_order",
    )
    show_change_link = True
    verbose_name_plural = "plans on sale"

    def get_queryset(self, request):
        return super().get_queryset(request).filter(is_archived=False)


class OfferingEventInline(ReadOnlyInline):
    model = OfferingEvent
    show_change_link = False
    fields = ("created_at", "from_state", "to_state", "actor", "notes")
    readonly_fields = fields
    verbose_name_plural = "history"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


@admin.register(Offering)
class OfferingAdmin(admin.ModelAdmin):
    form = OfferingForm
    list_display = (
        "name",
        "provider",
        "category",
        "state",
        "price_from",
        "rating",
        "published_at",
    )
    list_filter = ("state", "category", "created_at", "published_at")
    list_select_related = ("provider__organization", "category")
    search_fields = ("name", "slug", "summary", "provider__organization__name", "=uuid")
    fieldsets = (
        (None, {"fields": ("name", "slug", "uuid", "provider", "category", "state")}),
        ("Listing", {"fields": ("summary", "description", "capabilities", "tags", "logo")}),
        ("Review", {"fields": ("terms_accepted_at", "published_at", "review_notes")}),
        (
            "Catalogue figures",
            {"fields": ("price_from", "rating_average", "rating_count", "created_at", "updated_at")},
        ),
    )
    readonly_fields = (
        "slug",
        "uuid",
        "provider",
        "state",
        "terms_accepted_at",
        "published_at",
        "review_notes",
        "price_from",
        "rating_average",
        "rating_count",
        "created_at",
        "updated_at",
    )
    inlines = (PlanInline, OfferingEventInline)
    date_hierarchy = "created_at"
    actions = ("approve_listings", "reject_listings", "pause_listings", "resume_listings", "archive_listings")

    @admin.display(description="From", ordering="price_from_minor")
    def price_from(self, offering: Offering) -> str:
        return _money(offering.price_from_minor, offering.currency)

    @admin.display(description="Rating", ordering="rating_average")
    def rating(self, offering: Offering) -> str:
        return f"{offering.rating_average} ({offering.rating_count})" if offering.rating_count else "-"

    def has_add_permission(self, request) -> bool:
        return False  # sellers create listings from their dashboard or the flow import

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # archive instead: orders and subscriptions keep pointing at the listing

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.state == OfferingState.ARCHIVED:
            return (*self.readonly_fields, *sorted(OFFERING_EDITABLE_FIELDS))
        return self.readonly_fields

    def get_inlines(self, request, obj):
        if obj is not None and obj.state == OfferingState.ARCHIVED:
            return (OfferingEventInline,)
        return self.inlines

    def save_model(self, request, obj, form, change) -> None:
        data = {
            field: getattr(obj, field) for field in form.changed_data if field in OFFERING_EDITABLE_FIELDS
        }
        if data:
            offering_update(offering=obj, actor=request.user, data=data)

    def save_formset(self, request, form, formset, change) -> None:
        if formset.model is not Plan:
            super().save_formset(request, form, formset, change)
            return
        # What formset.save() would record, for the admin's change message.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for plan_form in formset.forms:
            if not plan_form.has_changed():
                continue
            plan = plan_form.instance
            data = {
                field: getattr(plan, field)
                for field in plan_form.changed_data
                if field in PLAN_EDITABLE_FIELDS
            }
            if plan.pk is None:
                formset.new_objects.append(plan_create(offering=form.instance, actor=request.user, **data))
            else:
                plan_update(plan=plan, actor=request.user, data=data)
                formset.changed_objects.append((plan, plan_form.changed_data))

    def _transition(self, request, queryset, *, service, done: str, from_states, wrong_state: str) -> None:
        run_action(
            self,
            request,
            queryset.select_related("provider__organization"),
            service=lambda offering: service(offering=offering, actor=request.user),
            done=done,
            from_states=from_states,
            wrong_state=wrong_state,
        )

    @admin.action(description="Approve listing", permissions=["change"])
    def approve_listings(self, request, queryset) -> None:
        self._transition(
            request,
            queryset,
            service=offering_approve,
            done="Approved and listed",
            from_states=[OfferingState.PENDING_REVIEW],
            wrong_state="only listings pending review can be approved.",
        )

    @admin.action(description="Reject listing…", permissions=["change"])
    def reject_listings(self, request, queryset):
        queryset = queryset.select_related("provider__organization")
        return _with_notes(
            self,
            request,
            queryset,
            action="reject_listings",
            title="Reject listings",
            label="Notes to the seller",
            help_text="What must change before the listing can be approved. The seller sees this.",
            required=True,
            submit="Reject and return to draft",
            run=lambda notes: run_action(
                self,
                request,
                queryset,
                service=lambda offering: offering_reject(offering=offering, actor=request.user, notes=notes),
                done="Rejected, back to draft",
                from_states=[OfferingState.PENDING_REVIEW],
                wrong_state="only listings pending review can be rejected.",
            ),
        )

    @admin.action(description="Pause listing (existing subscribers keep working)", permissions=["change"])
    def pause_listings(self, request, queryset) -> None:
        self._transition(
            request,
            queryset,
            service=offering_pause,
            done="Paused",
            from_states=[OfferingState.ACTIVE],
            wrong_state="only active listings can be paused.",
        )

    @admin.action(description="Resume listing", permissions=["change"])
    def resume_listings(self, request, queryset) -> None:
        self._transition(
            request,
            queryset,
            service=offering_resume,
            done="Listed again",
            from_states=[OfferingState.PAUSED],
            wrong_state="only paused listings can be resumed.",
        )

    @admin.action(description="Archive listing (for good)", permissions=["change"])
    def archive_listings(self, request, queryset) -> None:
        self._transition(
            request,
            queryset,
            service=offering_archive,
            done="Archived",
            from_states=[state for state in OfferingState.values if state != OfferingState.ARCHIVED],
            wrong_state="it is archived already.",
        )


@admin.register(OfferingEvent)
class OfferingEventAdmin(ActionsOnlyMixin, admin.ModelAdmin):
    list_display = ("created_at", "offering", "from_state", "to_state", "actor", "notes")
    list_filter = ("to_state", "from_state", "created_at")
    list_select_related = ("offering", "actor")
    search_fields = ("offering__name", "actor__email", "notes")
    fields = ("offering", "from_state", "to_state", "actor", "notes", "created_at")
    readonly_fields = fields
    date_hierarchy = "created_at"


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "offering",
        "price",
        "billing_period",
        "monthly_quota_calls",
        "rate_limit_per_minute",
        "trial_days",
        "is_archived",
    )
    list_filter = ("is_archived", "billing_period", "currency")
    list_select_related = ("offering",)
    search_fields = ("name", "offering__name", "=uuid")
    fields = ("offering", "uuid", *sorted(PLAN_EDITABLE_FIELDS), "is_archived", "created_at", "updated_at")
    readonly_fields = ("offering", "uuid", "is_archived", "created_at", "updated_at")
    actions = ("archive_plans",)

    @admin.display(description="Price", ordering="price_minor")
    def price(self, plan: Plan) -> str:
        return _money(plan.price_minor, plan.currency)

    def has_add_permission(self, request) -> bool:
        return False  # plans are added from their offering's page

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # archive instead: subscribers keep their plan

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.is_archived:
            return self.fields
        return self.readonly_fields

    def save_model(self, request, obj, form, change) -> None:
        data = {field: getattr(obj, field) for field in form.changed_data if field in PLAN_EDITABLE_FIELDS}
        if data:
            plan_update(plan=obj, actor=request.user, data=data)

    @admin.action(description="Archive plan (stop selling it)", permissions=["change"])
    def archive_plans(self, request, queryset) -> None:
        objects = list(queryset.select_related("offering"))
        for plan in objects:
            if plan.is_archived:
                self.message_user(request, f"Skipped “{plan}”: it is archived already.", messages.WARNING)
        run_action(
            self,
            request,
            [plan for plan in objects if not plan.is_archived],
            service=lambda plan: plan_archive(plan=plan, actor=request.user),
            done="Archived",
        )


# --- Orders, subscriptions, reviews ---------------------------------------------------------------


class OrderEventInline(ReadOnlyInline):
    model = OrderEvent
    show_change_link = False
    fields = ("created_at", "from_state", "to_state", "actor", "message")
    readonly_fields = fields
    verbose_name_plural = "history"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


@admin.register(Order)
class OrderAdmin(ActionsOnlyMixin, admin.ModelAdmin):
    list_display = (
        "short_id",
        "type",
        "offering",
        "organization",
        "plan_name",
        "state",
        "cost",
        "created_by",
        "created_at",
        "paid_at",
    )
    list_filter = ("state", "type", "created_at", "paid_at")
    list_select_related = ("offering", "organization", "plan", "created_by")
    search_fields = (
        "=uuid",
        "organization__name",
        "offering__name",
        "payment_reference",
        "created_by__email",
    )
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "uuid",
                    "type",
                    "state",
                    "organization",
                    "offering",
                    "plan",
                    "resource",
                    "created_by",
                )
            },
        ),
        ("Payment", {"fields": ("cost", "paid_at", "payment_reference")}),
        ("Outcome", {"fields": ("completed_at", "error_message", "created_at", "updated_at")}),
    )
    readonly_fields = (
        "uuid",
        "type",
        "state",
        "organization",
        "offering",
        "plan",
        "resource",
        "created_by",
        "cost",
        "paid_at",
        "payment_reference",
        "completed_at",
        "error_message",
        "created_at",
        "updated_at",
    )
    inlines = (OrderEventInline,)
    date_hierarchy = "created_at"
    actions = ("approve_orders", "reject_orders", "mark_orders_paid", "retry_orders")

    @admin.display(description="Order", ordering="uuid")
    def short_id(self, order: Order) -> str:
        return str(order.uuid)[:8]

    @admin.display(description="Plan", ordering="plan__name")
    def plan_name(self, order: Order) -> str:
        return order.plan.name

    @admin.display(description="Cost", ordering="cost_minor")
    def cost(self, order: Order) -> str:
        return _money(order.cost_minor, order.currency)

    def _objects(self, queryset):
        return queryset.select_related("offering")

    @admin.action(description="Approve without payment", permissions=["change"])
    def approve_orders(self, request, queryset) -> None:
        run_action(
            self,
            request,
            self._objects(queryset),
            service=lambda order: order_approve(order=order, actor=request.user),
            done="Approved, processing started",
            from_states=[OrderState.PENDING_PAYMENT],
            wrong_state="only orders waiting for payment can be approved.",
        )

    @admin.action(description="Reject…", permissions=["change"])
    def reject_orders(self, request, queryset):
        queryset = self._objects(queryset)
        return _with_notes(
            self,
            request,
            queryset,
            action="reject_orders",
            title="Reject orders",
            label="Reason",
            help_text="Shown to the buyer in the order's history.",
            required=False,
            submit="Reject",
            run=lambda reason: run_action(
                self,
                request,
                queryset,
                service=lambda order: order_reject(order=order, actor=request.user, reason=reason),
                done="Rejected",
                from_states=[OrderState.PENDING_PAYMENT],
                wrong_state="only orders waiting for payment can be rejected.",
            ),
        )

    @admin.action(description="Mark paid…", permissions=["change"])
    def mark_orders_paid(self, request, queryset):
        queryset = self._objects(queryset)
        return _with_notes(
            self,
            request,
            queryset,
            action="mark_orders_paid",
            title="Mark orders paid",
            label="Payment reference",
            help_text="The bank transfer or invoice reference, kept on the order.",
            required=False,
            submit="Mark paid",
            run=lambda reference: run_action(
                self,
                request,
                queryset,
                service=lambda order: order_mark_paid(
                    order=order, actor=request.user, reference=reference[:255]
                ),
                done="Marked paid, processing started",
                from_states=[OrderState.PENDING_PAYMENT],
                wrong_state="only orders waiting for payment can be marked paid.",
            ),
        )

    @admin.action(description="Retry", permissions=["change"])
    def retry_orders(self, request, queryset) -> None:
        run_action(
            self,
            request,
            self._objects(queryset),
            service=lambda order: order_retry(order=order, actor=request.user),
            done="Retrying",
            from_states=[OrderState.ERRED],
            wrong_state="only erred orders can be retried.",
        )


@admin.register(OrderEvent)
class OrderEventAdmin(ActionsOnlyMixin, admin.ModelAdmin):
    list_display = ("created_at", "order", "from_state", "to_state", "actor", "message")
    list_filter = ("to_state", "from_state", "created_at")
    list_select_related = ("order__offering", "actor")
    search_fields = ("=order__uuid", "order__offering__name", "order__organization__name", "message")
    fields = ("order", "from_state", "to_state", "actor", "message", "created_at")
    readonly_fields = fields
    date_hierarchy = "created_at"


@admin.register(Resource)
class ResourceAdmin(ActionsOnlyMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "organization",
        "offering",
        "plan_name",
        "state",
        "current_period_end",
        "created_at",
    )
    list_filter = ("state", "created_at")
    list_select_related = ("organization", "offering", "plan")
    search_fields = ("name", "=uuid", "organization__name", "offering__name")
    fields = (
        "uuid",
        "name",
        "state",
        "organization",
        "offering",
        "plan",
        "included_in",
        "current_period_start",
        "current_period_end",
        "terminated_at",
        "error_message",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    date_hierarchy = "created_at"

    @admin.display(description="Plan", ordering="plan__name")
    def plan_name(self, resource: Resource) -> str:
        return resource.plan.name


@admin.register(Review)
class ReviewAdmin(ActionsOnlyMixin, admin.ModelAdmin):
    list_display = ("offering", "organization", "author", "rating", "created_at")
    list_filter = ("rating", "created_at")
    list_select_related = ("offering", "organization", "author")
    search_fields = ("offering__name", "organization__name", "author__email", "text")
    fields = ("uuid", "offering", "organization", "author", "rating", "text", "created_at")
    readonly_fields = fields
    date_hierarchy = "created_at"

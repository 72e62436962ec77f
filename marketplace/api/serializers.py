"""Marketplace API serializers.

Input serializers are plain `Serializer`s built on `InputSerializer`, which rejects unknown keys: a typo
in a field name is an error, never a silently ignored change. Output serializers list their fields.
"""

from django.core.validators import RegexValidator
from django_countries import countries
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cmp.serializers import InputSerializer
from marketplace import selectors
from marketplace.markdown import render_markdown
from marketplace.models import (
    Capability,
    Category,
    Membership,
    Offering,
    Order,
    OrderEvent,
    Organization,
    Plan,
    Resource,
    Review,
    ServiceProvider,
)
from marketplace.models.catalogue import BillingPeriod

MAX_POSITIVE_INTEGER = 2_147_483_647
CURRENCY = RegexValidator(r"^[A-Z]{3}$", "Enter a three-letter ISO 4217 currency code, e.g. USD.")
SORT_CHOICES = (
    ("relevance", "Best match (with a search), else most popular"),
    ("newest", "Newest first"),
    ("rating", "Best rated first"),
    ("price", "Lowest price first"),
    ("price_desc", "Highest price first"),
    ("name", "By name"),
)


# --- Base and shared ------------------------------------------------------------------------------


class EmptyInputSerializer(InputSerializer):
    """An action that takes no body (any key sent is an error)."""


class ErrorOutputSerializer(serializers.Serializer):
    """The error envelope every API error uses."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


def positive_integer(**kwargs) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=0, max_value=MAX_POSITIVE_INTEGER, **kwargs)


class OrganizationRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = ("uuid", "name")
        read_only_fields = fields


class CategoryRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ("uuid", "slug", "name")
        read_only_fields = fields


class ProviderRefSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="organization.name", read_only=True)

    class Meta:
        model = ServiceProvider
        fields = ("uuid", "name")
        read_only_fields = fields


class OfferingRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Offering
        fields = ("uuid", "name", "slug")
        read_only_fields = fields


class PlanRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Plan
        fields = ("uuid", "name", "price_minor", "currency", "billing_period")
        read_only_fields = fields


# --- Categories -----------------------------------------------------------------------------------


class CategoryOutputSerializer(serializers.ModelSerializer):
    active_offering_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Category
        fields = (
            "uuid",
            "slug",
            "name",
            "icon",
            "colour",
            "description",
            "default_capabilities",
            "active_offering_count",
        )
        read_only_fields = fields


# --- Public catalogue -----------------------------------------------------------------------------


class PublicOfferingSearchInputSerializer(serializers.Serializer):
    """Query parameters of the catalogue. Prices are in minor units (cents)."""

    search = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="Words to look for; each word also matches as a prefix.",
    )
    category = serializers.SlugField(required=False, help_text="Category slug, e.g. `agents`.")
    capability = serializers.ChoiceField(choices=Capability.choices, required=False)
    price_min = positive_integer(required=False, help_text="Lowest 'from' price, in minor units.")
    price_max = positive_integer(required=False, help_text="Highest 'from' price, in minor units.")
    sort = serializers.ChoiceField(choices=SORT_CHOICES, required=False, default="relevance")

    def validate_category(self, value: str) -> str:
        if not selectors.category_list().filter(slug=value).exists():
            raise serializers.ValidationError(f"Unknown category '{value}'.")
        return value

    def validate(self, attrs: dict) -> dict:
        low, high = attrs.get("price_min"), attrs.get("price_max")
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError({"price_max": ["Must not be lower than price_min."]})
        return attrs


class PublicPlanOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Plan
        fields = (
            "uuid",
            "name",
            "description",
            "price_minor",
            "currency",
            "billing_period",
            "monthly_quota_calls",
            "rate_limit_per_minute",
            "overage_price_per_1000_minor",
            "trial_days",
            "is_free",
        )
        read_only_fields = fields


class PublicOfferingOutputSerializer(serializers.ModelSerializer):
    category = CategoryRefSerializer(read_only=True)
    provider = ProviderRefSerializer(read_only=True)
    logo = serializers.ImageField(read_only=True, use_url=True)

    class Meta:
        model = Offering
        fields = (
            "uuid",
            "name",
            "slug",
            "summary",
            "category",
            "provider",
            "capabilities",
            "tags",
            "logo",
            "price_from_minor",
            "currency",
            "rating_average",
            "rating_count",
            "published_at",
        )
        read_only_fields = fields


class PublicOfferingDetailOutputSerializer(PublicOfferingOutputSerializer):
    description_html = serializers.SerializerMethodField()
    plans = PublicPlanOutputSerializer(source="public_plans", many=True, read_only=True)

    class Meta(PublicOfferingOutputSerializer.Meta):
        fields = (*PublicOfferingOutputSerializer.Meta.fields, "description", "description_html", "plans")
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_description_html(self, offering: Offering) -> str:
        return render_markdown(offering.description)


# --- Seller: offerings and plans ------------------------------------------------------------------


class OfferingOutputSerializer(serializers.ModelSerializer):
    category = CategoryRefSerializer(read_only=True)
    provider = ProviderRefSerializer(read_only=True)
    logo = serializers.ImageField(read_only=True, use_url=True)

    class Meta:
        model = Offering
        fields = (
            "uuid",
            "name",
            "slug",
            "state",
            "summary",
            "description",
            "category",
            "provider",
            "capabilities",
            "tags",
            "logo",
            "price_from_minor",
            "currency",
            "rating_average",
            "rating_count",
            "terms_accepted_at",
            "published_at",
            "review_notes",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


def _capability_list(**kwargs) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.ChoiceField(choices=Capability.choices), max_length=20, **kwargs
    )


def _tag_list(**kwargs) -> serializers.ListField:
    return serializers.ListField(child=serializers.CharField(max_length=40), max_length=20, **kwargs)


def _category_field(**kwargs) -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(slug_field="slug", queryset=selectors.category_list(), **kwargs)


class OfferingCreateInputSerializer(InputSerializer):
    provider_uuid = serializers.UUIDField()
    category = _category_field(help_text="Category slug, e.g. `agents`.")
    name = serializers.CharField(max_length=120)
    summary = serializers.CharField(max_length=300, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True, help_text="Markdown.")
    capabilities = _capability_list(required=False, help_text="Defaults to the category's capabilities.")
    tags = _tag_list(required=False)
    currency = serializers.CharField(validators=[CURRENCY], required=False)


class OfferingUpdateInputSerializer(InputSerializer):
    category = _category_field(required=False)
    name = serializers.CharField(max_length=120, required=False)
    summary = serializers.CharField(max_length=300, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    capabilities = _capability_list(required=False)
    tags = _tag_list(required=False)


class OfferingSubmitInputSerializer(InputSerializer):
    terms_accepted = serializers.BooleanField(default=False, help_text="Accept the marketplace terms.")


class OfferingApproveInputSerializer(InputSerializer):
    notes = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class OfferingRejectInputSerializer(InputSerializer):
    notes = serializers.CharField(max_length=2000, help_text="What the seller must change.")


class PlanOutputSerializer(serializers.ModelSerializer):
    offering_uuid = serializers.UUIDField(source="offering.uuid", read_only=True)

    class Meta:
        model = Plan
        fields = (
            "uuid",
            "offering_uuid",
            "name",
            "description",
            "price_minor",
            "currency",
            "billing_period",
            "monthly_quota_calls",
            "rate_limit_per_minute",
            "overage_price_per_1000_minor",
            "trial_days",
            "is_archived",
            "sort_order",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class PlanUpdateInputSerializer(InputSerializer):
    name = serializers.CharField(max_length=60, required=False)
    description = serializers.CharField(max_length=300, required=False, allow_blank=True)
    price_minor = positive_integer(required=False, help_text="Price per billing period, in minor units.")
    currency = serializers.CharField(validators=[CURRENCY], required=False)
    billing_period = serializers.ChoiceField(choices=BillingPeriod.choices, required=False)
    monthly_quota_calls = positive_integer(
        required=False, allow_null=True, help_text="Empty means unlimited."
    )
    rate_limit_per_minute = serializers.IntegerField(
        min_value=1, max_value=MAX_POSITIVE_INTEGER, required=False
    )
    overage_price_per_1000_minor = positive_integer(required=False, allow_null=True)
    trial_days = serializers.IntegerField(min_value=0, max_value=365, required=False)
    sort_order = serializers.IntegerField(min_value=0, max_value=32767, required=False)


class PlanCreateInputSerializer(PlanUpdateInputSerializer):
    offering_uuid = serializers.UUIDField()
    name = serializers.CharField(max_length=60)
    price_minor = positive_integer(help_text="Price per billing period, in minor units.")


# --- Organisations and providers -----------------------------------------------------------------


class MembershipOutputSerializer(serializers.ModelSerializer):
    user_uuid = serializers.UUIDField(source="user.uuid", read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)
    name = serializers.CharField(source="user.display_name", read_only=True)

    class Meta:
        model = Membership
        fields = ("user_uuid", "email", "name", "role", "created_at")
        read_only_fields = fields


class OrganizationOutputSerializer(serializers.ModelSerializer):
    country = serializers.CharField(source="country.code", read_only=True, allow_null=True)

    class Meta:
        model = Organization
        fields = ("uuid", "name", "slug", "contact_email", "billing_email", "country", "created_at")
        read_only_fields = fields


class OrganizationDetailOutputSerializer(OrganizationOutputSerializer):
    members = serializers.SerializerMethodField()

    class Meta(OrganizationOutputSerializer.Meta):
        fields = (*OrganizationOutputSerializer.Meta.fields, "members")
        read_only_fields = fields

    @extend_schema_field(MembershipOutputSerializer(many=True))
    def get_members(self, organization: Organization) -> list[dict]:
        return MembershipOutputSerializer(
            selectors.membership_list(organization=organization), many=True
        ).data


class OrganizationUpdateInputSerializer(InputSerializer):
    name = serializers.CharField(max_length=150, required=False)
    contact_email = serializers.EmailField(required=False, allow_blank=True)
    billing_email = serializers.EmailField(required=False, allow_blank=True)
    country = serializers.ChoiceField(
        choices=list(countries), required=False, allow_blank=True, help_text="ISO 3166-1 alpha-2 code."
    )


class OrganizationCreateInputSerializer(OrganizationUpdateInputSerializer):
    name = serializers.CharField(max_length=150)


class ServiceProviderOutputSerializer(serializers.ModelSerializer):
    organization = OrganizationRefSerializer(read_only=True)

    class Meta:
        model = ServiceProvider
        fields = (
            "uuid",
            "organization",
            "description",
            "state",
            "is_trusted",
            "terms_accepted_at",
            "reviewed_at",
            "review_notes",
            "created_at",
        )
        read_only_fields = fields


class ServiceProviderCreateInputSerializer(InputSerializer):
    organization_uuid = serializers.UUIDField()
    description = serializers.CharField(required=False, allow_blank=True, max_length=4000, default="")
    terms_accepted = serializers.BooleanField(help_text="Accept the seller terms.")


# --- Orders and resources ------------------------------------------------------------------------


class OrderEventOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderEvent
        fields = ("from_state", "to_state", "message", "created_at")
        read_only_fields = fields


class OrderOutputSerializer(serializers.ModelSerializer):
    organization = OrganizationRefSerializer(read_only=True)
    offering = OfferingRefSerializer(read_only=True)
    plan = PlanRefSerializer(read_only=True)
    resource_uuid = serializers.UUIDField(source="resource.uuid", read_only=True, allow_null=True)

    class Meta:
        model = Order
        fields = (
            "uuid",
            "type",
            "state",
            "organization",
            "offering",
            "plan",
            "resource_uuid",
            "cost_minor",
            "currency",
            "paid_at",
            "payment_reference",
            "completed_at",
            "error_message",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class OrderDetailOutputSerializer(OrderOutputSerializer):
    events = OrderEventOutputSerializer(many=True, read_only=True)

    class Meta(OrderOutputSerializer.Meta):
        fields = (*OrderOutputSerializer.Meta.fields, "events")
        read_only_fields = fields


class OrderCreateInputSerializer(InputSerializer):
    plan_uuid = serializers.UUIDField()
    organization_uuid = serializers.UUIDField(help_text="The buying organisation; you must own or manage it.")


class OrderRejectInputSerializer(InputSerializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class OrderMarkPaidInputSerializer(InputSerializer):
    reference = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=255,
        default="",
        help_text="Payment reference, e.g. a bank transfer id.",
    )


class ResourceOutputSerializer(serializers.ModelSerializer):
    organization = OrganizationRefSerializer(read_only=True)
    offering = OfferingRefSerializer(read_only=True)
    plan = PlanRefSerializer(read_only=True)
    included_in = serializers.SlugRelatedField(
        slug_field="uuid",
        read_only=True,
        help_text="The bundle subscription this one is part of: it changes and ends only with the bundle.",
    )

    class Meta:
        model = Resource
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
        read_only_fields = fields


class ResourceChangePlanInputSerializer(InputSerializer):
    plan_uuid = serializers.UUIDField(help_text="Another plan of the same offering.")


# --- Reviews --------------------------------------------------------------------------------------


class ReviewOutputSerializer(serializers.ModelSerializer):
    offering_uuid = serializers.UUIDField(source="offering.uuid", read_only=True)
    organization_name = serializers.CharField(source="organization.name", read_only=True)

    class Meta:
        model = Review
        fields = ("uuid", "offering_uuid", "organization_name", "rating", "text", "created_at")
        read_only_fields = fields


class ReviewCreateInputSerializer(InputSerializer):
    offering_uuid = serializers.UUIDField()
    organization_uuid = serializers.UUIDField(help_text="An organisation you own or manage that subscribed.")
    rating = serializers.IntegerField(min_value=1, max_value=5)
    text = serializers.CharField(required=False, allow_blank=True, max_length=4000, default="")

"""Query filters of the marketplace list endpoints. Objects are named by uuid, never by internal id."""

import django_filters

from marketplace.models import (
    Offering,
    OfferingState,
    Order,
    OrderState,
    OrderType,
    Plan,
    Resource,
    ResourceState,
    Review,
)


class OfferingFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=OfferingState.choices)
    provider_uuid = django_filters.UUIDFilter(field_name="provider__uuid")

    class Meta:
        model = Offering
        fields = ("state", "provider_uuid")


class PlanFilter(django_filters.FilterSet):
    offering_uuid = django_filters.UUIDFilter(field_name="offering__uuid")
    is_archived = django_filters.BooleanFilter()

    class Meta:
        model = Plan
        fields = ("offering_uuid", "is_archived")


class OrderFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=OrderState.choices)
    type = django_filters.ChoiceFilter(choices=OrderType.choices)
    organization_uuid = django_filters.UUIDFilter(field_name="organization__uuid")

    class Meta:
        model = Order
        fields = ("state", "type", "organization_uuid")


class ResourceFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=ResourceState.choices)
    organization_uuid = django_filters.UUIDFilter(field_name="organization__uuid")
    offering_uuid = django_filters.UUIDFilter(field_name="offering__uuid")

    class Meta:
        model = Resource
        fields = ("state", "organization_uuid", "offering_uuid")


class ReviewFilter(django_filters.FilterSet):
    offering_uuid = django_filters.UUIDFilter(field_name="offering__uuid")

    class Meta:
        model = Review
        fields = ("offering_uuid",)

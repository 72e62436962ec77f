"""Bundles: a seller sells several of their offerings as one offering with plans of its own.

The bundle is an ordinary Offering (listed, ordered, paid and billed as one Stripe subscription); billing
keeps what it includes. When a buyer's subscription to the bundle is created, one subscription per included
offering is made on the item's plan and provisioned the normal way; when it is cancelled, they all are.
"""

import logging

from django.db import transaction

from billing.models import Bundle, BundleItem
from cmp.errors import ApplicationError, ConflictError
from marketplace.models import (
    Capability,
    Category,
    Offering,
    OfferingState,
    OrderState,
    OrderType,
    Plan,
    Resource,
    ResourceState,
    ServiceProvider,
)
from marketplace.services.catalogue import offering_create
from marketplace.services.orders import order_terminate, resource_create_for_bundle

logger = logging.getLogger(__name__)

MIN_ITEMS = 2
MAX_ITEMS = 10


def _check_items(provider: ServiceProvider, items: list[tuple[Offering, Plan]]) -> None:
    if not MIN_ITEMS <= len(items) <= MAX_ITEMS:
        raise ApplicationError(
            f"A bundle includes {MIN_ITEMS} to {MAX_ITEMS} offerings.",
            errors={"items": [f"Choose between {MIN_ITEMS} and {MAX_ITEMS} offerings."]},
        )
    offering_ids = [offering.pk for offering, _plan in items]
    if len(set(offering_ids)) != len(offering_ids):
        raise ApplicationError("Include each offering once.", errors={"items": ["An offering is repeated."]})
    bundled = set(Bundle.objects.filter(offering_id__in=offering_ids).values_list("offering_id", flat=True))
    problems = []
    for offering, plan in items:
        if offering.provider_id != provider.pk:
            problems.append(f"{offering.name} is not one of your offerings.")
        elif offering.state != OfferingState.ACTIVE:
            problems.append(f"{offering.name} is not live in the catalogue.")
        elif offering.pk in bundled:
            problems.append(f"{offering.name} is a bundle itself.")
        elif plan.offering_id != offering.pk or plan.is_archived:
            problems.append(f"Choose one of the plans on sale for {offering.name}.")
    if problems:
        raise ApplicationError("Some offerings cannot be bundled.", errors={"items": problems})


@transaction.atomic
def bundle_create(
    *,
    provider: ServiceProvider,
    category: Category,
    name: str,
    items: list[tuple[Offering, Plan]],
    actor,
    summary: str = "",
    description: str = "",
) -> Bundle:
    """A draft bundle offering including `items` (offering, plan used for it). Its own plans are added with
    the plan editor and it is published like any offering."""
    _check_items(provider, items)
    capabilities = {value for offering, _plan in items for value in offering.capabilities}
    offering = offering_create(
        provider=provider,
        category=category,
        name=name,
        actor=actor,
        summary=summary,
        description=description,
        capabilities=[value for value in Capability.values if value in capabilities],
        currency=items[0][0].currency,
    )
    bundle = Bundle.objects.create(offering=offering)
    BundleItem.objects.bulk_create(
        BundleItem(bundle=bundle, offering=offering_item, plan=plan, sort_order=position)
        for position, (offering_item, plan) in enumerate(items)
    )
    return bundle


def is_bundle(offering_id: int) -> bool:
    return Bundle.objects.filter(offering_id=offering_id).exists()


@transaction.atomic
def bundle_resource_expand(*, resource_id: int) -> list[Resource]:
    """Make the subscriptions a bundle subscription includes, one per included offering. Idempotent: returns
    those made now."""
    resource = Resource.objects.select_for_update().get(pk=resource_id)
    if resource.state not in (ResourceState.CREATING, ResourceState.OK):
        return []
    bundle = Bundle.objects.filter(offering_id=resource.offering_id).first()
    if bundle is None:
        return []
    # The row lock above serialises expansions, so what is already included is not made twice.
    done = set(resource.included_resources.values_list("offering_id", flat=True))
    made = [
        resource_create_for_bundle(organization=resource.organization, plan=item.plan, included_in=resource)
        for item in bundle.items.select_related("plan__offering").exclude(offering_id__in=done)
    ]
    if made:
        logger.info("Bundle subscription %s: %s included subscriptions made", resource.uuid, len(made))
    return made


def bundle_resource_terminate(*, resource_id: int) -> list[Resource]:
    """The bundle subscription is being cancelled: cancel every subscription it includes.

    One still being set up or changed cannot be cancelled yet: ConflictError, and the task retries.
    """
    cancelled, busy = [], []
    for resource in Resource.objects.filter(included_in_id=resource_id).order_by("pk"):
        if resource.state in (ResourceState.TERMINATING, ResourceState.TERMINATED):
            continue
        if (
            resource.state not in (ResourceState.OK, ResourceState.ERRED)
            or resource.orders.filter(state__in=(OrderState.PENDING_PAYMENT, OrderState.EXECUTING))
            .exclude(type=OrderType.CREATE)
            .exists()
        ):
            busy.append(resource.name)
            continue
        order_terminate(resource=resource, actor=None, via_bundle=True)
        cancelled.append(resource)
    if busy:
        raise ConflictError(
            f"Included subscriptions still changing: {', '.join(busy)}; cancelling them later.", code="busy"
        )
    return cancelled

from marketplace.models.catalogue import Capability, Category, Offering, OfferingEvent, OfferingState, Plan
from marketplace.models.orders import Order, OrderEvent, OrderState, OrderType, Resource, ResourceState, Review
from marketplace.models.organizations import (
    Invitation,
    InvitationState,
    Membership,
    Organization,
    Role,
    ServiceProvider,
    ServiceProviderState,
)

__all__ = [
    "Capability",
    "Category",
    "Invitation",
    "InvitationState",
    "Membership",
    "Offering",
    "OfferingEvent",
    "OfferingState",
    "Order",
    "OrderEvent",
    "OrderState",
    "OrderType",
    "Organization",
    "Plan",
    "Resource",
    "ResourceState",
    "Review",
    "Role",
    "ServiceProvider",
    "ServiceProviderState",
]

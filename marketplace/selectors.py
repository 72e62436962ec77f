"""Marketplace reads. Visibility is decided here, once per object type; what a user may not see is a 404."""

import re
from dataclasses import dataclass

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db.models import Count, F, Prefetch, Q, QuerySet
from django.http import Http404

from marketplace.models import (
    Category,
    Invitation,
    Membership,
    Offering,
    OfferingState,
    Order,
    Organization,
    Plan,
    Resource,
    Review,
    Role,
    ServiceProvider,
)

MANAGING_ROLES = (Role.OWNER, Role.MANAGER)
SORTS = {
    "newest": ("-published_at", "-id"),
    "rating": ("-rating_average", "-rating_count", "-id"),
    "price": (F("price_from_minor").asc(nulls_last=True), "id"),
    "price_desc": (F("price_from_minor").desc(nulls_last=True), "id"),
    "name": ("name", "id"),
}
SEARCH_TERM = re.compile(r"\w+", re.UNICODE)


def _is_operator(user) -> bool:
    return bool(user and user.is_authenticated and user.is_staff)


# --- Organisations --------------------------------------------------------------------------------


def organization_list_for_user(*, user) -> QuerySet[Organization]:
    if _is_operator(user):
        return Organization.objects.all()
    if not user.is_authenticated:
        return Organization.objects.none()
    return Organization.objects.filter(memberships__user=user)


def organization_get_for_user(*, user, uuid, roles: tuple[str, ...] | None = None) -> Organization:
    """The organisation if the user belongs to it (with one of `roles` when given), else 404."""
    organization = organization_list_for_user(user=user).filter(uuid=uuid).first()
    if organization is None:
        raise Http404
    if (
        roles is not None
        and not _is_operator(user)
        and membership_role(user=user, organization=organization) not in roles
    ):
        raise Http404
    return organization


def membership_role(*, user, organization: Organization) -> str | None:
    if not user.is_authenticated:
        return None
    return (
        Membership.objects.filter(user=user, organization=organization).values_list("role", flat=True).first()
    )


def user_can_manage(*, user, organization: Organization) -> bool:
    return _is_operator(user) or membership_role(user=user, organization=organization) in MANAGING_ROLES


def user_is_owner(*, user, organization: Organization) -> bool:
    return _is_operator(user) or membership_role(user=user, organization=organization) == Role.OWNER


def membership_list(*, organization: Organization) -> QuerySet[Membership]:
    return organization.memberships.select_related("user").order_by("user__email")


def invitation_list_pending(*, organization: Organization) -> QuerySet[Invitation]:
    return organization.invitations.filter(state="pending").select_related("invited_by")


def invitation_get(*, uuid) -> Invitation:
    """An invitation by its unguessable id: whoever holds the link may see it (accepting checks the email)."""
    invitation = Invitation.objects.filter(uuid=uuid).select_related("organization", "invited_by").first()
    if invitation is None:
        raise Http404
    return invitation


def organization_list_for_seller_registration(*, user) -> QuerySet[Organization]:
    """Organisations the user owns or manages that are not sellers yet."""
    if not user.is_authenticated:
        return Organization.objects.none()
    return Organization.objects.filter(
        memberships__user=user, memberships__role__in=MANAGING_ROLES, service_provider__isnull=True
    ).order_by("name")


def service_provider_list_for_member(*, user) -> QuerySet[ServiceProvider]:
    """Seller accounts of the user's own organisations (for operators too: not every seller)."""
    if not user.is_authenticated:
        return ServiceProvider.objects.none()
    return (
        ServiceProvider.objects.filter(organization__memberships__user=user)
        .select_related("organization")
        .order_by("organization__name")
    )


@dataclass(frozen=True)
class Navigation:
    organizations: list[Organization]
    providers: list[ServiceProvider]


def navigation_for_user(*, user) -> Navigation:
    organizations = list(
        Organization.objects.filter(memberships__user=user)
        .select_related("service_provider")
        .order_by("name")
    )
    providers = [org.service_provider for org in organizations if hasattr(org, "service_provider")]
    return Navigation(organizations=organizations, providers=providers)


# --- Service providers ----------------------------------------------------------------------------


def service_provider_list_for_user(*, user) -> QuerySet[ServiceProvider]:
    queryset = ServiceProvider.objects.select_related("organization")
    if _is_operator(user):
        return queryset
    if not user.is_authenticated:
        return queryset.none()
    return queryset.filter(organization__memberships__user=user)


def service_provider_get_for_user(*, user, uuid, manage: bool = False) -> ServiceProvider:
    provider = service_provider_list_for_user(user=user).filter(uuid=uuid).first()
    if provider is None:
        raise Http404
    if manage and not user_can_manage(user=user, organization=provider.organization):
        raise Http404
    return provider


# --- Catalogue ------------------------------------------------------------------------------------


def category_list() -> QuerySet[Category]:
    return Category.objects.all()


def category_list_with_offering_counts() -> QuerySet[Category]:
    """Categories with `active_offering_count`, counted in the same query."""
    return Category.objects.annotate(
        active_offering_count=Count("offerings", filter=Q(offerings__state=OfferingState.ACTIVE))
    ).order_by("sort_order", "name")


def _search_query(text: str) -> SearchQuery | None:
    """Prefix-matching query for each typed word: "supp ag" finds "Support Agent"."""
    terms = SEARCH_TERM.findall(text.lower())[:8]
    if not terms:
        return None
    return SearchQuery(" & ".join(f"{term}:*" for term in terms), search_type="raw", config="english")


def offering_search(
    *,
    query: str = "",
    category: str | None = None,
    capability: str | None = None,
    price_min: int | None = None,
    price_max: int | None = None,
    sort: str = "relevance",
) -> QuerySet[Offering]:
    """The public catalogue: active offerings, filtered and ranked. Prices are in minor units."""
    offerings = Offering.objects.filter(state=OfferingState.ACTIVE).select_related(
        "category", "provider__organization"
    )
    if category:
        offerings = offerings.filter(category__slug=category)
    if capability:
        offerings = offerings.filter(capabilities__contains=[capability])
    if price_min is not None:
        offerings = offerings.filter(price_from_minor__gte=price_min)
    if price_max is not None:
        offerings = offerings.filter(price_from_minor__lte=price_max)
    search = _search_query(query) if query else None
    if search is not None:
        offerings = offerings.filter(search_vector=search).annotate(
            rank=SearchRank(F("search_vector"), search)
        )
        if sort in ("relevance", ""):
            return offerings.order_by("-rank", "-rating_average", "-id")
    return offerings.order_by(*SORTS.get(sort, ("-rating_count", "-rating_average", "-published_at", "-id")))


def offering_get_public(*, slug: str) -> Offering:
    offering = (
        Offering.objects.filter(state=OfferingState.ACTIVE, slug=slug)
        .select_related("category", "provider__organization")
        .first()
    )
    if offering is None:
        raise Http404
    return offering


def offering_get_public_by_uuid(*, uuid) -> Offering:
    offering = (
        Offering.objects.filter(state=OfferingState.ACTIVE, uuid=uuid)
        .select_related("category", "provider__organization")
        .first()
    )
    if offering is None:
        raise Http404
    return offering


def offering_list_public_with_plans() -> QuerySet[Offering]:
    """Active offerings with their plans on sale prefetched into `public_plans`."""
    return (
        Offering.objects.filter(state=OfferingState.ACTIVE)
        .select_related("category", "provider__organization")
        .prefetch_related(
            Prefetch(
                "plans",
                queryset=Plan.objects.filter(is_archived=False).order_by("sort_order", "price_minor", "id"),
                to_attr="public_plans",
            )
        )
    )


def offering_list_for_user(*, user) -> QuerySet[Offering]:
    """Offerings the user may manage as a seller (operators: all)."""
    offerings = Offering.objects.select_related("category", "provider__organization")
    if _is_operator(user):
        return offerings
    if not user.is_authenticated:
        return offerings.none()
    return offerings.filter(
        provider__organization__memberships__user=user,
        provider__organization__memberships__role__in=MANAGING_ROLES,
    )


def offering_get_for_user(*, user, uuid) -> Offering:
    offering = offering_list_for_user(user=user).filter(uuid=uuid).first()
    if offering is None:
        raise Http404
    return offering


def plan_list_public(*, offering: Offering) -> QuerySet[Plan]:
    return offering.plans.filter(is_archived=False).order_by("sort_order", "price_minor", "id")


def plan_list_for_user(*, user) -> QuerySet[Plan]:
    """Plans a seller manages (operators: all)."""
    plans = Plan.objects.select_related("offering")
    if _is_operator(user):
        return plans
    return plans.filter(offering__in=offering_list_for_user(user=user))


def plan_get_orderable(*, uuid) -> Plan:
    plan = (
        Plan.objects.filter(uuid=uuid, is_archived=False, offering__state=OfferingState.ACTIVE)
        .select_related("offering__provider__organization", "offering__category")
        .first()
    )
    if plan is None:
        raise Http404
    return plan


def review_list_for_offering(*, offering: Offering) -> QuerySet[Review]:
    return offering.reviews.select_related("organization", "author").order_by("-created_at")


def review_list_public() -> QuerySet[Review]:
    """Reviews of offerings in the catalogue, newest first."""
    return (
        Review.objects.filter(offering__state=OfferingState.ACTIVE)
        .select_related("offering", "organization")
        .order_by("-created_at", "-id")
    )


# --- Orders and resources -------------------------------------------------------------------------


def _buyer_or_seller_filter(user) -> Q:
    return Q(organization__memberships__user=user) | Q(
        offering__provider__organization__memberships__user=user
    )


def order_list_for_user(*, user) -> QuerySet[Order]:
    """Orders of the user's organisations, and orders for offerings their organisations sell."""
    orders = Order.objects.select_related("organization", "offering", "plan", "resource", "created_by")
    if _is_operator(user):
        return orders
    if not user.is_authenticated:
        return orders.none()
    visible = Order.objects.filter(_buyer_or_seller_filter(user)).values("pk")
    return orders.filter(pk__in=visible)


def order_get_for_user(*, user, uuid) -> Order:
    order = order_list_for_user(user=user).filter(uuid=uuid).first()
    if order is None:
        raise Http404
    return order


def resource_list_for_user(*, user) -> QuerySet[Resource]:
    resources = Resource.objects.select_related("organization", "offering__category", "plan")
    if _is_operator(user):
        return resources
    if not user.is_authenticated:
        return resources.none()
    visible = Resource.objects.filter(_buyer_or_seller_filter(user)).values("pk")
    return resources.filter(pk__in=visible)


def resource_get_for_user(*, user, uuid) -> Resource:
    resource = resource_list_for_user(user=user).filter(uuid=uuid).first()
    if resource is None:
        raise Http404
    return resource

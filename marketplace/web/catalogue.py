"""Public catalogue pages: browse and search, the offering page, and reviews."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from cmp.errors import ApplicationError
from marketplace import selectors
from marketplace.models import Capability, Plan, ResourceState
from marketplace.services.reviews import review_create
from marketplace.web.forms import SORT_CHOICES, CatalogueFilterForm, ReviewForm, add_service_errors

PAGE_SIZE = 24


def catalogue(request: HttpRequest) -> HttpResponse:
    """Browse by category, search and filter. A fixed number of queries whatever the page size."""
    form = CatalogueFilterForm(request.GET)
    arguments = form.search_arguments()
    categories = list(selectors.category_list())
    current_category = next((c for c in categories if c.slug == arguments["category"]), None)
    if arguments["category"] and current_category is None:
        arguments["category"] = None  # an unknown shelf shows everything rather than nothing
    offerings = selectors.offering_search(**arguments).prefetch_related(
        Prefetch("plans", queryset=Plan.objects.filter(is_archived=False), to_attr="public_plans")
    )
    page = Paginator(offerings, PAGE_SIZE).get_page(request.GET.get("page"))

    query = request.GET.copy()
    query.pop("page", None)
    tab_query = query.copy()
    tab_query.pop("category", None)
    has_filters = any(arguments[name] for name in ("query", "capability", "price_min", "price_max"))
    has_filters = has_filters or arguments["price_min"] == 0
    return render(
        request,
        "marketplace/catalogue.html",
        {
            "form": form,
            "categories": categories,
            "current_category": current_category,
            "page_obj": page,
            "offerings": page.object_list,
            "querystring_base": query.urlencode(),
            "tab_querystring": tab_query.urlencode(),
            "search": arguments,
            "has_filters": has_filters,
            "capabilities": Capability.choices,
            "sort_choices": SORT_CHOICES,
        },
    )


def _reviewable_organizations(request: HttpRequest, offering) -> list:
    """The user's organisations that subscribed to this offering and have not reviewed it yet."""
    if not request.user.is_authenticated:
        return []
    resources = (
        selectors.resource_list_for_user(user=request.user)
        .filter(offering=offering, organization__memberships__user=request.user)
        .exclude(state=ResourceState.CREATING)
        .exclude(organization__reviews__offering=offering)
    )
    organizations = {resource.organization.pk: resource.organization for resource in resources}
    return sorted(organizations.values(), key=lambda organization: organization.name)


def _offering_context(request: HttpRequest, offering, review_form=None) -> dict:
    plans = list(selectors.plan_list_public(offering=offering))
    reviewers = _reviewable_organizations(request, offering)
    if review_form is None and reviewers:
        review_form = ReviewForm(organizations=reviewers, initial={"rating": 5})
    subscriptions = []
    if request.user.is_authenticated:
        subscriptions = list(
            selectors.resource_list_for_user(user=request.user)
            .filter(offering=offering, organization__memberships__user=request.user)
            .exclude(state=ResourceState.TERMINATED)
        )
    return {
        "offering": offering,
        "plans": plans,
        "screenshots": list(offering.screenshots.all()),
        "capabilities": [label for value, label in Capability.choices if value in offering.capabilities],
        "reviews": selectors.review_list_for_offering(offering=offering)[:20],
        "review_form": review_form,
        "subscriptions": subscriptions,
        "has_trial": any(plan.trial_days for plan in plans),
        "has_overage": any(plan.overage_price_per_1000_minor is not None for plan in plans),
    }


def offering_detail(request: HttpRequest, slug: str) -> HttpResponse:
    offering = selectors.offering_get_public(slug=slug)
    return render(request, "marketplace/offering_detail.html", _offering_context(request, offering))


@login_required
@require_POST
def offering_review(request: HttpRequest, slug: str) -> HttpResponse:
    offering = selectors.offering_get_public(slug=slug)
    form = ReviewForm(request.POST, organizations=_reviewable_organizations(request, offering))
    if form.is_valid():
        try:
            review_create(
                offering=offering,
                organization=form.cleaned_data["organization"],
                author=request.user,
                rating=form.cleaned_data["rating"],
                text=form.cleaned_data["text"],
            )
        except ApplicationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Thank you: your review is published.")
            return redirect("marketplace:offering-detail", slug=offering.slug)
    context = _offering_context(request, offering, review_form=form)
    return render(request, "marketplace/offering_detail.html", context, status=400)

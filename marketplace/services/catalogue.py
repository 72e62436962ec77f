"""Offerings and plans: create, edit, the listing state machine, and the plan template."""

from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from marketplace.errors import ApplicationError, ConflictError, InvalidTransition
from marketplace.models import (
    Capability,
    Category,
    Offering,
    OfferingEvent,
    OfferingScreenshot,
    OfferingState,
    Plan,
    ServiceProvider,
)
from marketplace.services.organizations import unique_slug
from marketplace.signals import offering_published

OFFERING_TRANSITIONS: dict[str, set[str]] = {
    OfferingState.DRAFT: {OfferingState.PENDING_REVIEW, OfferingState.ACTIVE, OfferingState.ARCHIVED},
    OfferingState.PENDING_REVIEW: {OfferingState.ACTIVE, OfferingState.DRAFT, OfferingState.ARCHIVED},
    OfferingState.ACTIVE: {OfferingState.PAUSED, OfferingState.ARCHIVED},
    OfferingState.PAUSED: {OfferingState.ACTIVE, OfferingState.ARCHIVED},
    OfferingState.ARCHIVED: set(),
}
OFFERING_EDITABLE_FIELDS = {"name", "summary", "description", "capabilities", "tags", "category", "logo"}
PLAN_EDITABLE_FIELDS = {
    "name",
    "description",
    "price_minor",
    "currency",
    "billing_period",
    "monthly_quota_calls",
    "rate_limit_per_minute",
    "overage_price_per_1000_minor",
    "trial_days",
    "sort_order",
}

# The one-click pricing template: Starter $29 / 1,000 calls, Professional $99 / 10,000,
# Enterprise $299 / 100,000.
PLAN_TEMPLATE = (
    {
        "name": "Starter",
        "price_minor": 2900,
        "monthly_quota_calls": 1_000,
        "rate_limit_per_minute": 20,
        "description": "For trying the agent on one site.",
    },
    {
        "name": "Professional",
        "price_minor": 9900,
        "monthly_quota_calls": 10_000,
        "rate_limit_per_minute": 60,
        "overage_price_per_1000_minor": 1000,
        "description": "For growing teams with steady traffic.",
    },
    {
        "name": "Enterprise",
        "price_minor": 29900,
        "monthly_quota_calls": 100_000,
        "rate_limit_per_minute": 300,
        "overage_price_per_1000_minor": 800,
        "description": "For high volume and several sites.",
    },
)


def _clean_capabilities(capabilities: list[str]) -> list[str]:
    unknown = sorted(set(capabilities) - set(Capability.values))
    if unknown:
        raise ApplicationError(
            "Unknown capabilities.",
            errors={"capabilities": [f"Unknown capability '{name}'." for name in unknown]},
        )
    return [value for value in Capability.values if value in capabilities]  # stable, de-duplicated order


def _clean_tags(tags: list[str]) -> list[str]:
    cleaned: list[str] = []
    for tag in tags:
        tag = str(tag).strip().lower()[:40]
        if tag and tag not in cleaned:
            cleaned.append(tag)
    return cleaned[:20]


@transaction.atomic
def offering_create(
    *,
    provider: ServiceProvider,
    category: Category,
    name: str,
    actor,
    summary: str = "",
    description: str = "",
    capabilities: list[str] | None = None,
    tags: list[str] | None = None,
    currency: str = "USD",
) -> Offering:
    name = name.strip()
    if not name:
        raise ApplicationError("An offering needs a name.", errors={"name": ["This field is required."]})
    offering = Offering(
        provider=provider,
        category=category,
        name=name,
        slug=unique_slug(Offering, name, max_length=140),
        summary=summary.strip(),
        description=description.strip(),
        capabilities=_clean_capabilities(
            category.default_capabilities if capabilities is None else capabilities
        ),
        tags=_clean_tags(tags or []),
        currency=currency,
    )
    offering.full_clean(exclude=["logo", "search_vector"])
    offering.save()
    return offering


@transaction.atomic
def offering_update(*, offering: Offering, actor, data: dict) -> Offering:
    unknown = set(data) - OFFERING_EDITABLE_FIELDS
    if unknown:
        raise ApplicationError(
            "Unknown fields.", errors={field: ["Unknown field."] for field in sorted(unknown)}
        )
    if offering.state == OfferingState.ARCHIVED:
        raise ConflictError("An archived offering cannot be edited.", code="archived")
    if "capabilities" in data:
        data["capabilities"] = _clean_capabilities(data["capabilities"])
    if "tags" in data:
        data["tags"] = _clean_tags(data["tags"])
    for field, value in data.items():
        setattr(offering, field, value.strip() if isinstance(value, str) else value)
    if not offering.name:
        raise ApplicationError("An offering needs a name.", errors={"name": ["This field is required."]})
    offering.full_clean(exclude=["logo", "search_vector", "slug"])
    offering.save(update_fields=[*data, "updated_at"])
    return offering


def _offering_transition(*, offering: Offering, to_state: str, actor, notes: str = "") -> Offering:
    offering = Offering.objects.select_for_update().get(pk=offering.pk)
    if to_state not in OFFERING_TRANSITIONS[offering.state]:
        raise InvalidTransition(entity="offering", from_state=offering.state, to_state=to_state)
    from_state = offering.state
    offering.state = to_state
    update_fields = ["state", "updated_at"]
    if to_state == OfferingState.ACTIVE and offering.published_at is None:
        offering.published_at = timezone.now()
        update_fields.append("published_at")
    if notes:
        offering.review_notes = notes
        update_fields.append("review_notes")
    offering.save(update_fields=update_fields)
    OfferingEvent.objects.create(
        offering=offering, from_state=from_state, to_state=to_state, actor=actor, notes=notes
    )
    if to_state == OfferingState.ACTIVE:
        offering_published.send(sender=Offering, offering=offering)
    return offering


def offering_publish_problems(offering: Offering) -> dict[str, list[str]]:
    """What stands between a draft and the catalogue, by field; empty when it can be submitted."""
    problems: dict[str, list[str]] = {}
    if not offering.description.strip():
        problems["description"] = ["Add a description before publishing."]
    if not offering.plans.filter(is_archived=False).exists():
        problems["plans"] = ["Add at least one plan before publishing."]
    if offering.terms_accepted_at is None:
        problems["terms_accepted"] = ["Accept the marketplace terms before publishing."]
    if not offering.provider.is_approved:
        problems["provider"] = ["Your seller account is waiting for an operator's approval."]
    return problems


@transaction.atomic
def offering_submit(*, offering: Offering, actor, terms_accepted: bool = False) -> Offering:
    """Send a draft to review; a trusted provider's listing goes live at once."""
    offering = Offering.objects.select_for_update(of=("self",)).select_related("provider").get(pk=offering.pk)
    if offering.state not in {OfferingState.DRAFT}:
        raise InvalidTransition(
            entity="offering", from_state=offering.state, to_state=OfferingState.PENDING_REVIEW
        )
    if terms_accepted and offering.terms_accepted_at is None:
        offering.terms_accepted_at = timezone.now()
        offering.save(update_fields=["terms_accepted_at", "updated_at"])
    problems = offering_publish_problems(offering)
    if problems:
        raise ApplicationError("This offering is not ready to publish.", code="not_ready", errors=problems)
    if offering.provider.is_trusted:
        return _offering_transition(
            offering=offering,
            to_state=OfferingState.ACTIVE,
            actor=actor,
            notes="Published directly: trusted provider.",
        )
    return _offering_transition(offering=offering, to_state=OfferingState.PENDING_REVIEW, actor=actor)


@transaction.atomic
def offering_approve(*, offering: Offering, actor, notes: str = "") -> Offering:
    if offering.state != OfferingState.PENDING_REVIEW:
        raise InvalidTransition(entity="offering", from_state=offering.state, to_state=OfferingState.ACTIVE)
    return _offering_transition(offering=offering, to_state=OfferingState.ACTIVE, actor=actor, notes=notes)


@transaction.atomic
def offering_reject(*, offering: Offering, actor, notes: str) -> Offering:
    if not notes.strip():
        raise ApplicationError(
            "Say why the listing is rejected.", errors={"notes": ["This field is required."]}
        )
    if offering.state != OfferingState.PENDING_REVIEW:
        raise InvalidTransition(entity="offering", from_state=offering.state, to_state=OfferingState.DRAFT)
    return _offering_transition(offering=offering, to_state=OfferingState.DRAFT, actor=actor, notes=notes)


@transaction.atomic
def offering_pause(*, offering: Offering, actor) -> Offering:
    """Take the listing out of the catalogue; existing subscribers keep working."""
    return _offering_transition(offering=offering, to_state=OfferingState.PAUSED, actor=actor)


@transaction.atomic
def offering_resume(*, offering: Offering, actor) -> Offering:
    if offering.state != OfferingState.PAUSED:
        raise InvalidTransition(entity="offering", from_state=offering.state, to_state=OfferingState.ACTIVE)
    return _offering_transition(offering=offering, to_state=OfferingState.ACTIVE, actor=actor)


@transaction.atomic
def offering_archive(*, offering: Offering, actor) -> Offering:
    return _offering_transition(offering=offering, to_state=OfferingState.ARCHIVED, actor=actor)


def offering_refresh_price(*, offering: Offering) -> None:
    """Keep the "from" price used by catalogue sorting and filters in step with the plans."""
    lowest = offering.plans.filter(is_archived=False).aggregate(lowest=Min("price_minor"))["lowest"]
    Offering.objects.filter(pk=offering.pk).update(price_from_minor=lowest)
    offering.price_from_minor = lowest


def _validate_plan(plan: Plan) -> None:
    plan.full_clean(exclude=["offering"])


@transaction.atomic
def plan_create(*, offering: Offering, actor, **fields) -> Plan:
    unknown = set(fields) - PLAN_EDITABLE_FIELDS
    if unknown:
        raise ApplicationError(
            "Unknown fields.", errors={field: ["Unknown field."] for field in sorted(unknown)}
        )
    if offering.state == OfferingState.ARCHIVED:
        raise ConflictError("An archived offering cannot get new plans.", code="archived")
    fields.setdefault("currency", offering.currency)
    plan = Plan(offering=offering, **fields)
    _validate_plan(plan)
    plan.save()
    offering_refresh_price(offering=offering)
    return plan


@transaction.atomic
def plan_update(*, plan: Plan, actor, data: dict) -> Plan:
    unknown = set(data) - PLAN_EDITABLE_FIELDS
    if unknown:
        raise ApplicationError(
            "Unknown fields.", errors={field: ["Unknown field."] for field in sorted(unknown)}
        )
    if plan.is_archived:
        raise ConflictError("An archived plan cannot be edited.", code="archived")
    for field, value in data.items():
        setattr(plan, field, value)
    _validate_plan(plan)
    plan.save(update_fields=[*data, "updated_at"])
    offering_refresh_price(offering=plan.offering)
    return plan


@transaction.atomic
def plan_archive(*, plan: Plan, actor) -> Plan:
    """Stop selling a plan. Existing subscribers keep it; it can no longer be ordered."""
    if plan.is_archived:
        raise ConflictError("This plan is already archived.", code="archived")
    plan.is_archived = True
    plan.save(update_fields=["is_archived", "updated_at"])
    offering_refresh_price(offering=plan.offering)
    return plan


@transaction.atomic
def plan_template_apply(*, offering: Offering, actor) -> list[Plan]:
    """Create the Starter / Professional / Enterprise plans; refused when the offering already has plans."""
    if offering.plans.filter(is_archived=False).exists():
        raise ConflictError("This offering already has plans; edit them instead.", code="has_plans")
    return [
        plan_create(offering=offering, actor=actor, sort_order=position, **template)
        for position, template in enumerate(PLAN_TEMPLATE)
    ]


MAX_SCREENSHOTS = 8


@transaction.atomic
def offering_screenshot_add(*, offering: Offering, image, actor, caption: str = "") -> OfferingScreenshot:
    """Add a screenshot (an image already checked by content, see cmp.images.check_image)."""
    offering = Offering.objects.select_for_update().get(pk=offering.pk)
    if offering.state == OfferingState.ARCHIVED:
        raise ConflictError("An archived offering cannot be edited.", code="archived")
    count = offering.screenshots.count()
    if count >= MAX_SCREENSHOTS:
        raise ConflictError(f"An offering can show at most {MAX_SCREENSHOTS} screenshots.", code="too_many")
    return OfferingScreenshot.objects.create(
        offering=offering, image=image, caption=caption.strip()[:200], sort_order=count
    )


@transaction.atomic
def offering_screenshot_remove(*, screenshot: OfferingScreenshot, actor) -> None:
    image = screenshot.image
    screenshot.delete()
    transaction.on_commit(lambda: image.delete(save=False))

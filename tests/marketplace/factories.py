"""Factories for marketplace objects. Defaults give a valid, active, orderable setup."""

import factory
from django.utils import timezone

from accounts.models import User
from marketplace.models import (
    Category,
    Membership,
    Offering,
    Order,
    Organization,
    Plan,
    Resource,
    ServiceProvider,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    full_name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organisation {n}")
    slug = factory.Sequence(lambda n: f"organisation-{n}")
    contact_email = factory.Sequence(lambda n: f"contact{n}@example.com")
    country = "NL"


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)
    role = "owner"


class ServiceProviderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ServiceProvider

    organization = factory.SubFactory(OrganizationFactory)
    description = "We build helpful agents."
    state = "approved"
    terms_accepted_at = factory.LazyFunction(timezone.now)


def category(slug: str = "agents") -> Category:
    return Category.objects.get(slug=slug)


class OfferingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Offering

    provider = factory.SubFactory(ServiceProviderFactory)
    category = factory.LazyFunction(category)
    name = factory.Sequence(lambda n: f"Support Agent {n}")
    slug = factory.Sequence(lambda n: f"support-agent-{n}")
    summary = "Answers customer questions from your documents."
    description = "A **helpful** agent."
    capabilities = factory.LazyAttribute(lambda o: list(o.category.default_capabilities))
    state = "active"
    terms_accepted_at = factory.LazyFunction(timezone.now)
    published_at = factory.LazyFunction(timezone.now)


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Plan
        skip_postgeneration_save = True

    offering = factory.SubFactory(OfferingFactory)
    name = "Starter"
    price_minor = 2900
    monthly_quota_calls = 1000
    rate_limit_per_minute = 20

    @factory.post_generation
    def _refresh_price(obj, create, extracted, **kwargs):
        if create:
            from marketplace.services.catalogue import offering_refresh_price

            offering_refresh_price(offering=obj.offering)


class ResourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Resource

    plan = factory.SubFactory(PlanFactory)
    offering = factory.SelfAttribute("plan.offering")
    organization = factory.SubFactory(OrganizationFactory)
    name = factory.SelfAttribute("offering.name")
    state = "ok"
    current_period_start = factory.LazyFunction(timezone.now)


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    plan = factory.SubFactory(PlanFactory)
    offering = factory.SelfAttribute("plan.offering")
    organization = factory.SubFactory(OrganizationFactory)
    type = "create"
    state = "pending_payment"
    cost_minor = factory.SelfAttribute("plan.price_minor")

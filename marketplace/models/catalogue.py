"""The catalogue: categories, offerings (listings) and their plans."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q

from cmp.models import PublicModel, TimeStampedModel

ACTIVE = Q(state="active")
hex_colour = RegexValidator(r"^#[0-9A-Fa-f]{6}$", "Enter a colour as #RRGGBB.")
currency_code = RegexValidator(r"^[A-Z]{3}$", "Enter a three-letter ISO 4217 currency code.")


class Capability(models.TextChoices):
    CHAT = "chat", "Chat interface"
    API = "api", "API access"
    KNOWLEDGE_BASE = "knowledge_base", "Knowledge base"
    PERSONA = "persona", "Persona"
    BRANDING = "branding", "Branding"
    INTEGRATIONS = "integrations", "Integrations"
    SCHEDULING = "scheduling", "Scheduling"


class Category(PublicModel):
    """A top-level shelf of the marketplace: Agents, Apps, Assistants, Automations."""

    name = models.CharField(max_length=60)
    slug = models.SlugField(max_length=60, unique=True)
    icon = models.CharField(max_length=40, help_text="Icon name from the bundled icon set.")
    colour = models.CharField(max_length=7, validators=[hex_colour], default="#4F46E5")
    description = models.TextField(blank=True)
    default_capabilities = ArrayField(
        models.CharField(max_length=20, choices=Capability.choices), default=list, blank=True
    )
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class OfferingState(models.TextChoices):
    DRAFT = "draft", "Draft"
    PENDING_REVIEW = "pending_review", "Pending review"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    ARCHIVED = "archived", "Archived"


class Offering(PublicModel):
    """A listing: something a service provider sells, with plans. Only active offerings can be ordered.

    `search_vector` is maintained by a database trigger (see migration 0002), so every write path, bulk
    ones included, keeps search current. `price_from_minor` and the rating fields are denormalised for
    sorting and filtering the catalogue without joins; services keep them in step.
    """

    provider = models.ForeignKey(
        "marketplace.ServiceProvider", on_delete=models.PROTECT, related_name="offerings"
    )
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="offerings")
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=140, unique=True)
    summary = models.CharField(max_length=300, blank=True)
    description = models.TextField(blank=True, help_text="Markdown; rendered with HTML removed.")
    capabilities = ArrayField(
        models.CharField(max_length=20, choices=Capability.choices), default=list, blank=True
    )
    tags = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    logo = models.ImageField(upload_to="offerings/logos/", blank=True)
    state = models.CharField(max_length=20, choices=OfferingState.choices, default=OfferingState.DRAFT)
    terms_accepted_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    review_notes = models.TextField(blank=True)

    price_from_minor = models.PositiveIntegerField(null=True, blank=True, editable=False)
    currency = models.CharField(max_length=3, default="USD", validators=[currency_code])
    rating_average = models.DecimalField(max_digits=3, decimal_places=2, default=0, editable=False)
    rating_count = models.PositiveIntegerField(default=0, editable=False)
    search_vector = SearchVectorField(null=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            GinIndex(fields=["search_vector"], name="offering_search_gin"),
            GinIndex(fields=["capabilities"], name="offering_capabilities_gin"),
            models.Index(fields=["state", "category", "-created_at"], name="offering_state_category"),
            # Partial indexes on listed offerings, one per catalogue sort order (see bench/README.md).
            models.Index(
                F("published_at").desc(), F("id").desc(), name="offering_active_newest", condition=ACTIVE
            ),
            models.Index(
                F("rating_count").desc(),
                F("rating_average").desc(),
                F("published_at").desc(),
                F("id").desc(),
                name="offering_active_popular",
                condition=ACTIVE,
            ),
            models.Index(
                F("rating_average").desc(),
                F("rating_count").desc(),
                F("id").desc(),
                name="offering_active_rating",
                condition=ACTIVE,
            ),
            models.Index(
                F("price_from_minor").asc(nulls_last=True),
                "id",
                name="offering_active_price",
                condition=ACTIVE,
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=OfferingState.values), name="offering_state_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(rating_average__gte=0, rating_average__lte=5), name="offering_rating_range"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_orderable(self) -> bool:
        return self.state == OfferingState.ACTIVE

    def has_capability(self, capability: str) -> bool:
        return capability in self.capabilities


class OfferingEvent(TimeStampedModel):
    """One change of an offering's state, with who did it and why."""

    offering = models.ForeignKey(Offering, on_delete=models.CASCADE, related_name="events")
    from_state = models.CharField(max_length=20, choices=OfferingState.choices)
    to_state = models.CharField(max_length=20, choices=OfferingState.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.offering}: {self.from_state} -> {self.to_state}"


class BillingPeriod(models.TextChoices):
    MONTH = "month", "Monthly"
    YEAR = "year", "Yearly"


class Plan(PublicModel):
    """A way to buy an offering: a price per period, a monthly API call quota and a rate limit."""

    offering = models.ForeignKey(Offering, on_delete=models.PROTECT, related_name="plans")
    name = models.CharField(max_length=60)
    description = models.CharField(max_length=300, blank=True)
    price_minor = models.PositiveIntegerField(help_text="Price per billing period, in minor units (cents).")
    currency = models.CharField(max_length=3, default="USD", validators=[currency_code])
    billing_period = models.CharField(
        max_length=8, choices=BillingPeriod.choices, default=BillingPeriod.MONTH
    )
    monthly_quota_calls = models.PositiveIntegerField(
        null=True, blank=True, help_text="API calls included per month; empty means unlimited."
    )
    rate_limit_per_minute = models.PositiveIntegerField(default=60, validators=[MinValueValidator(1)])
    overage_price_per_1000_minor = models.PositiveIntegerField(
        null=True, blank=True, help_text="Price per 1,000 calls beyond the quota; empty means calls stop."
    )
    trial_days = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(365)])
    is_archived = models.BooleanField(default=False)
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "price_minor", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(price_minor__gte=0), name="plan_price_not_negative"),
            models.CheckConstraint(
                condition=models.Q(rate_limit_per_minute__gte=1), name="plan_rate_limit_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(billing_period__in=BillingPeriod.values), name="plan_billing_period_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.offering} / {self.name}"

    @property
    def is_usage_based(self) -> bool:
        """No fixed fee, a price per 1,000 calls: every call beyond the quota (all of them when the quota
        is empty or 0) is billed from the usage meter."""
        return self.price_minor == 0 and bool(self.overage_price_per_1000_minor)

    @property
    def is_free(self) -> bool:
        return self.price_minor == 0 and not self.is_usage_based


class OfferingScreenshot(PublicModel):
    """A picture of the product in use, shown on the offering page in `sort_order`."""

    offering = models.ForeignKey(Offering, on_delete=models.CASCADE, related_name="screenshots")
    image = models.ImageField(upload_to="offerings/screenshots/")
    caption = models.CharField(max_length=200, blank=True)
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "id"]

    def __str__(self) -> str:
        return self.caption or f"Screenshot of {self.offering}"

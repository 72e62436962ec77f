"""Orders (create, change plan, terminate), the resources (subscriptions) they make, and reviews."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from cmp.models import PublicModel, TimeStampedModel


class OrderType(models.TextChoices):
    CREATE = "create", "Subscribe"
    UPDATE = "update", "Change plan"
    TERMINATE = "terminate", "Cancel"


class OrderState(models.TextChoices):
    PENDING_PAYMENT = "pending_payment", "Pending payment"
    EXECUTING = "executing", "Executing"
    DONE = "done", "Done"
    ERRED = "erred", "Erred"
    CANCELED = "canceled", "Canceled"
    REJECTED = "rejected", "Rejected"


class ResourceState(models.TextChoices):
    CREATING = "creating", "Setting up"
    OK = "ok", "Active"
    UPDATING = "updating", "Updating"
    TERMINATING = "terminating", "Cancelling"
    TERMINATED = "terminated", "Cancelled"
    ERRED = "erred", "Erred"


class Resource(PublicModel):
    """A buyer organisation's subscription to an offering, on one plan."""

    organization = models.ForeignKey(
        "marketplace.Organization", on_delete=models.PROTECT, related_name="resources"
    )
    offering = models.ForeignKey("marketplace.Offering", on_delete=models.PROTECT, related_name="resources")
    plan = models.ForeignKey("marketplace.Plan", on_delete=models.PROTECT, related_name="resources")
    name = models.CharField(max_length=150)
    state = models.CharField(max_length=16, choices=ResourceState.choices, default=ResourceState.CREATING)
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    terminated_at = models.DateTimeField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    included_in = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="included_resources",
        help_text="The bundle subscription that made this one; it changes and ends with the bundle.",
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organization", "state"], name="resource_org_state")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=ResourceState.values), name="resource_state_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.state in {ResourceState.OK, ResourceState.UPDATING}


class Order(PublicModel):
    """A request to subscribe, change plan or cancel. Its state changes only through order services."""

    organization = models.ForeignKey(
        "marketplace.Organization", on_delete=models.PROTECT, related_name="orders"
    )
    offering = models.ForeignKey("marketplace.Offering", on_delete=models.PROTECT, related_name="orders")
    plan = models.ForeignKey("marketplace.Plan", on_delete=models.PROTECT, related_name="orders")
    resource = models.ForeignKey(
        Resource, on_delete=models.PROTECT, null=True, blank=True, related_name="orders"
    )
    type = models.CharField(max_length=16, choices=OrderType.choices, default=OrderType.CREATE)
    state = models.CharField(max_length=20, choices=OrderState.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="orders"
    )
    cost_minor = models.PositiveIntegerField(default=0)
    currency = models.CharField(max_length=3, default="USD")
    paid_at = models.DateTimeField(null=True, blank=True)
    payment_reference = models.CharField(max_length=255, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    error_message = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organization", "-created_at"], name="order_org_newest")]
        constraints = [
            models.CheckConstraint(condition=models.Q(state__in=OrderState.values), name="order_state_valid"),
            models.CheckConstraint(condition=models.Q(type__in=OrderType.values), name="order_type_valid"),
            models.CheckConstraint(
                condition=models.Q(type="create") | models.Q(resource__isnull=False),
                name="order_change_needs_resource",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} {self.offering} ({self.get_state_display()})"


class OrderEvent(TimeStampedModel):
    """One change of an order's state."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    from_state = models.CharField(max_length=20, choices=OrderState.choices, blank=True)
    to_state = models.CharField(max_length=20, choices=OrderState.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.from_state or '-'} -> {self.to_state}"


class Review(PublicModel):
    """An organisation's rating (1-5) of an offering it subscribed to; one per organisation."""

    offering = models.ForeignKey("marketplace.Offering", on_delete=models.CASCADE, related_name="reviews")
    organization = models.ForeignKey(
        "marketplace.Organization", on_delete=models.CASCADE, related_name="reviews"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    rating = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(5)])
    text = models.TextField(blank=True, max_length=4000)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["offering", "organization"], name="review_once_per_organization"),
            models.CheckConstraint(
                condition=models.Q(rating__gte=1, rating__lte=5), name="review_rating_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rating}/5 for {self.offering}"

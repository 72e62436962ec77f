"""Forms of the marketplace web pages. They validate and convert input; services decide and write."""

from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError

from cmp.errors import ApplicationError
from marketplace.models import Capability, Category
from marketplace.models.catalogue import BillingPeriod

SORT_CHOICES = [
    ("relevance", "Most relevant"),
    ("newest", "Newest"),
    ("rating", "Top rated"),
    ("price", "Price: low to high"),
    ("price_desc", "Price: high to low"),
]
MAX_PRICE = Decimal("1000000")


def to_minor_units(amount: Decimal | None) -> int | None:
    """29.00 -> 2900. Prices are typed in the major unit and stored in minor units."""
    if amount is None:
        return None
    return int((amount * 100).to_integral_value())


def add_service_errors(form: forms.Form, error: Exception, field_map: dict[str, str] | None = None) -> None:
    """Show a service's ApplicationError or model ValidationError on the form: by field where we can."""
    field_map = field_map or {}
    if isinstance(error, ApplicationError):
        by_field, detail = error.errors, error.detail
    elif isinstance(error, ValidationError):
        by_field = error.message_dict if hasattr(error, "error_dict") else {}
        detail = "; ".join(error.messages)
    else:
        raise TypeError(f"Not a service error: {error!r}")
    placed = False
    for field, messages in by_field.items():
        name = field_map.get(field, field)
        for message in messages if isinstance(messages, list) else [messages]:
            if name in form.fields:
                form.add_error(name, str(message))
            else:
                form.add_error(None, str(message))
            placed = True
    if not placed:
        form.add_error(None, detail)


class CatalogueFilterForm(forms.Form):
    """The catalogue's query string. Invalid values are dropped rather than failing the page."""

    q = forms.CharField(required=False, max_length=200, label="Search")
    category = forms.SlugField(required=False)
    capability = forms.ChoiceField(required=False, choices=[("", "Any capability"), *Capability.choices])
    price_min = forms.DecimalField(
        required=False, min_value=0, max_value=MAX_PRICE, decimal_places=2, label="Min price"
    )
    price_max = forms.DecimalField(
        required=False, min_value=0, max_value=MAX_PRICE, decimal_places=2, label="Max price"
    )
    sort = forms.ChoiceField(required=False, choices=SORT_CHOICES, label="Sort by")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["q"].widget.input_type = "search"
        self.fields["q"].widget.attrs["placeholder"] = "Name or keyword"
        for name in ("price_min", "price_max"):
            self.fields[name].widget.attrs.update({"placeholder": "Any", "step": "1", "inputmode": "decimal"})

    def search_arguments(self) -> dict:
        """Keyword arguments for `offering_search`, from whatever part of the input is valid."""
        self.is_valid()
        data = {name: self.cleaned_data.get(name) for name in self.fields if name not in self.errors}
        return {
            "query": (data.get("q") or "").strip(),
            "category": data.get("category") or None,
            "capability": data.get("capability") or None,
            "price_min": to_minor_units(data.get("price_min")),
            "price_max": to_minor_units(data.get("price_max")),
            "sort": data.get("sort") or "relevance",
        }


class OrganizationChoiceForm(forms.Form):
    """Pick one of the organisations the user may order for."""

    organization = forms.ChoiceField(label="Order for")

    def __init__(self, *args, organizations, **kwargs):
        super().__init__(*args, **kwargs)
        self.organizations = {str(organization.uuid): organization for organization in organizations}
        self.fields["organization"].choices = [
            (key, organization.name) for key, organization in self.organizations.items()
        ]

    def clean_organization(self):
        return self.organizations[self.cleaned_data["organization"]]


class ReviewForm(OrganizationChoiceForm):
    rating = forms.TypedChoiceField(
        coerce=int,
        choices=[(5, "5 - Excellent"), (4, "4 - Good"), (3, "3 - Fair"), (2, "2 - Poor"), (1, "1 - Bad")],
        label="Rating",
    )
    text = forms.CharField(
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4}),
        label="Your review",
        help_text="What worked well, and what could be better?",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organization"].label = "Review as"


class ChangePlanForm(forms.Form):
    plan = forms.ChoiceField(label="New plan")

    def __init__(self, *args, plans, **kwargs):
        super().__init__(*args, **kwargs)
        self.plans = {str(plan.uuid): plan for plan in plans}
        self.fields["plan"].choices = [(key, plan.name) for key, plan in self.plans.items()]

    def clean_plan(self):
        return self.plans[self.cleaned_data["plan"]]


class OfferingForm(forms.Form):
    name = forms.CharField(max_length=120)
    category = forms.ModelChoiceField(queryset=Category.objects.all(), to_field_name="slug", empty_label=None)
    summary = forms.CharField(
        max_length=300, required=False, help_text="One sentence shown on catalogue cards."
    )
    description = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 10}),
        help_text="Markdown: headings, lists, links, tables and code. HTML is removed.",
    )
    capabilities = forms.MultipleChoiceField(
        required=False, choices=Capability.choices, widget=forms.CheckboxSelectMultiple
    )
    tags = forms.CharField(required=False, max_length=500, help_text="Comma-separated, e.g. support, retail.")

    def clean_tags(self) -> list[str]:
        return [tag.strip() for tag in self.cleaned_data["tags"].split(",") if tag.strip()]


class OfferingCreateForm(OfferingForm):
    """Creating needs only a name and a category; the rest can follow on the edit page."""

    field_order = ["name", "category", "summary"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("description", "capabilities", "tags"):
            del self.fields[name]


class PlanForm(forms.Form):
    """A plan as a seller types it: prices in the major unit (29.00), converted to minor units on save."""

    name = forms.CharField(max_length=60)
    description = forms.CharField(max_length=300, required=False)
    price = forms.DecimalField(
        min_value=0,
        max_value=MAX_PRICE,
        decimal_places=2,
        label="Price per period",
        help_text="0 makes the plan free.",
    )
    billing_period = forms.ChoiceField(choices=BillingPeriod.choices, initial=BillingPeriod.MONTH)
    monthly_quota_calls = forms.IntegerField(
        min_value=1, required=False, label="API calls per month", help_text="Empty means unlimited."
    )
    rate_limit_per_minute = forms.IntegerField(min_value=1, initial=60, label="Rate limit (calls per minute)")
    overage_price_per_1000 = forms.DecimalField(
        min_value=0,
        max_value=MAX_PRICE,
        decimal_places=2,
        required=False,
        label="Overage per 1,000 calls",
        help_text="Empty means calls stop at the quota.",
    )
    trial_days = forms.IntegerField(min_value=0, max_value=365, initial=0, label="Free trial (days)")
    sort_order = forms.IntegerField(min_value=0, max_value=1000, initial=0, label="Position")

    SERVICE_FIELDS = {"price_minor": "price", "overage_price_per_1000_minor": "overage_price_per_1000"}

    def __init__(self, *args, currency: str = "USD", **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["price"].label = f"Price per period ({currency})"
        self.fields["overage_price_per_1000"].label = f"Overage per 1,000 calls ({currency})"
        for name in ("price", "overage_price_per_1000"):
            self.fields[name].widget.attrs.update({"step": "0.01", "inputmode": "decimal"})

    @classmethod
    def initial_for(cls, plan) -> dict:
        return {
            "name": plan.name,
            "description": plan.description,
            "price": Decimal(plan.price_minor) / 100,
            "billing_period": plan.billing_period,
            "monthly_quota_calls": plan.monthly_quota_calls,
            "rate_limit_per_minute": plan.rate_limit_per_minute,
            "overage_price_per_1000": None
            if plan.overage_price_per_1000_minor is None
            else Decimal(plan.overage_price_per_1000_minor) / 100,
            "trial_days": plan.trial_days,
            "sort_order": plan.sort_order,
        }

    def service_fields(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "description": data["description"],
            "price_minor": to_minor_units(data["price"]),
            "billing_period": data["billing_period"],
            "monthly_quota_calls": data["monthly_quota_calls"],
            "rate_limit_per_minute": data["rate_limit_per_minute"],
            "overage_price_per_1000_minor": to_minor_units(data["overage_price_per_1000"]),
            "trial_days": data["trial_days"],
            "sort_order": data["sort_order"],
        }


class OfferingSubmitForm(forms.Form):
    terms_accepted = forms.BooleanField(
        label="I accept the marketplace terms for sellers and confirm this listing is accurate."
    )

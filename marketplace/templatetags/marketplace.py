"""Template helpers for marketplace pages: safe Markdown, money, prices and rating stars."""

from decimal import Decimal

from django import template
from django.utils.safestring import mark_safe

from marketplace.markdown import render_markdown

register = template.Library()

CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "AUD": "A$", "CAD": "C$", "JPY": "¥", "INR": "₹"}
ZERO_DECIMAL_CURRENCIES = {"JPY", "KRW", "VND", "CLP", "ISK", "HUF"}
PERIOD_SUFFIX = {"month": "/mo", "year": "/yr"}


@register.filter(name="markdown")
def markdown_filter(text: str) -> str:
    """Render a seller's Markdown; `render_markdown` strips anything unsafe, so the result may be trusted."""
    return mark_safe(render_markdown(text))  # noqa: S308 - sanitised by nh3 in render_markdown


def format_money(amount_minor: int | None, currency: str = "USD") -> str:
    """2900 USD -> "$29", 2950 USD -> "$29.50", 1500 CHF -> "15 CHF"."""
    if amount_minor is None:
        return ""
    currency = (currency or "USD").upper()
    if currency in ZERO_DECIMAL_CURRENCIES:
        number = f"{amount_minor:,}"
    else:
        major = Decimal(amount_minor) / 100
        number = f"{major:,.0f}" if amount_minor % 100 == 0 else f"{major:,.2f}"
    symbol = CURRENCY_SYMBOLS.get(currency)
    return f"{symbol}{number}" if symbol else f"{number} {currency}"


@register.simple_tag
def money(amount_minor, currency="USD") -> str:
    return format_money(amount_minor, currency)


@register.simple_tag
def plan_price(plan) -> str:
    """ "Free", "$29/mo", or "$2.50 / 1,000 calls" for a usage-based plan."""
    if plan.is_usage_based:
        return f"{format_money(plan.overage_price_per_1000_minor, plan.currency)} / 1,000 calls"
    if plan.price_minor == 0:
        return "Free"
    return f"{format_money(plan.price_minor, plan.currency)}{PERIOD_SUFFIX.get(plan.billing_period, '')}"


@register.simple_tag
def offering_price(offering) -> str:
    """The catalogue's price line: "Free", "from $29/mo", or "" when the offering has no plans.

    Uses the prefetched `public_plans` when present (the catalogue), so each card costs no query.
    """
    plans = getattr(offering, "public_plans", None)
    if plans is not None:
        if not plans:
            return ""
        cheapest = min(plans, key=lambda plan: (plan.price_minor, plan.sort_order))
        if cheapest.price_minor == 0:
            if all(plan.is_usage_based for plan in plans if plan.price_minor == 0):
                return "Pay per use"
            return "Free" if len(plans) == 1 else "Free plan available"
        suffix = PERIOD_SUFFIX.get(cheapest.billing_period, "")
        return f"from {format_money(cheapest.price_minor, cheapest.currency)}{suffix}"
    if offering.price_from_minor is None:
        return ""
    if offering.price_from_minor == 0:
        return "Free"
    return f"from {format_money(offering.price_from_minor, offering.currency)}"


@register.filter
def minor_to_major(amount_minor) -> str:
    """2900 -> "29.00", for pre-filling price inputs."""
    if amount_minor is None or amount_minor == "":
        return ""
    return f"{Decimal(amount_minor) / 100:.2f}"


@register.inclusion_tag("marketplace/includes/stars.html")
def rating_stars(value, count=None):
    """Five stars, the first round(value) lit, with an accessible label."""
    rating = float(value or 0)
    lit = int(rating + 0.5)
    return {"stars": [index < lit for index in range(5)], "rating": rating, "count": count}

"""Billing's template tags, for pages of other apps that show billing facts."""

from django import template

from billing import selectors

register = template.Library()


@register.simple_tag
def bundle_items(offering) -> list:
    """What a bundle offering includes; empty for any other offering."""
    return selectors.bundle_items_for_offering(offering=offering)

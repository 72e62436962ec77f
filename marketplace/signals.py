"""Signals the marketplace sends so that apps built on it can react without being imported here."""

from django.dispatch import Signal

# An offering became active (published, approved or resumed); sent inside the transaction with `offering`.
offering_published = Signal()

"""The one place CMP talks to Stripe: a configured `StripeClient` and Stripe errors turned into ours.

Every call has a timeout (STRIPE_TIMEOUT) and network failures are retried by the library
(STRIPE_MAX_NETWORK_RETRIES, with idempotency keys on every POST so a retry never charges twice).
STRIPE_API_BASE sends every request to another address: the tests run a local Stripe double there.
"""

import functools
import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import TypeVar

import stripe
from django.conf import settings

from cmp.errors import ApplicationError, ConflictError

logger = logging.getLogger(__name__)
T = TypeVar("T")


class PaymentProviderUnavailable(ApplicationError):
    """Stripe could not be reached or failed on its side; worth trying again later."""

    status_code = HTTPStatus.SERVICE_UNAVAILABLE
    default_code = "payment_provider_unavailable"


class PaymentProviderRejected(ApplicationError):
    """Stripe refused the request (bad parameters, a missing object, a wrong key): retrying will not help."""

    status_code = HTTPStatus.BAD_GATEWAY
    default_code = "payment_provider_rejected"


class PaymentDeclined(ApplicationError):
    """The buyer's bank or card declined the payment."""

    status_code = HTTPStatus.PAYMENT_REQUIRED
    default_code = "payment_declined"


def stripe_enabled() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


@functools.lru_cache(maxsize=4)
def _client(api_key: str, api_base: str, timeout: float, retries: int) -> stripe.StripeClient:
    base_addresses = (
        {"api": api_base, "connect": api_base, "files": api_base, "meter_events": api_base}
        if api_base
        else None
    )
    return stripe.StripeClient(
        api_key,
        base_addresses=base_addresses,
        max_network_retries=retries,
        http_client=stripe.RequestsClient(timeout=timeout),
    )


def get_stripe_client() -> stripe.StripeClient:
    if not stripe_enabled():
        raise ConflictError(
            "Online payments are not configured; an operator confirms payments.", code="manual_mode"
        )
    return _client(
        settings.STRIPE_SECRET_KEY,
        settings.STRIPE_API_BASE,
        settings.STRIPE_TIMEOUT,
        settings.STRIPE_MAX_NETWORK_RETRIES,
    )


def stripe_call(operation: Callable[..., T], *args, **kwargs) -> T:
    """Run one client call, translating Stripe's errors into ApplicationErrors."""
    try:
        return operation(*args, **kwargs)
    except stripe.CardError as error:
        raise PaymentDeclined(
            error.user_message or "The card was declined. Try another card.", code="payment_declined"
        ) from error
    except (stripe.APIConnectionError, stripe.RateLimitError) as error:
        logger.warning("Stripe unavailable: %s", error)
        raise PaymentProviderUnavailable(
            "The payment provider is not reachable. Try again shortly."
        ) from error
    except stripe.StripeError as error:
        if error.http_status is not None and error.http_status >= 500:
            logger.warning("Stripe failed on its side: %s", error)
            raise PaymentProviderUnavailable("The payment provider failed. Try again shortly.") from error
        logger.error("Stripe rejected a request: %s", error)
        raise PaymentProviderRejected(
            f"The payment provider refused the request: {error.user_message or error}"
        ) from error

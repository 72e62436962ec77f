"""A local Stripe double speaking the `/v1/...` endpoints CMP calls, for tests.

It runs in a thread on a free port; point `STRIPE_API_BASE` at `fake.url`. Requests arrive form-encoded in
Stripe's bracket notation (`line_items[0][price]=...`) and every one is checked against the `stripe`
package's own typed parameters (`stripe.params.*CreateParams` and friends): an unknown key, a missing
required key or a value outside a Literal gets Stripe's 400 `invalid_request_error`, which the real client
raises as `InvalidRequestError`. Answers are JSON shaped like Stripe's objects (`id`, `object`, ...).
POSTs honour `Idempotency-Key` (same key, same answer).

What a customer does at Stripe (paying at Checkout, a card declined at renewal, cancelling) is simulated by
methods that change the stored objects and return the events Stripe would send. `signed(event)` gives the
body and a `Stripe-Signature` header made with Stripe's real scheme (HMAC-SHA256 over "<t>.<body>").
"""

import hashlib
import hmac
import itertools
import json
import re
import threading
import time
import typing
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NotRequired, Required
from urllib.parse import parse_qsl, urlsplit

import stripe.params as params
import stripe.params.billing as billing_params
import stripe.params.billing_portal as portal_params
import stripe.params.checkout as checkout_params
from stripe._request_options import RequestOptions
from typing_extensions import is_typeddict

REQUEST_OPTION_KEYS = set(RequestOptions.__annotations__)
ROUTES: list[tuple[str, re.Pattern, type, str]] = [
    ("POST", re.compile(r"^/v1/customers$"), params.CustomerCreateParams, "customer_create"),
    ("POST", re.compile(r"^/v1/products$"), params.ProductCreateParams, "product_create"),
    ("POST", re.compile(r"^/v1/prices$"), params.PriceCreateParams, "price_create"),
    ("GET", re.compile(r"^/v1/billing/meters$"), billing_params.MeterListParams, "meter_list"),
    ("POST", re.compile(r"^/v1/billing/meters$"), billing_params.MeterCreateParams, "meter_create"),
    (
        "POST",
        re.compile(r"^/v1/billing/meter_events$"),
        billing_params.MeterEventCreateParams,
        "meter_event_create",
    ),
    ("POST", re.compile(r"^/v1/coupons$"), params.CouponCreateParams, "coupon_create"),
    ("POST", re.compile(r"^/v1/checkout/sessions$"), checkout_params.SessionCreateParams, "checkout_create"),
    (
        "GET",
        re.compile(r"^/v1/subscriptions/(?P<id>[\w]+)$"),
        params.SubscriptionRetrieveParams,
        "subscription_get",
    ),
    (
        "POST",
        re.compile(r"^/v1/subscriptions/(?P<id>[\w]+)$"),
        params.SubscriptionUpdateParams,
        "subscription_update",
    ),
    (
        "DELETE",
        re.compile(r"^/v1/subscriptions/(?P<id>[\w]+)$"),
        params.SubscriptionCancelParams,
        "subscription_cancel",
    ),
    ("GET", re.compile(r"^/v1/invoices/(?P<id>[\w]+)$"), params.InvoiceRetrieveParams, "invoice_get"),
    ("POST", re.compile(r"^/v1/refunds$"), params.RefundCreateParams, "refund_create"),
    (
        "POST",
        re.compile(r"^/v1/billing_portal/sessions$"),
        portal_params.SessionCreateParams,
        "portal_create",
    ),
    ("POST", re.compile(r"^/v1/accounts$"), params.AccountCreateParams, "account_create"),
    ("GET", re.compile(r"^/v1/accounts/(?P<id>[\w]+)$"), params.AccountRetrieveParams, "account_get"),
    ("POST", re.compile(r"^/v1/account_links$"), params.AccountLinkCreateParams, "account_link_create"),
]
DAY = 24 * 3600


# --- Parameters: Stripe's form encoding and the package's typed params --------------------------------


def parse_form(body: str) -> dict:
    """`a[b][0][c]=v` -> {"a": {"b": [{"c": "v"}]}}, the inverse of the client's encoding."""
    root: dict = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(root)


def _lists(node):
    if isinstance(node, dict):
        node = {key: _lists(value) for key, value in node.items()}
        if node and all(key.isdigit() for key in node):
            return [node[key] for key in sorted(node, key=int)]
    return node


def _hints(cls) -> dict:
    module = __import__(cls.__module__, fromlist=["*"])
    namespace = {**vars(typing), **vars(module), "StripeContext": typing.Any}
    hints = {}
    for key, annotation in cls.__annotations__.items():
        if key in REQUEST_OPTION_KEYS:
            continue
        if isinstance(annotation, str):
            annotation = eval(annotation, namespace)  # noqa: S307 - the package's own annotations
        elif isinstance(annotation, typing.ForwardRef):
            annotation = eval(annotation.__forward_arg__, namespace)  # noqa: S307
        hints[key] = _resolve(annotation, namespace)
    return hints


def _resolve(annotation, namespace):
    if isinstance(annotation, typing.ForwardRef):
        return eval(annotation.__forward_arg__, namespace)  # noqa: S307
    if isinstance(annotation, str):
        return eval(annotation, namespace)  # noqa: S307
    return annotation


def _unwrap(annotation):
    while typing.get_origin(annotation) in (NotRequired, Required, typing.NotRequired, typing.Required):
        annotation = typing.get_args(annotation)[0]
    return annotation


def check_params(cls, value, path: str = "") -> list[str]:
    """Problems with `value` against a TypedDict of the stripe package: unknown, missing or bad keys."""
    errors: list[str] = []
    _check(cls, value, path, errors, __import__(cls.__module__, fromlist=["*"]))
    return errors


def _check(annotation, value, path, errors, module) -> None:
    namespace = {**vars(typing), **vars(module), "StripeContext": typing.Any}
    annotation = _unwrap(_resolve(annotation, namespace))
    annotation = _unwrap(_resolve(annotation, namespace))  # NotRequired["..."] holds a forward reference
    origin = typing.get_origin(annotation)
    if is_typeddict(annotation):
        if not isinstance(value, dict):
            errors.append(f"{path or 'body'}: expected an object")
            return
        hints = _hints(annotation)
        for key in value:
            if key not in hints:
                errors.append(
                    f"Received unknown parameter: {path}[{key}]"
                    if path
                    else f"Received unknown parameter: {key}"
                )
        required = {key for key in annotation.__required_keys__ if key not in REQUEST_OPTION_KEYS}
        for key in required - set(value):
            errors.append(
                f"Missing required param: {path}[{key}]" if path else f"Missing required param: {key}"
            )
        for key, item in value.items():
            if key in hints:
                child_module = __import__(annotation.__module__, fromlist=["*"])
                _check(hints[key], item, f"{path}[{key}]" if path else key, errors, child_module)
        return
    if origin in (list, typing.List):  # noqa: UP006 - the package's annotations use typing.List
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list")
            return
        for index, item in enumerate(value):
            _check(typing.get_args(annotation)[0], item, f"{path}[{index}]", errors, module)
        return
    if origin in (dict, typing.Dict):  # noqa: UP006
        if value != "" and not isinstance(value, dict):
            errors.append(f"{path}: expected a hash")
        return
    if origin is typing.Literal:
        allowed = {
            str(item).lower() if isinstance(item, bool) else str(item) for item in typing.get_args(annotation)
        }
        if str(value) not in allowed:
            errors.append(f"Invalid {path}: must be one of {sorted(allowed)}")
        return
    if origin is typing.Union:
        for option in typing.get_args(annotation):
            trial: list[str] = []
            _check(option, value, path, trial, module)
            if not trial:
                return
        errors.append(f"Invalid value for {path}: {value!r}")
        return
    if annotation is bool and str(value) not in ("true", "false"):
        errors.append(f"Invalid boolean for {path}: {value!r}")
    elif annotation is int and not str(value).lstrip("-").isdigit():
        errors.append(f"Invalid integer for {path}: {value!r}")


# --- The server -------------------------------------------------------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str
    params: dict
    idempotency_key: str | None


class StripeError(Exception):
    def __init__(self, status: int, kind: str, message: str, *, code: str = "", param: str = ""):
        super().__init__(message)
        self.status = status
        self.body = {
            "error": {"type": kind, "message": message, "code": code or None, "param": param or None}
        }


class FakeStripe:
    def __init__(self, *, api_key: str = "sk_test_cmp_fake", webhook_secret: str = "whsec_cmp_fake"):
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.requests: list[Recorded] = []
        self.objects: dict[str, dict] = {}
        self.meter_events: dict[str, dict] = {}  # by identifier: Stripe counts an identifier once
        self.decline_next_charge = False
        self.invoice_payments: dict[str, list[dict]] = {}  # by invoice id: Stripe's includable `payments`
        self._idempotent: dict[tuple[str, str], tuple[int, dict]] = {}
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeStripe":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_test{next(self._counter):06d}"

    def calls(self, method: str, path_prefix: str) -> list[Recorded]:
        return [call for call in self.requests if call.method == method and call.path.startswith(path_prefix)]

    def of_type(self, object_type: str) -> list[dict]:
        return [item for item in self.objects.values() if item.get("object") == object_type]

    # --- HTTP ---------------------------------------------------------------------------------------

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _serve(self, method: str) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else split.query
                status, answer = fake.handle(
                    method,
                    split.path,
                    parse_form(body),
                    authorization=self.headers.get("Authorization", ""),
                    idempotency_key=self.headers.get("Idempotency-Key"),
                )
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", f"req_{next(fake._counter)}")
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_DELETE(self) -> None:
                self._serve("DELETE")

        return Handler

    def handle(self, method: str, path: str, data: dict, *, authorization: str, idempotency_key: str | None):
        with self._lock:
            self.requests.append(Recorded(method, path, data, idempotency_key))
            if authorization != f"Bearer {self.api_key}":
                return 401, {
                    "error": {"type": "invalid_request_error", "message": "Invalid API Key provided."}
                }
            if method == "POST" and idempotency_key and (path, idempotency_key) in self._idempotent:
                return self._idempotent[(path, idempotency_key)]
            for route_method, pattern, params_class, name in ROUTES:
                match = pattern.match(path)
                if route_method != method or match is None:
                    continue
                problems = check_params(params_class, data)
                if problems:
                    answer = (400, StripeError(400, "invalid_request_error", problems[0]).body)
                else:
                    try:
                        answer = (200, getattr(self, f"_{name}")(data, **match.groupdict()))
                    except StripeError as error:
                        answer = (error.status, error.body)
                if method == "POST" and idempotency_key:
                    self._idempotent[(path, idempotency_key)] = answer
                return answer
            return 404, {
                "error": {"type": "invalid_request_error", "message": f"Unrecognized request URL ({path})."}
            }

    def _get(self, object_id: str, object_type: str) -> dict:
        found = self.objects.get(object_id)
        if found is None or found["object"] != object_type:
            raise StripeError(
                404, "invalid_request_error", f"No such {object_type}: '{object_id}'", code="resource_missing"
            )
        return found

    def _store(self, item: dict) -> dict:
        self.objects[item["id"]] = item
        return item

    # --- Endpoints -----------------------------------------------------------------------------------

    def _customer_create(self, data):
        return self._store(
            {
                "id": self.new_id("cus"),
                "object": "customer",
                "name": data.get("name"),
                "email": data.get("email"),
                "metadata": data.get("metadata", {}),
                "livemode": False,
            }
        )

    def _product_create(self, data):
        return self._store(
            {
                "id": self.new_id("prod"),
                "object": "product",
                "name": data["name"],
                "active": True,
                "metadata": data.get("metadata", {}),
            }
        )

    def _price_create(self, data):
        self._get(data["product"], "product")
        recurring = data.get("recurring")
        return self._store(
            {
                "id": self.new_id("price"),
                "object": "price",
                "product": data["product"],
                "active": True,
                "currency": data["currency"],
                "unit_amount": int(data["unit_amount"]),
                "recurring": {
                    "interval": recurring["interval"],
                    "usage_type": recurring.get("usage_type", "licensed"),
                    "meter": recurring.get("meter"),
                }
                if recurring
                else None,
                "transform_quantity": data.get("transform_quantity"),
                "metadata": data.get("metadata", {}),
            }
        )

    def _meter_list(self, data):
        meters = [
            item for item in self.of_type("billing.meter") if item["status"] == data.get("status", "active")
        ]
        return {"object": "list", "data": meters, "has_more": False, "url": "/v1/billing/meters"}

    def _meter_create(self, data):
        return self._store(
            {
                "id": self.new_id("mtr"),
                "object": "billing.meter",
                "event_name": data["event_name"],
                "display_name": data["display_name"],
                "status": "active",
                "default_aggregation": data["default_aggregation"],
            }
        )

    def _meter_event_create(self, data):
        if not any(meter["event_name"] == data["event_name"] for meter in self.of_type("billing.meter")):
            raise StripeError(400, "invalid_request_error", "No active meter found for this event name.")
        identifier = data.get("identifier") or self.new_id("mev")
        event = {
            "object": "billing.meter_event",
            "event_name": data["event_name"],
            "identifier": identifier,
            "payload": data["payload"],
            "timestamp": int(data["timestamp"]),
            "created": int(time.time()),
            "livemode": False,
        }
        self.meter_events.setdefault(identifier, event)
        return event

    def _coupon_create(self, data):
        if ("amount_off" in data) == ("percent_off" in data):
            raise StripeError(
                400, "invalid_request_error", "Give amount_off or percent_off.", param="amount_off"
            )
        if "amount_off" in data and "currency" not in data:
            raise StripeError(400, "invalid_request_error", "amount_off needs a currency.", param="currency")
        if "redeem_by" in data and int(data["redeem_by"]) <= time.time():
            raise StripeError(
                400, "invalid_request_error", "redeem_by must be in the future.", param="redeem_by"
            )
        return self._store(
            {
                "id": self.new_id("coupon"),
                "object": "coupon",
                "amount_off": int(data["amount_off"]) if "amount_off" in data else None,
                "percent_off": float(data["percent_off"]) if "percent_off" in data else None,
                "currency": data.get("currency"),
                "duration": data.get("duration", "once"),
                "max_redemptions": int(data["max_redemptions"]) if "max_redemptions" in data else None,
                "redeem_by": int(data["redeem_by"]) if "redeem_by" in data else None,
                "name": data.get("name"),
                "metadata": data.get("metadata", {}),
                "times_redeemed": 0,
                "valid": True,
            }
        )

    def _checkout_create(self, data):
        self._get(data["customer"], "customer")
        for item in data["line_items"]:
            self._get(item["price"], "price")
        if data.get("discounts") and data.get("allow_promotion_codes"):
            raise StripeError(
                400, "invalid_request_error", "discounts cannot be combined with allow_promotion_codes."
            )
        for discount in data.get("discounts", []):
            coupon = self._get(discount["coupon"], "coupon")
            if not coupon["valid"]:
                raise StripeError(400, "invalid_request_error", "This coupon is no longer valid.")
        session_id = self.new_id("cs")
        return self._store(
            {
                "id": session_id,
                "object": "checkout.session",
                "mode": data["mode"],
                "status": "open",
                "payment_status": "unpaid",
                "customer": data["customer"],
                "client_reference_id": data.get("client_reference_id"),
                "metadata": data.get("metadata", {}),
                "success_url": data["success_url"],
                "cancel_url": data["cancel_url"],
                "subscription": None,
                "url": f"https://checkout.stripe.com/c/pay/{session_id}",
                "line_items": data["line_items"],
                "subscription_data": data.get("subscription_data", {}),
                "discounts": data.get("discounts", []),
            }
        )

    def _subscription_get(self, data, id):
        return self._get(id, "subscription")

    def _subscription_update(self, data, id):
        subscription = self._get(id, "subscription")
        items = subscription["items"]["data"]
        licensed_before = self._licensed_amount(subscription)
        changed = [dict(item) for item in items]
        for change in data.get("items", []):
            if "id" not in change:
                changed.append(self._subscription_item(subscription, self._get(change["price"], "price")))
                continue
            item = next((item for item in changed if item["id"] == change["id"]), None)
            if item is None:
                raise StripeError(
                    400, "invalid_request_error", f"No such subscription item: '{change['id']}'"
                )
            if change.get("deleted") == "true":
                changed.remove(item)
            elif "price" in change:
                item["price"] = self._get(change["price"], "price")
        licensed_after = self._licensed_amount({"items": {"data": changed}})
        if data.get("proration_behavior") == "always_invoice" and licensed_after > licensed_before:
            if self.decline_next_charge:
                self.decline_next_charge = False
                raise StripeError(402, "card_error", "Your card was declined.", code="card_declined")
            subscription["items"]["data"] = changed
            self._invoice(
                subscription, amount=licensed_after - licensed_before, paid=True, reason="subscription_update"
            )
        subscription["items"]["data"] = changed
        if "cancel_at_period_end" in data:
            subscription["cancel_at_period_end"] = data["cancel_at_period_end"] == "true"
        return subscription

    @staticmethod
    def _licensed_amount(subscription: dict) -> int:
        return sum(
            item["price"]["unit_amount"]
            for item in subscription["items"]["data"]
            if item["price"]["recurring"]["usage_type"] == "licensed"
        )

    def _subscription_item(self, subscription: dict, price: dict, quantity: int | None = None) -> dict:
        period = next(iter(subscription["items"]["data"]), None)
        now = int(time.time())
        return {
            "id": self.new_id("si"),
            "object": "subscription_item",
            "price": price,
            "quantity": quantity,
            "current_period_start": period["current_period_start"] if period else now,
            "current_period_end": period["current_period_end"] if period else now + 30 * DAY,
            "subscription": subscription["id"],
        }

    def _subscription_cancel(self, data, id):
        subscription = self._get(id, "subscription")
        subscription.update(status="canceled", canceled_at=int(time.time()), ended_at=int(time.time()))
        return subscription

    def _invoice_get(self, data, id):
        invoice = self._get(id, "invoice")
        if "payments" not in data.get("expand", []):
            return invoice
        payments = self.invoice_payments.get(id, [])
        url = f"/v1/invoice_payments?invoice={id}"
        return {**invoice, "payments": {"object": "list", "data": payments, "has_more": False, "url": url}}

    def _refund_create(self, data):
        if "payment_intent" in data:
            intent = self._get(data["payment_intent"], "payment_intent")
            charge = self._get(intent["latest_charge"], "charge")
        elif "charge" in data:
            charge = self._get(data["charge"], "charge")
        else:
            raise StripeError(
                400, "invalid_request_error", "One of `charge` or `payment_intent` is required."
            )
        remaining = charge["amount"] - charge["amount_refunded"]
        if remaining == 0:
            raise StripeError(
                400,
                "invalid_request_error",
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
            )
        amount = int(data.get("amount", remaining))
        if amount > remaining:
            raise StripeError(
                400,
                "invalid_request_error",
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
                param="amount",
            )
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        return self._store(
            {
                "id": self.new_id("re"),
                "object": "refund",
                "amount": amount,
                "currency": charge["currency"],
                "charge": charge["id"],
                "payment_intent": charge["payment_intent"],
                "reason": data.get("reason"),
                "status": "succeeded",
                "metadata": data.get("metadata", {}),
                "created": int(time.time()),
            }
        )

    def _portal_create(self, data):
        self._get(data["customer"], "customer")
        session_id = self.new_id("bps")
        return {
            "id": session_id,
            "object": "billing_portal.session",
            "customer": data["customer"],
            "return_url": data.get("return_url"),
            "url": f"https://billing.stripe.com/p/session/{session_id}",
        }

    def _account_create(self, data):
        return self._store(
            {
                "id": self.new_id("acct"),
                "object": "account",
                "type": data.get("type"),
                "details_submitted": False,
                "charges_enabled": False,
                "payouts_enabled": False,
                "metadata": data.get("metadata", {}),
            }
        )

    def _account_get(self, data, id):
        return self._get(id, "account")

    def _account_link_create(self, data):
        self._get(data["account"], "account")
        return {
            "object": "account_link",
            "created": int(time.time()),
            "expires_at": int(time.time()) + 300,
            "url": f"https://connect.stripe.com/setup/e/{data['account']}/{self.new_id('link')}",
        }

    # --- What customers do at Stripe, and the events Stripe sends ------------------------------------

    def _invoice(self, subscription: dict, *, amount: int, paid: bool, reason: str) -> dict:
        now = int(time.time())
        item = subscription["items"]["data"][0]
        invoice_id = self.new_id("in")
        invoice = self._store(
            {
                "id": invoice_id,
                "object": "invoice",
                "customer": subscription["customer"],
                "status": "paid" if paid else "open",
                "amount_due": amount,
                "amount_paid": amount if paid else 0,
                "currency": item["price"]["currency"],
                "number": f"CMP-{next(self._counter):04d}",
                "billing_reason": reason,
                "attempted": True,
                "hosted_invoice_url": f"https://invoice.stripe.com/i/{invoice_id}",
                "invoice_pdf": f"https://pay.stripe.com/invoice/{invoice_id}/pdf",
                "period_start": item["current_period_start"],
                "period_end": item["current_period_end"],
                "status_transitions": {"paid_at": now if paid else None},
                "parent": {
                    "type": "subscription_details",
                    "subscription_details": {
                        "subscription": subscription["id"],
                        "metadata": subscription["metadata"],
                    },
                },
            }
        )
        if paid:
            self._record_payment(invoice)
        return invoice

    def _record_payment(self, invoice: dict) -> None:
        """A paid invoice's PaymentIntent and charge, listed in the invoice's includable `payments`."""
        if not invoice["amount_paid"]:
            return
        now = int(time.time())
        intent_id, charge_id = self.new_id("pi"), self.new_id("ch")
        common = {"amount": invoice["amount_paid"], "currency": invoice["currency"], "created": now}
        self._store(
            {
                "id": charge_id,
                "object": "charge",
                **common,
                "amount_refunded": 0,
                "refunded": False,
                "paid": True,
                "payment_intent": intent_id,
                "customer": invoice["customer"],
            }
        )
        self._store(
            {
                "id": intent_id,
                "object": "payment_intent",
                **common,
                "amount_received": invoice["amount_paid"],
                "status": "succeeded",
                "latest_charge": charge_id,
                "customer": invoice["customer"],
            }
        )
        self.invoice_payments.setdefault(invoice["id"], []).append(
            {
                "id": self.new_id("inpay"),
                "object": "invoice_payment",
                "amount_paid": invoice["amount_paid"],
                "amount_requested": invoice["amount_due"],
                "currency": invoice["currency"],
                "invoice": invoice["id"],
                "is_default": True,
                "livemode": False,
                "payment": {"type": "payment_intent", "payment_intent": intent_id},
                "status": "paid",
                "status_transitions": {"canceled_at": None, "paid_at": now},
                "created": now,
            }
        )

    def complete_checkout(self, session_id: str, *, card_declined: bool = False) -> dict[str, dict]:
        """The buyer pays on Checkout. Returns the events Stripe sends, by type.

        Declined: the subscription stays `incomplete` with an open invoice; invoice.payment_failed is sent.
        """
        session = self._get(session_id, "checkout.session")
        now = int(time.time())
        trial_days = int(session["subscription_data"].get("trial_period_days") or 0)
        period_end = now + (trial_days or 30) * DAY
        subscription_id = self.new_id("sub")
        items = [
            {
                "id": self.new_id("si"),
                "object": "subscription_item",
                "price": self._get(line["price"], "price"),
                "quantity": int(line["quantity"]) if "quantity" in line else None,
                "current_period_start": now,
                "current_period_end": period_end,
                "subscription": subscription_id,
            }
            for line in session["line_items"]
        ]
        status = "incomplete" if card_declined else ("trialing" if trial_days else "active")
        subscription = self._store(
            {
                "id": subscription_id,
                "object": "subscription",
                "customer": session["customer"],
                "status": status,
                "metadata": session["subscription_data"].get("metadata", {}),
                "cancel_at_period_end": False,
                "canceled_at": None,
                "ended_at": None,
                "created": now,
                "application_fee_percent": session["subscription_data"].get("application_fee_percent"),
                "transfer_data": session["subscription_data"].get("transfer_data"),
                "items": {"object": "list", "data": items, "has_more": False},
            }
        )
        # A subscription of metered prices only (usage-based) starts with an invoice of 0, paid.
        amount = 0 if trial_days else self._licensed_amount(subscription)
        for discount in session["discounts"]:  # coupons of duration "once" come off the first invoice
            coupon = self._get(discount["coupon"], "coupon")
            amount = max(0, amount - coupon["amount_off"]) if coupon["amount_off"] else amount
            coupon["times_redeemed"] += 1
            coupon["valid"] = (
                coupon["max_redemptions"] is None or coupon["times_redeemed"] < coupon["max_redemptions"]
            )
        invoice = self._invoice(
            subscription, amount=amount, paid=not card_declined, reason="subscription_create"
        )
        subscription["latest_invoice"] = invoice["id"]
        if card_declined:
            return {"invoice.payment_failed": self.event("invoice.payment_failed", invoice)}
        session.update(status="complete", payment_status="paid", subscription=subscription_id)
        return {
            "checkout.session.completed": self.event("checkout.session.completed", session),
            "invoice.paid": self.event("invoice.paid", invoice),
        }

    def fail_renewal(self, subscription_id: str) -> dict[str, dict]:
        subscription = self._get(subscription_id, "subscription")
        self._advance(subscription)
        amount = subscription["items"]["data"][0]["price"]["unit_amount"]
        invoice = self._invoice(subscription, amount=amount, paid=False, reason="subscription_cycle")
        subscription.update(status="past_due", latest_invoice=invoice["id"])
        return {
            "invoice.payment_failed": self.event("invoice.payment_failed", invoice),
            "customer.subscription.updated": self.event("customer.subscription.updated", subscription),
        }

    def pay_invoice(self, invoice_id: str) -> dict[str, dict]:
        invoice = self._get(invoice_id, "invoice")
        invoice.update(
            status="paid", amount_paid=invoice["amount_due"], status_transitions={"paid_at": int(time.time())}
        )
        self._record_payment(invoice)
        subscription = self._get(invoice["parent"]["subscription_details"]["subscription"], "subscription")
        subscription["status"] = "active"
        return {
            "invoice.paid": self.event("invoice.paid", invoice),
            "customer.subscription.updated": self.event("customer.subscription.updated", subscription),
        }

    def renew(self, subscription_id: str) -> dict[str, dict]:
        subscription = self._get(subscription_id, "subscription")
        self._advance(subscription)
        amount = self._licensed_amount(subscription)
        invoice = self._invoice(subscription, amount=amount, paid=True, reason="subscription_cycle")
        return {"invoice.paid": self.event("invoice.paid", invoice)}

    def _advance(self, subscription: dict) -> None:
        for item in subscription["items"]["data"]:
            length = item["current_period_end"] - item["current_period_start"]
            item["current_period_start"] = item["current_period_end"]
            item["current_period_end"] += length

    def end_subscription(self, subscription_id: str) -> dict[str, dict]:
        subscription = self._subscription_cancel({}, subscription_id)
        return {"customer.subscription.deleted": self.event("customer.subscription.deleted", subscription)}

    def finish_onboarding(self, account_id: str) -> dict[str, dict]:
        account = self._get(account_id, "account")
        account.update(details_submitted=True, charges_enabled=True, payouts_enabled=True)
        return {"account.updated": self.event("account.updated", account)}

    def event(self, event_type: str, obj: dict) -> dict:
        """A snapshot event as Stripe sends it (the object as it was when the event happened)."""
        return {
            "id": self.new_id("evt"),
            "object": "event",
            "api_version": "2026-10-28.clover",
            "created": int(time.time()),
            "type": event_type,
            "livemode": False,
            "pending_webhooks": 1,
            "data": {"object": json.loads(json.dumps(obj))},
            "request": {"id": None, "idempotency_key": None},
        }

    def signed(
        self, event: dict, *, secret: str | None = None, timestamp: int | None = None
    ) -> tuple[bytes, str]:
        """The body and `Stripe-Signature` header Stripe would send for `event`."""
        body = json.dumps(event).encode()
        timestamp = int(time.time()) if timestamp is None else timestamp
        signed_payload = f"{timestamp}.".encode() + body
        signature = hmac.new(
            (secret or self.webhook_secret).encode(), signed_payload, hashlib.sha256
        ).hexdigest()
        return body, f"t={timestamp},v1={signature}"

"""Stripe endpoints: start a Checkout session, the publishable configuration, and the webhook."""

from django.conf import settings
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import selectors
from billing.api import serializers
from billing.services.checkout import checkout_start
from billing.services.webhooks import webhook_event_receive
from billing.stripe_client import stripe_enabled


class StripeCheckoutView(APIView):
    """Start paying a pending order: a Stripe Checkout session in subscription mode."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=serializers.CheckoutInputSerializer,
        responses={201: serializers.CheckoutOutputSerializer},
        tags=["billing"],
    )
    def post(self, request):
        data = serializers.CheckoutInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = selectors.order_get_payable_for_user(
            user=request.user, uuid=data.validated_data["order_uuid"]
        )
        started = checkout_start(
            order=order,
            actor=request.user,
            success_url=data.validated_data["success_url"],
            cancel_url=data.validated_data["cancel_url"],
        )
        body = serializers.CheckoutOutputSerializer(
            {"checkout_url": started.checkout_url, "session_id": started.session_id}
        ).data
        return Response(body, status=status.HTTP_201_CREATED)


class StripeConfigView(APIView):
    """What a browser needs to know about payments: the publishable key and whether Stripe is on."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(responses=serializers.StripeConfigOutputSerializer, tags=["billing"])
    def get(self, request):
        enabled = stripe_enabled()
        body = {"publishable_key": settings.STRIPE_PUBLISHABLE_KEY if enabled else "", "enabled": enabled}
        return Response(serializers.StripeConfigOutputSerializer(body).data)


class StripeWebhookView(APIView):
    """Stripe's events. The signature is checked on the raw body; processing happens in Celery."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes: list = []

    @extend_schema(
        request=OpenApiTypes.OBJECT, responses=serializers.WebhookReceivedOutputSerializer, tags=["billing"]
    )
    def post(self, request):
        received = webhook_event_receive(
            payload=request.body, signature=request.headers.get("Stripe-Signature")
        )
        return Response(
            serializers.WebhookReceivedOutputSerializer(
                {"received": True, "duplicate": not received.is_new}
            ).data
        )

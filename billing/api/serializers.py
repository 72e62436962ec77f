from rest_framework import serializers


class CheckoutInputSerializer(serializers.Serializer):
    order_uuid = serializers.UUIDField()
    success_url = serializers.URLField(max_length=2000)
    cancel_url = serializers.URLField(max_length=2000)


class CheckoutOutputSerializer(serializers.Serializer):
    checkout_url = serializers.URLField()
    session_id = serializers.CharField()


class StripeConfigOutputSerializer(serializers.Serializer):
    publishable_key = serializers.CharField(allow_blank=True)
    enabled = serializers.BooleanField()


class WebhookReceivedOutputSerializer(serializers.Serializer):
    received = serializers.BooleanField()
    duplicate = serializers.BooleanField()

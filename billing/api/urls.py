from django.urls import path

from billing.api import views

urlpatterns = [
    path("stripe/checkout/", views.StripeCheckoutView.as_view(), name="stripe-checkout"),
    path("stripe/config/", views.StripeConfigView.as_view(), name="stripe-config"),
    path("stripe/webhook/", views.StripeWebhookView.as_view(), name="stripe-webhook"),
]

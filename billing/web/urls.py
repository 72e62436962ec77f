from django.urls import path

from billing.web import views

app_name = "billing"

urlpatterns = [
    path("billing/orders/<uuid:uuid>/pay/", views.order_pay, name="order-pay"),
    path("billing/orders/<uuid:uuid>/paid/", views.order_paid, name="order-paid"),
    path("billing/organizations/<uuid:uuid>/", views.organization_billing, name="organization-billing"),
    path(
        "billing/organizations/<uuid:uuid>/invoices/",
        views.organization_invoices,
        name="organization-invoices",
    ),
    path("billing/organizations/<uuid:uuid>/portal/", views.customer_portal, name="customer-portal"),
    path(
        "billing/organizations/<uuid:uuid>/subscriptions/<uuid:resource_uuid>/plan/",
        views.subscription_plan_change,
        name="subscription-plan",
    ),
    path(
        "billing/organizations/<uuid:uuid>/subscriptions/<uuid:resource_uuid>/cancel/",
        views.subscription_cancel,
        name="subscription-cancel",
    ),
    path("billing/providers/<uuid:uuid>/bundles/", views.provider_bundles, name="provider-bundles"),
    path("billing/providers/<uuid:uuid>/payouts/", views.provider_payouts, name="provider-payouts"),
    path("billing/providers/<uuid:uuid>/revenue/", views.provider_revenue, name="provider-revenue"),
]

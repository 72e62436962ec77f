"""Catalogue, buyer and seller pages (namespace "marketplace")."""

from django.urls import path

from marketplace.web import buyer, catalogue, seller

urlpatterns = [
    # Public catalogue
    path("marketplace/", catalogue.catalogue, name="catalogue"),
    path("marketplace/offerings/<slug:slug>/", catalogue.offering_detail, name="offering-detail"),
    path("marketplace/offerings/<slug:slug>/reviews/", catalogue.offering_review, name="offering-review"),
    # Buying
    path("marketplace/plans/<uuid:uuid>/order/", buyer.order_plan, name="order-plan"),
    path("orders/<uuid:uuid>/", buyer.order_detail, name="order-detail"),
    path("orders/<uuid:uuid>/cancel/", buyer.order_cancel_view, name="order-cancel"),
    path("dashboard/", buyer.dashboard, name="dashboard"),
    path("organizations/<uuid:uuid>/", buyer.organization_dashboard, name="organization-dashboard"),
    path("organizations/<uuid:uuid>/orders/", buyer.organization_orders, name="organization-orders"),
    path(
        "organizations/<uuid:uuid>/subscriptions/<uuid:resource_uuid>/change-plan/",
        buyer.subscription_change_plan,
        name="subscription-change-plan",
    ),
    path(
        "organizations/<uuid:uuid>/subscriptions/<uuid:resource_uuid>/cancel/",
        buyer.subscription_cancel,
        name="subscription-cancel",
    ),
    # Selling
    path("providers/<uuid:uuid>/", seller.provider_dashboard, name="provider-dashboard"),
    path("providers/<uuid:uuid>/orders/", seller.provider_orders, name="provider-orders"),
    path(
        "providers/<uuid:uuid>/offerings/<uuid:offering_uuid>/",
        seller.provider_offering,
        name="provider-offering",
    ),
    path(
        "providers/<uuid:uuid>/offerings/<uuid:offering_uuid>/plans/",
        seller.provider_plan_create,
        name="provider-plan-create",
    ),
    path(
        "providers/<uuid:uuid>/offerings/<uuid:offering_uuid>/plans/template/",
        seller.provider_plan_template,
        name="provider-plan-template",
    ),
    path(
        "providers/<uuid:uuid>/offerings/<uuid:offering_uuid>/plans/<uuid:plan_uuid>/",
        seller.provider_plan_update,
        name="provider-plan-update",
    ),
    path(
        "providers/<uuid:uuid>/offerings/<uuid:offering_uuid>/plans/<uuid:plan_uuid>/archive/",
        seller.provider_plan_archive,
        name="provider-plan-archive",
    ),
    path(
        "providers/<uuid:uuid>/offerings/<uuid:offering_uuid>/submit/",
        seller.provider_offering_submit,
        name="provider-offering-submit",
    ),
    path(
        "providers/<uuid:uuid>/offerings/<uuid:offering_uuid>/<str:action>/",
        seller.provider_offering_state,
        name="provider-offering-state",
    ),
]

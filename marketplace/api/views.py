"""Marketplace REST API.

Each viewset reads through a selector (`get_queryset`) and changes state through services, one POST action
per transition. An object the caller may not see is a 404; one they may see but not change is a 403.
"""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny, IsAdminUser, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from cmp.pagination import LargeListPagination
from marketplace import selectors
from marketplace.api import serializers as s
from marketplace.api.filters import OfferingFilter, OrderFilter, PlanFilter, ResourceFilter, ReviewFilter
from marketplace.api.permissions import (
    IsOrganizationManager,
    managed_organization,
    managed_service_provider,
    referenced,
)
from marketplace.services.catalogue import (
    offering_approve,
    offering_archive,
    offering_create,
    offering_pause,
    offering_reject,
    offering_resume,
    offering_submit,
    offering_update,
    plan_archive,
    plan_create,
    plan_template_apply,
    plan_update,
)
from marketplace.services.orders import (
    order_approve,
    order_cancel,
    order_change_plan,
    order_create,
    order_mark_paid,
    order_reject,
    order_retry,
    order_terminate,
)
from marketplace.services.organizations import (
    organization_create,
    organization_update,
    service_provider_register,
)
from marketplace.services.reviews import review_create


def errors(*statuses: int) -> dict:
    """Schema entries for the error envelope under the given status codes."""
    return {
        code: OpenApiResponse(s.ErrorOutputSerializer, description="Error envelope.") for code in statuses
    }


class ApiViewSet(viewsets.GenericViewSet):
    """Shared plumbing: uuid lookups, validated input, and output through the action's serializer."""

    lookup_field = "uuid"
    request: Request

    def validated(self, serializer_class, *, partial: bool = False) -> dict:
        serializer = serializer_class(
            data=self.request.data, partial=partial, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def respond(
        self, instance, *, serializer_class=None, status_code: int = status.HTTP_200_OK, many: bool = False
    ) -> Response:
        serializer_class = serializer_class or self.get_serializer_class()
        data = serializer_class(instance, many=many, context=self.get_serializer_context()).data
        return Response(data, status=status_code)


# --- Catalogue (anonymous) ------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Categories with their number of active offerings"),
    retrieve=extend_schema(summary="A category", responses={200: s.CategoryOutputSerializer, **errors(404)}),
)
class CategoryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    permission_classes = [AllowAny]
    serializer_class = s.CategoryOutputSerializer
    pagination_class = None  # a handful of shelves, counted in one query

    def get_queryset(self):
        return selectors.category_list_with_offering_counts()


@extend_schema_view(
    list=extend_schema(
        summary="Search the catalogue",
        parameters=[s.PublicOfferingSearchInputSerializer],
        responses={200: s.PublicOfferingOutputSerializer(many=True), **errors(400)},
    ),
    retrieve=extend_schema(
        summary="An offering in the catalogue, with its plans",
        responses={200: s.PublicOfferingDetailOutputSerializer, **errors(404)},
    ),
)
class PublicOfferingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """Active offerings only. Prices are integers in minor units (cents) with a currency."""

    permission_classes = [AllowAny]
    filter_backends: list = []
    pagination_class = LargeListPagination

    def get_serializer_class(self):
        if self.action == "retrieve":
            return s.PublicOfferingDetailOutputSerializer
        return s.PublicOfferingOutputSerializer

    def get_queryset(self):
        if self.action != "list":
            return selectors.offering_list_public_with_plans()
        params = s.PublicOfferingSearchInputSerializer(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        search = params.validated_data
        offerings = selectors.offering_search(
            query=search.get("search", ""),
            category=search.get("category"),
            capability=search.get("capability"),
            price_min=search.get("price_min"),
            price_max=search.get("price_max"),
            sort=search["sort"],
        )
        return offerings.defer("description", "search_vector")  # not shown in the list


# --- Seller: offerings and plans ------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Offerings of the providers you manage (operators: all)"),
    retrieve=extend_schema(responses={200: s.OfferingOutputSerializer, **errors(404)}),
)
class OfferingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    serializer_class = s.OfferingOutputSerializer
    filterset_class = OfferingFilter

    def get_permissions(self):
        if self.action in {"approve", "reject"}:
            return [IsAdminUser()]
        return [IsAuthenticated()]

    def get_queryset(self):
        return selectors.offering_list_for_user(user=self.request.user)

    @extend_schema(
        request=s.OfferingCreateInputSerializer,
        responses={201: s.OfferingOutputSerializer, **errors(400, 403, 404)},
    )
    def create(self, request, *args, **kwargs):
        data = self.validated(s.OfferingCreateInputSerializer)
        provider = managed_service_provider(user=request.user, uuid=data.pop("provider_uuid"))
        offering = offering_create(provider=provider, actor=request.user, **data)
        return self.respond(
            selectors.offering_get_for_user(user=request.user, uuid=offering.uuid),
            status_code=status.HTTP_201_CREATED,
        )

    @extend_schema(
        request=s.OfferingUpdateInputSerializer,
        responses={200: s.OfferingOutputSerializer, **errors(400, 404, 409)},
    )
    def partial_update(self, request, *args, **kwargs):
        offering = self.get_object()
        offering_update(
            offering=offering,
            actor=request.user,
            data=self.validated(s.OfferingUpdateInputSerializer, partial=True),
        )
        return self.respond(self.get_object())

    @extend_schema(
        summary="Send a draft for review (trusted providers go live at once)",
        request=s.OfferingSubmitInputSerializer,
        responses={200: s.OfferingOutputSerializer, **errors(400, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def submit(self, request, *args, **kwargs):
        offering = self.get_object()
        offering_submit(
            offering=offering, actor=request.user, **self.validated(s.OfferingSubmitInputSerializer)
        )
        return self.respond(self.get_object())

    @extend_schema(
        summary="Take an active offering out of the catalogue",
        request=None,
        responses={200: s.OfferingOutputSerializer, **errors(404, 409)},
    )
    @action(detail=True, methods=["post"])
    def pause(self, request, *args, **kwargs):
        return self._transition(offering_pause)

    @extend_schema(
        summary="Put a paused offering back in the catalogue",
        request=None,
        responses={200: s.OfferingOutputSerializer, **errors(404, 409)},
    )
    @action(detail=True, methods=["post"])
    def resume(self, request, *args, **kwargs):
        return self._transition(offering_resume)

    @extend_schema(
        summary="Retire an offering for good (subscribers keep it)",
        request=None,
        responses={200: s.OfferingOutputSerializer, **errors(404, 409)},
    )
    @action(detail=True, methods=["post"])
    def archive(self, request, *args, **kwargs):
        return self._transition(offering_archive)

    @extend_schema(
        summary="Create the Starter / Professional / Enterprise plans",
        request=None,
        responses={201: s.PlanOutputSerializer(many=True), **errors(404, 409)},
    )
    @action(detail=True, methods=["post"])
    def apply_plan_template(self, request, *args, **kwargs):
        offering = self.get_object()
        self.validated(s.EmptyInputSerializer)
        plans = plan_template_apply(offering=offering, actor=request.user)
        return self.respond(
            plans, serializer_class=s.PlanOutputSerializer, many=True, status_code=status.HTTP_201_CREATED
        )

    @extend_schema(
        summary="Operators: publish an offering under review",
        request=s.OfferingApproveInputSerializer,
        responses={200: s.OfferingOutputSerializer, **errors(403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, *args, **kwargs):
        offering = self.get_object()
        offering_approve(
            offering=offering, actor=request.user, **self.validated(s.OfferingApproveInputSerializer)
        )
        return self.respond(self.get_object())

    @extend_schema(
        summary="Operators: send an offering under review back to draft",
        request=s.OfferingRejectInputSerializer,
        responses={200: s.OfferingOutputSerializer, **errors(400, 403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def reject(self, request, *args, **kwargs):
        offering = self.get_object()
        offering_reject(
            offering=offering, actor=request.user, **self.validated(s.OfferingRejectInputSerializer)
        )
        return self.respond(self.get_object())

    def _transition(self, service) -> Response:
        offering = self.get_object()
        self.validated(s.EmptyInputSerializer)
        service(offering=offering, actor=self.request.user)
        return self.respond(self.get_object())


@extend_schema_view(
    list=extend_schema(summary="Plans of the offerings you manage"),
    retrieve=extend_schema(responses={200: s.PlanOutputSerializer, **errors(404)}),
)
class PlanViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    permission_classes = [IsAuthenticated]
    serializer_class = s.PlanOutputSerializer
    filterset_class = PlanFilter

    def get_queryset(self):
        return selectors.plan_list_for_user(user=self.request.user)

    @extend_schema(
        request=s.PlanCreateInputSerializer, responses={201: s.PlanOutputSerializer, **errors(400, 404, 409)}
    )
    def create(self, request, *args, **kwargs):
        data = self.validated(s.PlanCreateInputSerializer)
        offering = referenced(
            selectors.offering_get_for_user,
            field="offering_uuid",
            label="Offering",
            user=request.user,
            uuid=data.pop("offering_uuid"),
        )
        plan = plan_create(offering=offering, actor=request.user, **data)
        return self.respond(plan, status_code=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.PlanUpdateInputSerializer, responses={200: s.PlanOutputSerializer, **errors(400, 404, 409)}
    )
    def partial_update(self, request, *args, **kwargs):
        plan = self.get_object()
        plan = plan_update(
            plan=plan, actor=request.user, data=self.validated(s.PlanUpdateInputSerializer, partial=True)
        )
        return self.respond(plan)

    @extend_schema(
        summary="Stop selling a plan (subscribers keep it)",
        request=None,
        responses={200: s.PlanOutputSerializer, **errors(404, 409)},
    )
    @action(detail=True, methods=["post"])
    def archive(self, request, *args, **kwargs):
        plan = self.get_object()
        self.validated(s.EmptyInputSerializer)
        return self.respond(plan_archive(plan=plan, actor=request.user))


# --- Orders and subscriptions ---------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Orders of your organisations, and orders for what you sell"),
    retrieve=extend_schema(responses={200: s.OrderDetailOutputSerializer, **errors(404)}),
)
class OrderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    filterset_class = OrderFilter
    operator_actions = frozenset({"approve", "reject", "mark_paid", "retry"})

    def get_permissions(self):
        if self.action in self.operator_actions:
            return [IsAdminUser()]
        if self.action == "cancel":
            return [IsAuthenticated(), IsOrganizationManager()]
        return [IsAuthenticated()]

    def get_serializer_class(self):
        return s.OrderDetailOutputSerializer if self.action != "list" else s.OrderOutputSerializer

    def get_queryset(self):
        orders = selectors.order_list_for_user(user=self.request.user)
        return orders if self.action == "list" else orders.prefetch_related("events")

    @extend_schema(
        summary="Subscribe an organisation to a plan",
        request=s.OrderCreateInputSerializer,
        responses={201: s.OrderDetailOutputSerializer, **errors(400, 403, 404, 409)},
    )
    def create(self, request, *args, **kwargs):
        data = self.validated(s.OrderCreateInputSerializer)
        organization = managed_organization(user=request.user, uuid=data["organization_uuid"])
        plan = referenced(
            selectors.plan_get_orderable, field="plan_uuid", label="Plan", uuid=data["plan_uuid"]
        )
        order = order_create(organization=organization, plan=plan, actor=request.user)
        return self._current(order, status_code=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Withdraw an order that is waiting for payment",
        request=None,
        responses={200: s.OrderDetailOutputSerializer, **errors(403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, *args, **kwargs):
        return self._transition(order_cancel)

    @extend_schema(
        summary="Operators: let an order proceed without payment",
        request=None,
        responses={200: s.OrderDetailOutputSerializer, **errors(403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, *args, **kwargs):
        return self._transition(order_approve)

    @extend_schema(
        summary="Operators: refuse an order",
        request=s.OrderRejectInputSerializer,
        responses={200: s.OrderDetailOutputSerializer, **errors(400, 403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def reject(self, request, *args, **kwargs):
        return self._transition(order_reject, s.OrderRejectInputSerializer)

    @extend_schema(
        summary="Operators: record a payment received outside Stripe",
        request=s.OrderMarkPaidInputSerializer,
        responses={200: s.OrderDetailOutputSerializer, **errors(400, 403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def mark_paid(self, request, *args, **kwargs):
        return self._transition(order_mark_paid, s.OrderMarkPaidInputSerializer)

    @extend_schema(
        summary="Operators: run a failed order again",
        request=None,
        responses={200: s.OrderDetailOutputSerializer, **errors(403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def retry(self, request, *args, **kwargs):
        return self._transition(order_retry)

    def _transition(self, service, input_serializer=s.EmptyInputSerializer) -> Response:
        order = self.get_object()
        order = service(order=order, actor=self.request.user, **self.validated(input_serializer))
        return self._current(order)

    def _current(self, order, *, status_code: int = status.HTTP_200_OK) -> Response:
        """The order as it is now: processing may already have moved it on after commit."""
        order = (
            selectors.order_list_for_user(user=self.request.user).prefetch_related("events").get(pk=order.pk)
        )
        return self.respond(order, serializer_class=s.OrderDetailOutputSerializer, status_code=status_code)


@extend_schema_view(
    list=extend_schema(summary="Subscriptions of your organisations, and of what you sell"),
    retrieve=extend_schema(responses={200: s.ResourceOutputSerializer, **errors(404)}),
)
class ResourceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    serializer_class = s.ResourceOutputSerializer
    filterset_class = ResourceFilter

    def get_permissions(self):
        if self.action in {"change_plan", "terminate"}:
            return [IsAuthenticated(), IsOrganizationManager()]
        return [IsAuthenticated()]

    def get_queryset(self):
        return selectors.resource_list_for_user(user=self.request.user).select_related("included_in")

    @extend_schema(
        summary="Move the subscription to another plan (creates an order)",
        request=s.ResourceChangePlanInputSerializer,
        responses={201: s.OrderDetailOutputSerializer, **errors(400, 403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def change_plan(self, request, *args, **kwargs):
        resource = self.get_object()
        data = self.validated(s.ResourceChangePlanInputSerializer)
        plan = referenced(
            selectors.plan_get_orderable, field="plan_uuid", label="Plan", uuid=data["plan_uuid"]
        )
        return self._order(order_change_plan(resource=resource, plan=plan, actor=request.user))

    @extend_schema(
        summary="Cancel the subscription (creates an order)",
        request=None,
        responses={201: s.OrderDetailOutputSerializer, **errors(403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def terminate(self, request, *args, **kwargs):
        resource = self.get_object()
        self.validated(s.EmptyInputSerializer)
        return self._order(order_terminate(resource=resource, actor=request.user))

    def _order(self, order) -> Response:
        order = (
            selectors.order_list_for_user(user=self.request.user).prefetch_related("events").get(pk=order.pk)
        )
        return self.respond(
            order, serializer_class=s.OrderDetailOutputSerializer, status_code=status.HTTP_201_CREATED
        )


# --- Organisations and sellers --------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Organisations you belong to"),
    retrieve=extend_schema(responses={200: s.OrganizationDetailOutputSerializer, **errors(404)}),
)
class OrganizationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    def get_permissions(self):
        if self.action == "partial_update":
            return [IsAuthenticated(), IsOrganizationManager()]
        return [IsAuthenticated()]

    def get_serializer_class(self):
        return (
            s.OrganizationOutputSerializer if self.action == "list" else s.OrganizationDetailOutputSerializer
        )

    def get_queryset(self):
        return selectors.organization_list_for_user(user=self.request.user)

    @extend_schema(
        summary="Create an organisation; you become its owner",
        request=s.OrganizationCreateInputSerializer,
        responses={201: s.OrganizationDetailOutputSerializer, **errors(400)},
    )
    def create(self, request, *args, **kwargs):
        organization = organization_create(
            creator=request.user, **self.validated(s.OrganizationCreateInputSerializer)
        )
        return self.respond(organization, status_code=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Owners: change the organisation's details",
        request=s.OrganizationUpdateInputSerializer,
        responses={200: s.OrganizationDetailOutputSerializer, **errors(400, 403, 404)},
    )
    def partial_update(self, request, *args, **kwargs):
        organization = self.get_object()
        data = self.validated(s.OrganizationUpdateInputSerializer, partial=True)
        return self.respond(organization_update(organization=organization, actor=request.user, data=data))


@extend_schema_view(
    list=extend_schema(summary="Seller accounts of your organisations"),
    retrieve=extend_schema(responses={200: s.ServiceProviderOutputSerializer, **errors(404)}),
)
class ServiceProviderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    permission_classes = [IsAuthenticated]
    serializer_class = s.ServiceProviderOutputSerializer

    def get_queryset(self):
        return selectors.service_provider_list_for_user(user=self.request.user)

    @extend_schema(
        summary="Register an organisation as a seller (an operator approves it)",
        request=s.ServiceProviderCreateInputSerializer,
        responses={201: s.ServiceProviderOutputSerializer, **errors(400, 403, 404, 409)},
    )
    def create(self, request, *args, **kwargs):
        data = self.validated(s.ServiceProviderCreateInputSerializer)
        organization = managed_organization(user=request.user, uuid=data.pop("organization_uuid"))
        provider = service_provider_register(organization=organization, actor=request.user, **data)
        return self.respond(provider, status_code=status.HTTP_201_CREATED)


# --- Reviews --------------------------------------------------------------------------------------


@extend_schema_view(list=extend_schema(summary="Reviews of offerings in the catalogue"))
class ReviewViewSet(mixins.ListModelMixin, ApiViewSet):
    serializer_class = s.ReviewOutputSerializer
    filterset_class = ReviewFilter

    def get_permissions(self):
        return [AllowAny()] if self.action == "list" else [IsAuthenticated()]

    def get_queryset(self):
        return selectors.review_list_public()

    @extend_schema(
        summary="Review an offering your organisation subscribed to (once)",
        request=s.ReviewCreateInputSerializer,
        responses={201: s.ReviewOutputSerializer, **errors(400, 403, 404, 409)},
    )
    def create(self, request, *args, **kwargs):
        data = self.validated(s.ReviewCreateInputSerializer)
        offering = referenced(
            selectors.offering_get_public_by_uuid,
            field="offering_uuid",
            label="Offering",
            uuid=data["offering_uuid"],
        )
        organization = managed_organization(user=request.user, uuid=data["organization_uuid"])
        review = review_create(
            offering=offering,
            organization=organization,
            author=request.user,
            rating=data["rating"],
            text=data["text"],
        )
        return self.respond(review, status_code=status.HTTP_201_CREATED)

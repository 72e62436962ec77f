"""Automations API: `/api/marketplace-ai-workflows/` and its signed webhook trigger.

Members of the agent's organisation read automations and their runs; owners and managers (and operators)
create, change, run and delete them (403 otherwise). Another organisation's automation, or one of an
agent whose offering has no scheduling capability, is a 404. The trigger endpoint is anonymous: the
request's HMAC signature with the automation's secret is its credential.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from cmp.errors import ApplicationError
from marketplace.api.serializers import ErrorOutputSerializer
from runtime_bridge import workflows
from runtime_bridge.api import workflow_serializers as s
from runtime_bridge.models import Workflow
from site_agent.selectors import config_get_for_user, config_user_can_manage

NO_STORE = {"Cache-Control": "no-store"}


def errors(*statuses: int) -> dict:
    return {code: OpenApiResponse(ErrorOutputSerializer, description="Error envelope.") for code in statuses}


class IsWorkflowManagerOrReadOnly(permissions.BasePermission):
    message = "Only owners and managers of the organisation can change its automations."

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return config_user_can_manage(user=request.user, config=obj.config)


@extend_schema_view(
    list=extend_schema(
        summary="Your organisations' automations",
        parameters=[OpenApiParameter("config", OpenApiTypes.UUID, description="Only this agent's.")],
    ),
    retrieve=extend_schema(
        summary="An automation", responses={200: s.WorkflowOutputSerializer, **errors(404)}
    ),
    destroy=extend_schema(
        summary="Delete an automation and its run history", responses={204: None, **errors(403, 404, 409)}
    ),
)
class WorkflowViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    lookup_field = "uuid"
    permission_classes = [permissions.IsAuthenticated, IsWorkflowManagerOrReadOnly]
    serializer_class = s.WorkflowOutputSerializer
    parser_classes = [JSONParser]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Workflow.objects.none()
        queryset = workflows.workflow_list_for_user(user=self.request.user)
        config = self.request.query_params.get("config")
        if config:
            try:
                queryset = queryset.filter(config__uuid=serializers.UUIDField().to_internal_value(config))
            except serializers.ValidationError as error:
                raise ApplicationError("Not a valid agent id.", errors={"config": error.detail}) from error
        return queryset

    def get_object(self) -> Workflow:
        workflow = workflows.workflow_get_for_user(user=self.request.user, uuid=self.kwargs["uuid"])
        self.check_object_permissions(self.request, workflow)
        return workflow

    def validated(self, serializer_class) -> dict:
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    @extend_schema(
        summary="Create an automation: its webhook secret is in this response only",
        request=s.WorkflowCreateInputSerializer,
        responses={201: s.WorkflowCreatedOutputSerializer, **errors(400, 403, 404, 409)},
    )
    def create(self, request, *args, **kwargs):
        data = self.validated(s.WorkflowCreateInputSerializer)
        config = config_get_for_user(user=request.user, uuid=data.pop("config"))
        if not workflows.config_has_scheduling(config=config):
            raise ApplicationError(
                "This agent's offering does not include automations.",
                code="scheduling_not_included",
                errors={"config": ["The offering has no scheduling capability."]},
            )
        if not config_user_can_manage(user=request.user, config=config):
            self.permission_denied(request, message=IsWorkflowManagerOrReadOnly.message)
        workflow, secret = workflows.workflow_create(config=config, actor=request.user, **data)
        workflow.webhook_secret = secret
        body = s.WorkflowCreatedOutputSerializer(workflow).data
        return Response(body, status=status.HTTP_201_CREATED, headers=NO_STORE)

    @extend_schema(
        summary="Change an automation",
        description="Send only the fields to change. A new schedule or trigger plans the next run from now.",
        request=s.WorkflowUpdateInputSerializer,
        responses={200: s.WorkflowOutputSerializer, **errors(400, 403, 404, 409)},
    )
    def partial_update(self, request, *args, **kwargs):
        workflow = self.get_object()
        if not isinstance(request.data, dict):
            raise ApplicationError("Send a JSON object with the fields to change.")
        unknown = sorted(set(request.data) - set(s.WorkflowUpdateInputSerializer().fields))
        if unknown:
            raise ApplicationError(
                "Some fields cannot be changed.",
                errors={field: ["Unknown or read-only field."] for field in unknown},
            )
        data = self.validated(s.WorkflowUpdateInputSerializer)
        workflow = workflows.workflow_update(workflow=workflow, actor=request.user, data=data)
        return Response(s.WorkflowOutputSerializer(workflow).data)

    def perform_destroy(self, instance: Workflow) -> None:
        workflows.workflow_delete(workflow=instance, actor=self.request.user)

    @extend_schema(
        summary="Run the automation now",
        description="Queues a run whatever the trigger; `payload` (optional) fills $payload.",
        request=s.WorkflowRunInputSerializer,
        responses={202: s.WorkflowRunOutputSerializer, **errors(400, 403, 404, 409, 429)},
    )
    @action(detail=True, methods=["post"])
    def run(self, request, *args, **kwargs):
        workflow = self.get_object()
        data = self.validated(s.WorkflowRunInputSerializer)
        run = workflows.workflow_run_now(workflow=workflow, actor=request.user, payload=data.get("payload"))
        run.refresh_from_db()  # without a worker the run has already finished
        return Response(s.WorkflowRunOutputSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="The automation's run history, newest first",
        responses={200: s.WorkflowRunOutputSerializer(many=True), **errors(404)},
    )
    @action(detail=True, methods=["get"])
    def runs(self, request, *args, **kwargs):
        workflow = self.get_object()
        page = self.paginate_queryset(workflows.workflow_run_list(workflow=workflow))
        return self.get_paginated_response(s.WorkflowRunOutputSerializer(page, many=True).data)

    @extend_schema(
        summary="Make a new webhook signing secret (the old one stops working at once)",
        request=None,
        responses={200: s.WorkflowSecretOutputSerializer, **errors(403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def rotate_secret(self, request, *args, **kwargs):
        workflow = self.get_object()
        _workflow, secret = workflows.workflow_rotate_secret(workflow=workflow, actor=request.user)
        return Response(s.WorkflowSecretOutputSerializer({"webhook_secret": secret}).data, headers=NO_STORE)


class WorkflowTriggerOutputSerializer(serializers.Serializer):
    run = serializers.UUIDField(help_text="The run that was queued.")
    status = serializers.CharField()


class WorkflowTriggerView(APIView):
    """Start a run of a webhook-triggered automation. Sign the raw body with the automation's secret,
    `CMP-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`; the JSON body is $payload."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = [AnonRateThrottle]

    @extend_schema(
        summary="Trigger an automation with a signed webhook",
        request={"application/json": OpenApiTypes.ANY},
        parameters=[
            OpenApiParameter(
                "CMP-Signature",
                OpenApiTypes.STR,
                location=OpenApiParameter.HEADER,
                required=True,
                description='t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" with the secret>',
            )
        ],
        responses={202: WorkflowTriggerOutputSerializer, **errors(400, 401, 404, 409, 429)},
        auth=[],
    )
    def post(self, request, uuid):
        run = workflows.workflow_trigger_webhook(
            workflow_uuid=uuid, signature_header=request.headers.get("CMP-Signature", ""), body=request.body
        )
        run.refresh_from_db()  # without a worker the run has already finished
        body = WorkflowTriggerOutputSerializer({"run": run.uuid, "status": run.status}).data
        return Response(body, status=status.HTTP_202_ACCEPTED)

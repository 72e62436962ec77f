"""Seller API: import Langflow flows (`/api/flows/import/`) and manage agents (`/api/provider-agents/`)."""

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from cmp.errors import ApplicationError
from marketplace.selectors import service_provider_get_for_user
from marketplace.services.catalogue import offering_pause, offering_resume, offering_submit
from runtime_bridge.api import serializers
from runtime_bridge.api.permissions import IsSeller
from runtime_bridge.services import flow_check, flow_import, flow_import_version
from site_agent.analytics import agent_analytics
from site_agent.models import AgentIdentity
from site_agent.selectors import agent_get_for_user, agent_list_for_user, agent_version_find
from site_agent.services.agents import agent_archive, agent_update
from site_agent.services.configs import agent_version_rollout


def _import(request, data) -> Response:
    provider = service_provider_get_for_user(user=request.user, uuid=data["provider_uuid"], manage=True)
    agent, report = flow_import(
        provider=provider,
        category=data["category"],
        raw=data["flow_json"],
        name=data["name"],
        description=data["description"],
        summary=data["summary"],
        actor=request.user,
    )
    body = {
        "offering_uuid": agent.offering.uuid,
        "agent_uuid": agent.uuid,
        "version": agent.current_version.version,
        "status": "created",
        "report": report.as_dict(),
    }
    return Response(serializers.FlowImportOutputSerializer(body).data, status=status.HTTP_201_CREATED)


class FlowImportView(APIView):
    """Turn a Langflow Studio export into an agent, its first version and a draft offering."""

    permission_classes = [IsSeller]

    @extend_schema(
        request=serializers.FlowImportInputSerializer,
        responses={201: serializers.FlowImportOutputSerializer},
        operation_id="flows_import",
    )
    def post(self, request):
        data = serializers.FlowImportInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return _import(request, data.validated_data)


class ProviderAgentViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """A seller's agents: the flows behind their offerings, with versions."""

    permission_classes = [IsSeller]
    lookup_field = "uuid"
    serializer_class = serializers.AgentOutputSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return AgentIdentity.objects.none()
        return agent_list_for_user(user=self.request.user)

    def get_object(self):
        return agent_get_for_user(user=self.request.user, uuid=self.kwargs["uuid"])

    def get_serializer_class(self):
        if self.action == "retrieve":
            return serializers.AgentDetailOutputSerializer
        return serializers.AgentOutputSerializer

    def _detail(self, agent, *, status_code=status.HTTP_200_OK) -> Response:
        agent = agent_get_for_user(user=self.request.user, uuid=agent.uuid)
        return Response(serializers.AgentDetailOutputSerializer(agent).data, status=status_code)

    @extend_schema(
        request=serializers.FlowImportInputSerializer, responses={201: serializers.FlowImportOutputSerializer}
    )
    def create(self, request):
        data = serializers.FlowImportInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return _import(request, data.validated_data)

    @extend_schema(
        request=serializers.AgentUpdateInputSerializer, responses=serializers.AgentDetailOutputSerializer
    )
    def partial_update(self, request, uuid=None):
        agent = self.get_object()
        data = serializers.AgentUpdateInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        agent_update(agent=agent, actor=request.user, data=data.validated_data)
        return self._detail(agent)

    def perform_destroy(self, instance):
        agent_archive(agent=instance, actor=self.request.user)

    @extend_schema(
        request=serializers.FlowValidateInputSerializer, responses=serializers.FlowReportSerializer
    )
    @action(detail=False, methods=["post"])
    def validate_flow(self, request):
        """Check a flow without storing anything: problems by node, counts, components, variables."""
        data = serializers.FlowValidateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        report = flow_check(raw=data.validated_data["flow_json"], category=data.validated_data["category"])
        return Response(serializers.FlowReportSerializer(report.as_dict()).data)

    @extend_schema(
        methods=["post"],
        request=serializers.VersionCreateInputSerializer,
        responses={
            201: serializers.AgentVersionOutputSerializer,
            200: serializers.AgentVersionOutputSerializer,
        },
    )
    @extend_schema(methods=["get"], responses=serializers.AgentVersionOutputSerializer(many=True))
    @action(detail=True, methods=["get", "post"])
    def versions(self, request, uuid=None):
        """List versions, or import a new export of this agent (the same content again creates nothing)."""
        agent = self.get_object()
        if request.method == "GET":
            return Response(serializers.AgentVersionOutputSerializer(agent.version_list, many=True).data)
        data = serializers.VersionCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version, created, _report = flow_import_version(
            agent=agent,
            raw=data.validated_data["flow_json"],
            version=data.validated_data["version"],
            changelog=data.validated_data["changelog"],
            actor=request.user,
        )
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(serializers.AgentVersionOutputSerializer(version).data, status=code)

    @extend_schema(
        request=serializers.PublishInputSerializer, responses=serializers.AgentDetailOutputSerializer
    )
    @action(detail=True, methods=["post"])
    def publish(self, request, uuid=None):
        """Submit the listing for review (trusted sellers go live at once); a paused listing is resumed."""
        agent = self.get_object()
        data = serializers.PublishInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        with transaction.atomic():
            if agent.offering.state == "paused":
                offering_resume(offering=agent.offering, actor=request.user)
            else:
                offering_submit(
                    offering=agent.offering,
                    actor=request.user,
                    terms_accepted=data.validated_data["terms_accepted"],
                )
        return self._detail(agent)

    @extend_schema(request=None, responses=serializers.AgentDetailOutputSerializer)
    @action(detail=True, methods=["post"])
    def unpublish(self, request, uuid=None):
        """Take the listing out of the catalogue; existing subscribers keep working."""
        agent = self.get_object()
        offering_pause(offering=agent.offering, actor=request.user)
        return self._detail(agent)

    @extend_schema(request=serializers.RolloutInputSerializer, responses=serializers.RolloutOutputSerializer)
    @action(detail=True, methods=["post"])
    def rollout(self, request, uuid=None):
        """Move every subscriber (buyer config not cancelled) to `version`; their runtime flows are redeployed
        in the background, and each keeps answering with its previous version until replaced."""
        agent = self.get_object()
        data = serializers.RolloutInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        label = data.validated_data["version"].strip()
        version = agent_version_find(agent_id=agent.pk, label=label)
        if version is None:
            raise ApplicationError(
                f"This agent has no version {label}.", errors={"version": ["No such version of this agent."]}
            )
        moved = agent_version_rollout(version=version, actor=request.user)
        body = {"version": version.version, "configs_moved": len(moved)}
        return Response(serializers.RolloutOutputSerializer(body).data)

    @extend_schema(
        parameters=[serializers.AnalyticsQuerySerializer],
        responses=serializers.AgentAnalyticsOutputSerializer,
    )
    @action(detail=True, methods=["get"])
    def analytics(self, request, uuid=None):
        """Deployments, usage (calls, tokens, calls per day) and revenue over the last `days` days."""
        agent = self.get_object()
        query = serializers.AnalyticsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        figures = agent_analytics(agent=agent, days=query.validated_data["days"])
        return Response(serializers.AgentAnalyticsOutputSerializer(figures).data)

"""Provisioning against a real `lfx serve`: purchase -> config + own runtime flow; cancel -> all removed."""

import pytest

from marketplace.models import OrderState, ResourceState
from marketplace.services.catalogue import plan_template_apply
from marketplace.services.orders import order_create, order_retry, order_terminate
from runtime_bridge.runtime_client import get_runtime_client
from runtime_bridge.services import flow_import
from site_agent.models import ConfigState, DeploymentState
from site_agent.services.api_keys import api_key_check, api_key_create
from tests.marketplace.factories import (
    MembershipFactory,
    OrganizationFactory,
    ServiceProviderFactory,
    UserFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.services]


@pytest.fixture
def agent_offering(support_flow):
    provider = ServiceProviderFactory(is_trusted=True)
    seller = UserFactory()
    from marketplace.models import Category
    from marketplace.services.catalogue import offering_submit

    agent, _ = flow_import(
        provider=provider,
        category=Category.objects.get(slug="agents"),
        raw=support_flow,
        actor=seller,
        description="Answers from your help centre.",
    )
    plan_template_apply(offering=agent.offering, actor=seller)
    offering_submit(offering=agent.offering, actor=seller, terms_accepted=True)
    return agent.offering


@pytest.fixture
def buyer():
    user = UserFactory()
    organization = OrganizationFactory()
    MembershipFactory(organization=organization, user=user, role="owner")
    return user, organization


def _buy(offering, buyer, capture):
    user, organization = buyer
    free = offering.plans.order_by("price_minor").first()
    free.price_minor = 0
    free.save(update_fields=["price_minor"])
    with capture(execute=True):
        order = order_create(organization=organization, plan=free, actor=user)
    order.refresh_from_db()
    return order


def test_purchase_provisions_a_config_and_its_own_runtime_flow(
    runtime_settings, agent_offering, buyer, django_capture_on_commit_callbacks
):
    order = _buy(agent_offering, buyer, django_capture_on_commit_callbacks)

    config = order.resource.agent_config
    assert order.state == OrderState.DONE
    assert order.resource.state == ResourceState.OK
    assert config.deployment_state == DeploymentState.DEPLOYED
    assert config.runtime_flow_id == str(config.uuid)
    assert config.knowledge_base is not None
    assert config.agent_name == agent_offering.name
    with get_runtime_client() as runtime:
        assert config.runtime_flow_id in runtime.list_flow_ids()
        answer = runtime.run(
            config.runtime_flow_id,
            input_value="Hello?",
            session_id="t",
            variables={"CMP_CONTEXT": "We open at nine."},
        )
    assert "We open at nine." in answer.output


def test_provisioning_twice_deploys_once(
    runtime_settings, agent_offering, buyer, django_capture_on_commit_callbacks
):
    from runtime_bridge.provisioning import resource_provision

    order = _buy(agent_offering, buyer, django_capture_on_commit_callbacks)
    resource = order.resource

    again = resource_provision(resource_id=resource.pk)

    assert again == resource.agent_config
    with get_runtime_client() as runtime:
        assert runtime.list_flow_ids().count(resource.agent_config.runtime_flow_id) == 1


def test_runtime_down_retries_then_errs_and_an_operator_retry_succeeds(
    settings, runtime_settings, lfx_runtime, agent_offering, buyer, django_capture_on_commit_callbacks
):
    settings.RUNTIME_URL = "http://127.0.0.1:9"
    order = _buy(agent_offering, buyer, django_capture_on_commit_callbacks)

    config = order.resource.agent_config
    assert order.state == OrderState.ERRED
    assert order.resource.state == ResourceState.ERRED
    assert config.deployment_state == DeploymentState.FAILED
    assert "cannot be reached" in config.deployment_error

    settings.RUNTIME_URL = lfx_runtime.url
    operator = UserFactory(is_staff=True)
    with django_capture_on_commit_callbacks(execute=True):
        order_retry(order=order, actor=operator)
    order.refresh_from_db()
    config.refresh_from_db()
    assert order.state == OrderState.DONE
    assert config.deployment_state == DeploymentState.DEPLOYED


def test_cancellation_removes_the_flow_revokes_keys_and_archives(
    runtime_settings, agent_offering, buyer, django_capture_on_commit_callbacks
):
    user, _organization = buyer
    order = _buy(agent_offering, buyer, django_capture_on_commit_callbacks)
    config = order.resource.agent_config
    _key, plaintext = api_key_create(config=config, name="site", actor=user)
    assert api_key_check(key=plaintext).valid is True

    with django_capture_on_commit_callbacks(execute=True):
        order_terminate(resource=order.resource, actor=user)

    config.refresh_from_db()
    assert config.resource.state == ResourceState.TERMINATED
    assert config.state == ConfigState.ARCHIVED
    assert api_key_check(key=plaintext).valid is False
    with get_runtime_client() as runtime:
        assert config.runtime_flow_id not in runtime.list_flow_ids()


class _FakeRequest:
    def __init__(self, retries: int):
        self.retries = retries
        self.is_eager = False


class _FakeTask:
    """Stands in for a bound Celery task on a worker, recording the retry it asks for."""

    max_retries = 8

    def __init__(self, retries: int):
        self.request = _FakeRequest(retries)
        self.countdowns: list[int] = []

    def retry(self, *, exc, countdown):
        self.countdowns.append(countdown)
        return RuntimeError("retry scheduled")


def _creating_resource(agent_offering, buyer):
    from marketplace.models import Resource

    _user, organization = buyer
    plan = agent_offering.plans.first()
    return Resource.objects.create(
        organization=organization, offering=agent_offering, plan=plan, name="x", state=ResourceState.CREATING
    )


def test_on_a_worker_an_outage_is_retried_with_growing_backoff(
    settings, runtime_settings, agent_offering, buyer
):
    from runtime_bridge.provisioning import resource_provision
    from runtime_bridge.tasks import _run

    settings.RUNTIME_URL = "http://127.0.0.1:9"
    resource = _creating_resource(agent_offering, buyer)
    countdowns = []
    for retries in (0, 3):
        task = _FakeTask(retries)
        with pytest.raises(RuntimeError, match="retry scheduled"):
            _run(task, resource_provision, resource.pk)
        countdowns.extend(task.countdowns)

    resource.refresh_from_db()
    assert resource.state == ResourceState.CREATING
    assert resource.agent_config.deployment_state == DeploymentState.FAILED
    assert 5 <= countdowns[0] <= 10
    assert 40 <= countdowns[1] <= 45


def test_on_a_worker_the_last_retry_gives_up_visibly(settings, runtime_settings, agent_offering, buyer):
    from runtime_bridge.provisioning import resource_provision
    from runtime_bridge.tasks import _run

    settings.RUNTIME_URL = "http://127.0.0.1:9"
    resource = _creating_resource(agent_offering, buyer)

    _run(_FakeTask(retries=8), resource_provision, resource.pk)

    resource.refresh_from_db()
    assert resource.state == ResourceState.ERRED
    assert "stayed unavailable" in resource.error_message

"""The config a chat message is prepared with: read fresh from the database in one query, with every column
the gateway uses loaded (the rest deferred)."""

from datetime import UTC, datetime

import pytest

from cmp.errors import NotFoundError
from runtime_bridge import gateway
from site_agent.models import CustomerAgentConfig
from tests.marketplace_ai.factories import KnowledgeBaseFactory
from tests.site_agent.factories import ConfigFactory

pytestmark = pytest.mark.django_db

USED = [
    "pk",
    "uuid",
    "state",
    "agent_name",
    "tone",
    "system_prompt",
    "allowed_domains",
    "runtime_flow_id",
    "resource.pk",
    "resource.state",
    "resource.is_active",
    "resource.current_period_start",
    "resource.created_at",
    "resource.plan.pk",
    "resource.plan.name",
    "resource.plan.monthly_quota_calls",
    "resource.plan.rate_limit_per_minute",
    "resource.plan.overage_price_per_1000_minor",
    "resource.offering.pk",
    "resource.offering.capabilities",
    "knowledge_base.pk",
    "knowledge_base.backend",
    "knowledge_base.ragflow_dataset_id",
    "knowledge_base.archived_at",
]


def _value(instance, path: str):
    for name in path.split("."):
        instance = getattr(instance, name)
    return instance


def _values(config) -> dict:
    return {path: _value(config, path) for path in USED}


def test_every_column_the_gateway_uses_is_loaded_in_one_query(django_assert_num_queries):
    config = ConfigFactory(
        knowledge_base=KnowledgeBaseFactory(
            backend="ragflow", ragflow_dataset_id="ds-1", archived_at=datetime(2026, 1, 2, tzinfo=UTC)
        ),
        tone="friendly",
        system_prompt="Answer in French.",
        allowed_domains=["shop.example.com", "example.org"],
        runtime_flow_id="flow-1",
        resource__current_period_start=datetime(2026, 3, 4, 5, 6, tzinfo=UTC),
        resource__plan__overage_price_per_1000_minor=150,
    )
    expected = _values(
        CustomerAgentConfig.objects.select_related(
            "resource__plan", "resource__offering", "knowledge_base"
        ).get(pk=config.pk)
    )

    with django_assert_num_queries(1):
        loaded = _values(gateway._load_config(str(config.uuid)))

    assert loaded == expected
    assert [type(loaded[path]) for path in USED] == [type(expected[path]) for path in USED]
    assert loaded["knowledge_base.ragflow_dataset_id"] == "ds-1"
    assert loaded["resource.plan.overage_price_per_1000_minor"] == 150


def test_other_columns_are_deferred():
    config = gateway._load_config(str(ConfigFactory().uuid))

    assert "greeting" in config.get_deferred_fields()
    assert "description" in config.resource.offering.get_deferred_fields()


def test_a_config_without_a_knowledge_base_has_none():
    config = ConfigFactory(knowledge_base=None)

    loaded = gateway._load_config(str(config.uuid))

    assert loaded.knowledge_base is None


@pytest.mark.parametrize("config_uuid", ["6f1d0e38-8a53-4f8f-9d6b-0a7c1d2e3f40", "not-a-uuid", ""])
def test_an_unknown_config_is_not_found(config_uuid):
    ConfigFactory()

    with pytest.raises(NotFoundError):
        gateway._load_config(config_uuid)

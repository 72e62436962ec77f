"""Helpers for the chat gateway tests: a listed agent, bought by a buyer and provisioned into the real
`lfx serve` exactly as a purchase does (order -> after-commit provisioning task -> own runtime flow)."""

from dataclasses import dataclass

from marketplace.models import Category, Offering, OrderState, Organization
from marketplace.services.catalogue import offering_submit, plan_template_apply
from marketplace.services.orders import order_approve, order_create
from marketplace_ai.services.documents import document_add_qa
from runtime_bridge.services import flow_import
from site_agent.models import CustomerAgentConfig
from site_agent.services.api_keys import api_key_create
from tests.marketplace.factories import (
    MembershipFactory,
    OrganizationFactory,
    ServiceProviderFactory,
    UserFactory,
)


def list_agent(flow: dict) -> Offering:
    """A trusted seller imports the flow and publishes it: the offering is active at once."""
    provider = ServiceProviderFactory(is_trusted=True)
    seller = UserFactory()
    agent, _report = flow_import(
        provider=provider,
        category=Category.objects.get(slug="agents"),
        raw=flow,
        actor=seller,
        description="Answers from your help centre.",
    )
    plan_template_apply(offering=agent.offering, actor=seller)
    offering_submit(offering=agent.offering, actor=seller, terms_accepted=True)
    agent.offering.refresh_from_db()
    return agent.offering


@dataclass
class Tenant:
    user: object
    organization: Organization
    config: CustomerAgentConfig
    key: str

    @property
    def url(self) -> str:
        return f"/api/chat/{self.config.uuid}/messages"

    @property
    def auth(self) -> dict:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.key}"}


def buy(offering: Offering, capture, *, plan_name: str = "Starter", **plan_changes) -> Tenant:
    """A new buyer orders `plan_name` (made free, so no payment step) and gets a provisioned config + key."""
    user = UserFactory()
    organization = OrganizationFactory()
    MembershipFactory(organization=organization, user=user, role="owner")
    plan = offering.plans.get(name=plan_name)
    for field, value in {"price_minor": 0, **plan_changes}.items():
        setattr(plan, field, value)
    plan.save()
    with capture(execute=True):
        order = order_create(organization=organization, plan=plan, actor=user)
        if order.state == OrderState.PENDING_PAYMENT:  # no fee but metered calls (usage-based): waived here
            order_approve(order=order, actor=None)
    order.refresh_from_db()
    config = CustomerAgentConfig.objects.get(resource=order.resource_id)
    _key, plaintext = api_key_create(config=config, name="server", actor=user)
    return Tenant(user=user, organization=organization, config=config, key=plaintext)


def add_faq(tenant: Tenant, capture, pairs: list[tuple[str, str]]) -> None:
    """Training documents, indexed by the real ingestion pipeline (eager Celery, after commit)."""
    with capture(execute=True):
        document_add_qa(
            knowledge_base=tenant.config.knowledge_base,
            qa_pairs=[{"question": question, "answer": answer} for question, answer in pairs],
            actor=tenant.user,
        )

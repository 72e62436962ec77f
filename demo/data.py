"""The demo marketplace that `make run` starts with: three people, a seller, five listings and a customer.

Everything is created through the services, as a real seller, operator and buyer would, so the state
machines, events and denormalised catalogue fields are exactly what production would have. `seed_demo()`
is idempotent: it looks everything up by natural key (email, organisation owner and name, provider and
listing name) and only does what is missing, so running it twice changes nothing.

The accounts are for local demos only. Their password comes from CMP_DEMO_PASSWORD.
"""

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils.text import slugify

from accounts.models import User
from marketplace.models import (
    Category,
    Offering,
    OfferingState,
    Order,
    OrderState,
    OrderType,
    Organization,
    Resource,
    ResourceState,
    Review,
    Role,
    ServiceProvider,
    ServiceProviderState,
)
from marketplace.services.catalogue import offering_submit, offering_update, plan_template_apply
from marketplace.services.orders import order_create, order_mark_paid
from marketplace.services.organizations import (
    organization_create,
    service_provider_approve,
    service_provider_register,
    service_provider_set_trusted,
)
from marketplace.services.reviews import review_create
from marketplace_ai.services.documents import document_add_qa
from runtime_bridge.services import flow_import

DEFAULT_DEMO_PASSWORD = "demo-password-123"  # noqa: S105 - a published demo password, for local use only
OPERATOR_EMAIL = "operator@cmp.local"
SELLER_EMAIL = "seller@cmp.local"
BUYER_EMAIL = "buyer@cmp.local"
SELLER_ORGANIZATION = "Acme AI Labs"
BUYER_ORGANIZATION = "Globex Corporation"
SUBSCRIBED_PRODUCT = "Customer Support Agent"
SUBSCRIBED_PLAN = "Professional"
DEMO_PAYMENT_REFERENCE = "DEMO-INVOICE-0001"


HELP_CENTRE_NAME = "Globex help centre"
HELP_CENTRE = [
    {
        "question": "How do I return an item?",
        "answer": "Returns are free within 30 days. Open Orders in your Globex account, choose the item "
        "and press Return; print the label and drop the parcel at any post office. Refunds reach your card "
        "within 5 working days of the parcel arriving.",
    },
    {
        "question": "When will my order arrive?",
        "answer": "Orders placed before 2 pm on a working day ship the same day. Standard delivery takes "
        "2 to 3 working days; express delivery arrives the next working day.",
    },
    {
        "question": "How do I reset my password?",
        "answer": "On the sign-in page press Forgot password, enter your email address and follow the link "
        "we send you. The link works for one hour.",
    },
]


def demo_password() -> str:
    return os.environ.get("CMP_DEMO_PASSWORD") or DEFAULT_DEMO_PASSWORD


class DemoError(Exception):
    """The demo cannot be built (e.g. the sample flows are missing)."""


@dataclass(frozen=True)
class DemoProduct:
    name: str
    category: str
    summary: str
    description: str
    tags: tuple[str, ...]

    @property
    def flow_slug(self) -> str:
        """The file name stem of its flow, as scripts/build_sample_flows.py writes it."""
        return slugify(self.name)


PRODUCTS: tuple[DemoProduct, ...] = (
    DemoProduct(
        name="Customer Support Agent",
        category="agents",
        summary="Answers your customers' questions around the clock from your help centre and documents, and "
        "hands over to a person when it should.",
        tags=("support", "customer service", "helpdesk", "faq", "chat"),
        description="""\
## What it does
The Customer Support Agent answers the questions your customers ask every day (orders, delivery,
returns, accounts, how-to) on your website, in your tone of voice, at any hour. When a question is
outside what it knows, or the customer asks for a person, it says so and collects the details your team
needs to follow up.

## How it works
1. Upload your help-centre articles, policies and product sheets under **Training**. They are split into
   passages and indexed for search.
2. For every message the agent retrieves the passages that match and answers from them only, quoting the
   source, so it does not make up policies.
3. Set its name, greeting and tone under **Persona**, and its colours under **Branding**.
4. Paste the widget snippet into your site, or call the API from your own app.

## What you get
- A chat widget for your site, restricted to the domains you allow
- An API key for server-side use
- Answers grounded in your documents, with the sources they came from
- Usage figures per day, and a monthly quota that matches your plan
""",
    ),
    DemoProduct(
        name="Code Review Agent",
        category="agents",
        summary="Reviews pull requests against your team's conventions and points out bugs, risky changes "
        "and missing tests before a human reviewer looks.",
        tags=("code review", "developer tools", "pull requests", "quality"),
        description="""\
## What it does
The Code Review Agent reads a diff and writes the review comments a careful senior engineer would:
likely bugs, unhandled errors, security smells, missing tests and places where the change does not follow
your conventions. Your reviewers start from a list of concrete findings instead of a blank page.

## How it works
1. Add your style guide, architecture notes and examples of good reviews as training documents.
2. Send a diff (with the pull request title and description) to the agent's API from your CI job.
3. The agent returns findings with file, line, severity and a suggested fix, ready to post as review
   comments.

## What you get
- An API endpoint that takes a unified diff and returns structured findings
- Reviews that follow *your* conventions, not generic lint rules
- A persona you can tune: terse or explanatory, strict or lenient
- Usage figures per repository and day
""",
    ),
    DemoProduct(
        name="Slack Integration",
        category="apps",
        summary="Brings your trained assistant into Slack: answers in channels and direct messages, with the "
        "same knowledge base as your website.",
        tags=("slack", "integration", "chatops", "internal tools"),
        description="""\
## What it does
Slack Integration lets your team ask your company knowledge base questions without leaving Slack. Mention
the bot in a channel or send it a direct message, and it answers from the same documents your other
agents use.

## How it works
1. Add the documents your team needs (handbook, runbooks, product notes) under **Training**.
2. Create an API key and connect it to your Slack workspace's bot.
3. Messages to the bot are sent to the agent with the conversation as context; answers come back in the
   thread.

## What you get
- Answers in channels and direct messages, in threads
- One knowledge base shared with your website and API
- Branding for the bot's name and avatar
- Usage per day, counted against your plan's quota
""",
    ),
    DemoProduct(
        name="General Knowledge Assistant",
        category="assistants",
        summary="A friendly, well-read assistant for everyday questions, drafting and explanations, that you "
        "can give your own persona and documents.",
        tags=("assistant", "writing", "research", "q&a"),
        description="""\
## What it does
The General Knowledge Assistant answers everyday questions, explains concepts in plain language, drafts
and rewrites text, and summarises documents you give it. It is a good first assistant for a website or an
intranet.

## How it works
1. Give it a persona: its name, how it greets people and the tone it writes in.
2. Optionally add documents so it can answer questions about your organisation too.
3. Put the chat widget on your site or call the API.

## What you get
- A chat widget and an API key
- A persona and branding of your own
- Optional grounding in your documents
- A monthly quota and a rate limit that match your plan
""",
    ),
    DemoProduct(
        name="Email Responder",
        category="automations",
        summary="Drafts replies to incoming customer email from your documents and past answers, ready for a "
        "person to check and send.",
        tags=("email", "automation", "support", "drafts"),
        description="""\
## What it does
The Email Responder reads incoming customer email and drafts a reply grounded in your policies and
product documents. Simple requests get a complete answer; anything unusual is flagged for a person.

## How it works
1. Train it on your policies, product information and a few good past replies.
2. Forward email to it through the API, or run it on a schedule against your support inbox.
3. Each draft comes back with a confidence level and the passages it used.

## What you get
- Drafts in your tone, with the sources behind every answer
- Scheduled runs, or an API call per email
- Flags for messages that need a person
- Usage figures per day, counted against your plan's quota
""",
    ),
)

REVIEW_TEXT = (
    "We put the Customer Support Agent on our help pages in an afternoon. It answers delivery and returns "
    "questions from our own policies and hands the tricky ones to the team with the details filled in."
)


@dataclass(frozen=True)
class SignIn:
    email: str
    password: str
    role: str


@dataclass
class DemoResult:
    sign_ins: list[SignIn]
    created: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _user(email: str, *, full_name: str, password: str, is_operator: bool, result: DemoResult) -> User:
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        user = User.objects.create_user(
            email, password, full_name=full_name, is_staff=is_operator, is_superuser=is_operator
        )
        result.created.append(f"user {email}")
        return user
    if is_operator and not (user.is_staff and user.is_superuser):
        user.is_staff = user.is_superuser = True
        user.save(update_fields=["is_staff", "is_superuser"])
    if not user.check_password(password):  # keep the printed sign-ins true when CMP_DEMO_PASSWORD changes
        user.set_password(password)
        user.save(update_fields=["password"])
    return user


def _owned_organization(name: str, *, owner: User, country: str, result: DemoResult) -> Organization:
    organization = Organization.objects.filter(
        name=name, memberships__user=owner, memberships__role=Role.OWNER
    ).first()
    if organization is None:
        organization = organization_create(name=name, creator=owner, country=country)
        result.created.append(f"organisation {name}")
    return organization


def _seller(*, seller: User, operator: User, result: DemoResult) -> ServiceProvider:
    organization = _owned_organization(SELLER_ORGANIZATION, owner=seller, country="US", result=result)
    provider = ServiceProvider.objects.filter(organization=organization).first()
    if provider is None:
        provider = service_provider_register(
            organization=organization,
            description="Acme AI Labs builds support and productivity agents for small and mid-sized teams.",
            terms_accepted=True,
            actor=seller,
        )
        result.created.append(f"service provider {organization.name}")
    if provider.state != ServiceProviderState.APPROVED:
        provider = service_provider_approve(provider=provider, actor=operator, notes="Demo seller.")
    if not provider.is_trusted:
        provider = service_provider_set_trusted(provider=provider, actor=operator, is_trusted=True)
    return provider


def _listing(
    product: DemoProduct,
    *,
    provider: ServiceProvider,
    seller: User,
    flows: dict[str, dict],
    result: DemoResult,
) -> Offering:
    """A listing whose agent is the product's real Langflow flow, imported as a seller would import it."""
    offering = Offering.objects.filter(provider=provider, name=product.name).first()
    if offering is None:
        flow = flows.get(product.flow_slug)
        if flow is None:
            raise DemoError(
                f"The sample flow '{product.flow_slug}' is missing; build it with build_sample_flows."
            )
        agent, _report = flow_import(
            provider=provider,
            category=Category.objects.get(slug=product.category),
            raw=flow,
            actor=seller,
            name=product.name,
            summary=product.summary,
            description=product.description,
        )
        offering = offering_update(offering=agent.offering, actor=seller, data={"tags": list(product.tags)})
        result.created.append(f"agent and offering {product.name}")
    if not offering.plans.exists():
        plan_template_apply(offering=offering, actor=seller)
    if offering.state == OfferingState.DRAFT:
        offering = offering_submit(offering=offering, actor=seller, terms_accepted=True)
    return offering


def _subscription(
    *, organization: Organization, offering: Offering, buyer: User, operator: User, result: DemoResult
) -> Resource | None:
    """One paid subscription, bought by the buyer and marked paid by the operator (manual payments)."""
    resource = (
        Resource.objects.filter(organization=organization, offering=offering)
        .exclude(state=ResourceState.TERMINATED)
        .first()
    )
    if resource is not None:
        return resource
    order = (
        Order.objects.filter(organization=organization, offering=offering, type=OrderType.CREATE)
        .exclude(state__in=[OrderState.CANCELED, OrderState.REJECTED])
        .first()
    )
    if order is None:
        order = order_create(
            organization=organization, plan=offering.plans.get(name=SUBSCRIBED_PLAN), actor=buyer
        )
        result.created.append(f"order for {offering.name}")
    if order.state == OrderState.PENDING_PAYMENT:
        # Processing is queued after commit: it runs at once in embedded mode, or on a worker with Redis.
        order_mark_paid(order=order, actor=operator, reference=DEMO_PAYMENT_REFERENCE)
    order.refresh_from_db()
    if order.state != OrderState.DONE:
        result.notes.append(
            f"The demo subscription is {order.get_state_display().lower()}"
            f"{f' ({order.error_message})' if order.error_message else ''}. With REDIS_URL set, a worker "
            "(`make worker`) finishes it; run seed_demo again afterwards to add its review."
        )
        return None
    return order.resource


def sample_flows_build(directory: Path) -> dict[str, dict]:
    """Build the sample products' flows with the runtime's own `lfx` (unless already built) and load them."""
    directory.mkdir(parents=True, exist_ok=True)
    if not list(directory.glob("*.json")):
        python = Path(settings.BASE_DIR) / ".venv-runtime" / "bin" / "python"
        if not python.exists():
            raise DemoError("The runtime (.venv-runtime with lfx) is not installed: run `make install`.")
        script = Path(settings.BASE_DIR) / "scripts" / "build_sample_flows.py"
        subprocess.run(  # noqa: S603 - our own script, with the runtime's interpreter
            [str(python), str(script), str(directory)],
            check=True,
            capture_output=True,
            timeout=300,
            env={**os.environ, "DO_NOT_TRACK": "true"},
        )
    return {path.stem: json.loads(path.read_text()) for path in sorted(directory.glob("*.json"))}


def seed_demo(*, flows: dict[str, dict], password: str | None = None) -> DemoResult:
    """Create (or complete) the demo marketplace; returns the sign-ins and what was created this time."""
    password = password or demo_password()
    result = DemoResult(
        sign_ins=[
            SignIn(OPERATOR_EMAIL, password, "operator: Django admin at /admin/"),
            SignIn(SELLER_EMAIL, password, f"seller: owner of {SELLER_ORGANIZATION}"),
            SignIn(BUYER_EMAIL, password, f"buyer: owner of {BUYER_ORGANIZATION}"),
        ]
    )
    with transaction.atomic():
        operator = _user(
            OPERATOR_EMAIL, full_name="Olivia Operator", password=password, is_operator=True, result=result
        )
        seller = _user(
            SELLER_EMAIL, full_name="Sam Seller", password=password, is_operator=False, result=result
        )
        buyer = _user(
            BUYER_EMAIL, full_name="Bianca Buyer", password=password, is_operator=False, result=result
        )
        provider = _seller(seller=seller, operator=operator, result=result)
        offerings = {
            product.name: _listing(product, provider=provider, seller=seller, flows=flows, result=result)
            for product in PRODUCTS
        }
        globex = _owned_organization(BUYER_ORGANIZATION, owner=buyer, country="US", result=result)
    # Outside the transaction above, so that the order's processing starts when its own change commits.
    offering = offerings[SUBSCRIBED_PRODUCT]
    resource = _subscription(
        organization=globex, offering=offering, buyer=buyer, operator=operator, result=result
    )
    if resource is not None and not Review.objects.filter(offering=offering, organization=globex).exists():
        review_create(offering=offering, organization=globex, author=buyer, rating=5, text=REVIEW_TEXT)
        result.created.append(f"review of {offering.name}")
    if resource is not None:
        _help_centre(resource, buyer=buyer, result=result)
    return result


def _help_centre(resource: Resource, *, buyer: User, result: DemoResult) -> None:
    """Globex's help-centre answers, so the demo agent answers from real knowledge out of the box."""
    config = getattr(resource, "agent_config", None)
    if config is None or config.knowledge_base is None or config.knowledge_base.documents.exists():
        return
    document_add_qa(
        knowledge_base=config.knowledge_base, qa_pairs=HELP_CENTRE, actor=buyer, name=HELP_CENTRE_NAME
    )
    result.created.append(f"help centre for {resource.name}")

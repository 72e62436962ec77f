"""Django admin for operators: every model registered, changelists without N+1, states change only through
actions that call the services, objects in the wrong state are skipped and left unchanged."""

import hashlib

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiToken, User
from marketplace.models import (
    Category,
    Invitation,
    Membership,
    Offering,
    OfferingEvent,
    Order,
    OrderEvent,
    Organization,
    Plan,
    Resource,
    Review,
    ServiceProvider,
)
from tests.admin_helpers import action_messages, change_url, changelist_url, run_admin_action
from tests.marketplace.factories import (
    MembershipFactory,
    OfferingFactory,
    OrderFactory,
    OrganizationFactory,
    PlanFactory,
    ResourceFactory,
    ServiceProviderFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

ROWS = 20
MAX_CHANGELIST_QUERIES = 10  # measured 6-9: session, user, counts, rows, filter choices, dates


def _token(user, number: int) -> ApiToken:
    return ApiToken.objects.create(
        user=user,
        name=f"script {number}",
        prefix=f"cmp_pat_{number:04d}",
        token_hash=hashlib.sha256(f"secret-{number}".encode()).hexdigest(),
    )


# --- Registration and changelists -----------------------------------------------------------------


def test_every_model_is_registered():
    expected = {
        User,
        ApiToken,
        Organization,
        Membership,
        Invitation,
        ServiceProvider,
        Category,
        Offering,
        OfferingEvent,
        Plan,
        Order,
        OrderEvent,
        Resource,
        Review,
    }

    assert expected <= set(admin.site._registry)


def _users():
    UserFactory.create_batch(ROWS - 1)  # plus the operator


def _tokens():
    user = UserFactory()
    for number in range(ROWS):
        _token(user, number)


def _organizations():
    for provider in ServiceProviderFactory.create_batch(ROWS):
        MembershipFactory(organization=provider.organization)


def _memberships():
    MembershipFactory.create_batch(ROWS)


def _invitations():
    for number in range(ROWS):
        Invitation.objects.create(
            organization=OrganizationFactory(),
            email=f"guest{number}@example.com",
            invited_by=UserFactory(),
            expires_at=timezone.now(),
        )


def _providers():
    ServiceProviderFactory.create_batch(ROWS, reviewed_by=UserFactory())


def _categories():
    for number in range(ROWS - Category.objects.count()):
        Category.objects.create(name=f"Shelf {number}", slug=f"shelf-{number}", icon="bot")


def _offerings():
    OfferingFactory.create_batch(ROWS)


def _offering_events():
    actor = UserFactory()
    for offering in OfferingFactory.create_batch(ROWS):
        OfferingEvent.objects.create(offering=offering, from_state="draft", to_state="active", actor=actor)


def _plans():
    PlanFactory.create_batch(ROWS)


def _orders():
    OrderFactory.create_batch(ROWS, created_by=UserFactory())


def _order_events():
    actor = UserFactory()
    for order in OrderFactory.create_batch(ROWS):
        OrderEvent.objects.create(order=order, to_state="pending_payment", actor=actor)


def _resources():
    ResourceFactory.create_batch(ROWS)


def _reviews():
    for resource in ResourceFactory.create_batch(ROWS):
        Review.objects.create(
            offering=resource.offering, organization=resource.organization, author=UserFactory(), rating=4
        )


@pytest.mark.parametrize(
    ("model", "make_rows"),
    [
        (User, _users),
        (ApiToken, _tokens),
        (Organization, _organizations),
        (Membership, _memberships),
        (Invitation, _invitations),
        (ServiceProvider, _providers),
        (Category, _categories),
        (Offering, _offerings),
        (OfferingEvent, _offering_events),
        (Plan, _plans),
        (Order, _orders),
        (OrderEvent, _order_events),
        (Resource, _resources),
        (Review, _reviews),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else "",
)
def test_changelist_with_20_rows_runs_a_fixed_number_of_queries(
    operator_client, model, make_rows, django_assert_max_num_queries
):
    make_rows()

    with django_assert_max_num_queries(MAX_CHANGELIST_QUERIES):
        response = operator_client.get(changelist_url(model))

    assert response.status_code == 200
    assert response.context["cl"].result_count == ROWS


def test_every_change_page_renders(operator_client, operator, django_capture_on_commit_callbacks):
    from marketplace.services.orders import order_create
    from marketplace.services.reviews import review_create

    plan = PlanFactory(price_minor=0)
    buyer = MembershipFactory()
    with django_capture_on_commit_callbacks(execute=True):
        order = order_create(organization=buyer.organization, plan=plan, actor=buyer.user)
    order.refresh_from_db()
    review = review_create(
        offering=plan.offering, organization=buyer.organization, author=buyer.user, rating=5
    )
    invitation = Invitation.objects.create(
        organization=buyer.organization,
        email="new@example.com",
        invited_by=buyer.user,
        expires_at=timezone.now(),
    )
    objects = [
        operator,
        _token(operator, 1),
        buyer.organization,
        buyer,
        invitation,
        plan.offering.provider,
        plan.offering.category,
        plan.offering,
        plan,
        order,
        order.events.first(),
        order.resource,
        review,
    ]

    for obj in objects:
        response = operator_client.get(change_url(obj))
        assert response.status_code == 200, obj


def test_api_token_page_shows_the_prefix_and_never_the_hash(operator_client, operator):
    token = _token(operator, 7)

    response = operator_client.get(change_url(token))

    page = response.content.decode()
    assert "cmp_pat_0007..." in page
    assert token.token_hash not in page
    assert "token_hash" not in page


def test_revoke_token_action_revokes_and_skips_revoked(operator_client, operator):
    active, revoked = _token(operator, 1), _token(operator, 2)
    ApiToken.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    revoked.refresh_from_db()

    response = run_admin_action(operator_client, ApiToken, "revoke_tokens", [active, revoked])

    active.refresh_from_db()
    assert active.revoked_at is not None
    assert ApiToken.objects.get(pk=revoked.pk).revoked_at == revoked.revoked_at
    assert action_messages(response) == [
        ("warning", f"Skipped {revoked}: already revoked."),
        ("success", f"Revoked 1: {active}."),
    ]


# --- Offerings ------------------------------------------------------------------------------------


def test_approve_listing_publishes_pending_and_skips_others(operator_client, operator):
    pending = OfferingFactory(state="pending_review", published_at=None, name="Pending One")
    active = OfferingFactory(state="active", name="Live One")

    response = run_admin_action(operator_client, Offering, "approve_listings", [pending, active])

    pending.refresh_from_db()
    active_before = active.updated_at
    active.refresh_from_db()
    assert pending.state == "active"
    assert pending.published_at is not None
    assert list(pending.events.values_list("from_state", "to_state", "actor")) == [
        ("pending_review", "active", operator.pk)
    ]
    assert active.state == "active"
    assert active.updated_at == active_before
    assert active.events.count() == 0
    assert action_messages(response) == [
        ("warning", "Skipped “Live One”: it is active; only listings pending review can be approved."),
        ("success", "Approved and listed: “Pending One”."),
    ]


def test_reject_listing_asks_for_notes_first(operator_client):
    offering = OfferingFactory(state="pending_review", published_at=None)

    response = run_admin_action(operator_client, Offering, "reject_listings", [offering])

    assert response.status_code == 200
    assert response.templates[0].name == "admin/marketplace/action_notes.html"
    assert 'name="notes"' in response.content.decode()
    offering.refresh_from_db()
    assert offering.state == "pending_review"


def test_reject_listing_without_notes_changes_nothing(operator_client):
    offering = OfferingFactory(state="pending_review", published_at=None)

    response = run_admin_action(
        operator_client, Offering, "reject_listings", [offering], apply="1", notes="  "
    )

    assert response.status_code == 200
    assert response.context["form"].errors == {"notes": ["This field is required."]}
    offering.refresh_from_db()
    assert offering.state == "pending_review"
    assert offering.review_notes == ""
    assert offering.events.count() == 0


def test_reject_listing_with_notes_returns_it_to_draft(operator_client, operator):
    offering = OfferingFactory(state="pending_review", published_at=None, name="Rough Draft")

    response = run_admin_action(
        operator_client,
        Offering,
        "reject_listings",
        [offering],
        apply="1",
        notes="Add a description of what data the agent stores.",
    )

    assert response.status_code == 302
    offering.refresh_from_db()
    assert offering.state == "draft"
    assert offering.review_notes == "Add a description of what data the agent stores."
    assert list(offering.events.values_list("to_state", "notes", "actor")) == [
        ("draft", "Add a description of what data the agent stores.", operator.pk)
    ]
    assert action_messages(response) == [("success", "Rejected, back to draft: “Rough Draft”.")]


def test_pause_and_archive_listing(operator_client):
    offering = OfferingFactory(state="active")

    run_admin_action(operator_client, Offering, "pause_listings", [offering])
    offering.refresh_from_db()
    assert offering.state == "paused"

    run_admin_action(operator_client, Offering, "archive_listings", [offering])
    offering.refresh_from_db()
    assert offering.state == "archived"
    assert list(offering.events.values_list("to_state", flat=True)) == ["paused", "archived"]


def _change_form_data(response) -> dict:
    """The POST data the change page would send unchanged: the main form and every inline formset."""
    data: dict = {}

    def add(form) -> None:
        for name in form.fields:
            value = form[name].value()
            if value is None or value is False or value == "" or hasattr(value, "url"):
                continue
            data[form.add_prefix(name)] = [str(item) for item in value] if isinstance(value, list) else value

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        data.update(
            {formset.management_form.add_prefix(k): v for k, v in formset.management_form.initial.items()}
        )
        for form in formset.forms:
            add(form)
    return data


def test_editing_a_listing_goes_through_the_update_service(operator_client):
    offering = OfferingFactory(state="active", tags=["old"])
    data = _change_form_data(operator_client.get(change_url(offering)))

    data.update(
        {
            "summary": "  Answers from your help centre.  ",
            "tags": "Support, support, FAQ",
            "capabilities": ["knowledge_base", "chat"],
        }
    )
    response = operator_client.post(change_url(offering), data)

    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    offering.refresh_from_db()
    assert offering.summary == "Answers from your help centre."
    assert offering.tags == ["support", "faq"]
    assert offering.capabilities == ["chat", "knowledge_base"]
    assert offering.state == "active"


def test_adding_a_plan_inline_updates_the_from_price(operator_client):
    plan = PlanFactory(price_minor=2900)
    offering = plan.offering
    data = _change_form_data(operator_client.get(change_url(offering)))

    data.update(
        {
            "plans-TOTAL_FORMS": "2",
            "plans-1-name": "Hobby",
            "plans-1-price_minor": "900",
            "plans-1-currency": "USD",
            "plans-1-billing_period": "month",
            "plans-1-rate_limit_per_minute": "10",
            "plans-1-trial_days": "0",
            "plans-1-sort_order": "0",
        }
    )
    response = operator_client.post(change_url(offering), data)

    assert response.status_code == 302, [
        f.errors for f in response.context["inline_admin_formsets"][0].formset
    ]
    offering.refresh_from_db()
    assert sorted(offering.plans.values_list("name", "price_minor")) == [("Hobby", 900), ("Starter", 2900)]
    assert offering.price_from_minor == 900


def test_archived_listing_page_is_read_only(operator_client):
    offering = OfferingFactory(state="archived")

    response = operator_client.get(change_url(offering))

    assert response.status_code == 200
    assert "summary" not in response.context["adminform"].form.fields
    assert "name" not in response.context["adminform"].form.fields


# --- Orders ---------------------------------------------------------------------------------------


def test_mark_paid_with_reference_completes_the_order(
    operator_client, operator, django_capture_on_commit_callbacks
):
    order = OrderFactory(state="pending_payment")

    with django_capture_on_commit_callbacks(execute=True):
        response = run_admin_action(
            operator_client, Order, "mark_orders_paid", [order], apply="1", notes="INV-2041"
        )

    assert response.status_code == 302
    order.refresh_from_db()
    assert order.state == "done"
    assert order.payment_reference == "INV-2041"
    assert order.resource.state == "ok"
    assert list(order.events.values_list("to_state", "actor")) == [("executing", operator.pk), ("done", None)]


def test_approve_reject_retry_orders(operator_client, django_capture_on_commit_callbacks):
    waiting, to_reject = OrderFactory(state="pending_payment"), OrderFactory(state="pending_payment")
    erred = OrderFactory(state="erred", error_message="Runtime timed out.")

    with django_capture_on_commit_callbacks(execute=True):
        run_admin_action(operator_client, Order, "approve_orders", [waiting])
        run_admin_action(
            operator_client, Order, "reject_orders", [to_reject], apply="1", notes="Duplicate order."
        )
        run_admin_action(operator_client, Order, "retry_orders", [erred])

    for order in (waiting, to_reject, erred):
        order.refresh_from_db()
    assert waiting.state == "done"
    assert to_reject.state == "rejected"
    assert to_reject.events.get().message == "Duplicate order."
    assert erred.state == "done"
    assert erred.error_message == ""


def test_order_actions_skip_orders_in_the_wrong_state(operator_client):
    done = OrderFactory(state="done")

    run_admin_action(operator_client, Order, "retry_orders", [done])
    paid_response = run_admin_action(operator_client, Order, "mark_orders_paid", [done], apply="1", notes="X")

    done.refresh_from_db()
    assert done.state == "done"
    assert done.events.count() == 0
    assert done.payment_reference == ""
    assert [message for _, message in action_messages(paid_response)] == [
        f"Skipped “{done}”: it is done; only erred orders can be retried.",
        f"Skipped “{done}”: it is done; only orders waiting for payment can be marked paid.",
    ]


def test_order_page_is_read_only(operator_client):
    order = OrderFactory(state="pending_payment")

    response = operator_client.post(change_url(order), {"state": "done"})

    assert response.status_code == 403
    order.refresh_from_db()
    assert order.state == "pending_payment"


# --- Sellers and members --------------------------------------------------------------------------


def test_approve_reject_and_trust_providers(operator_client, operator):
    pending = ServiceProviderFactory(state="pending")
    other = ServiceProviderFactory(state="pending")

    run_admin_action(operator_client, ServiceProvider, "approve_providers", [pending])
    run_admin_action(
        operator_client, ServiceProvider, "reject_providers", [other], apply="1", notes="No company info."
    )
    run_admin_action(operator_client, ServiceProvider, "trust_providers", [pending])

    pending.refresh_from_db()
    other.refresh_from_db()
    assert (pending.state, pending.reviewed_by, pending.is_trusted) == ("approved", operator, True)
    assert (other.state, other.review_notes, other.is_trusted) == ("rejected", "No company info.", False)


def test_demoting_the_last_owner_is_refused_and_reported(operator_client):
    owner = MembershipFactory(role="owner")

    response = run_admin_action(operator_client, Membership, "make_member", [owner])

    owner.refresh_from_db()
    assert owner.role == "owner"
    assert action_messages(response) == [
        ("error", f"“{owner}” was not changed: An organisation must keep at least one owner.")
    ]


def test_operator_creates_a_user_by_email(operator_client):
    response = operator_client.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "New.Person@Example.com",
            "full_name": "New Person",
            "usable_password": "true",
            "password1": "a-long-unusual-passphrase",
            "password2": "a-long-unusual-passphrase",
        },
    )

    assert response.status_code == 302
    user = User.objects.get(email="new.person@example.com")
    assert user.check_password("a-long-unusual-passphrase")
    assert not user.is_staff

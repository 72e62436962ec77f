"""Actors for API access tests: the owner and a plain member of an organisation, an outsider who owns
another organisation, an operator, and anonymous."""

from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from tests.conftest import client_for
from tests.marketplace.factories import (
    MembershipFactory,
    OrganizationFactory,
    ServiceProviderFactory,
    UserFactory,
)

ROLES = ("anonymous", "outsider", "member", "owner", "operator")


@dataclass
class Actors:
    organization: object
    owner: object
    member: object
    outsider: object
    operator: object

    def client(self, role: str) -> APIClient:
        return APIClient() if role == "anonymous" else client_for(getattr(self, role))


def make_actors(organization, operator) -> Actors:
    owner = UserFactory(email="owner@example.com")
    member = UserFactory(email="member@example.com")
    outsider = UserFactory(email="outsider@example.com")
    MembershipFactory(organization=organization, user=owner, role="owner")
    MembershipFactory(organization=organization, user=member, role="member")
    MembershipFactory(organization=OrganizationFactory(name="Elsewhere Ltd"), user=outsider, role="owner")
    return Actors(organization=organization, owner=owner, member=member, outsider=outsider, operator=operator)


@pytest.fixture
def buyer(db, operator) -> Actors:
    """A buying organisation and the people around it."""
    return make_actors(OrganizationFactory(name="Buyer Co"), operator)


@pytest.fixture
def seller(db, operator) -> Actors:
    """An approved seller organisation and the people around it; `.provider` is its seller account."""
    provider = ServiceProviderFactory(organization=OrganizationFactory(name="Seller Co"))
    actors = make_actors(provider.organization, operator)
    actors.provider = provider
    return actors


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The response is an error in the one envelope; returns its body."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"type", "title", "status", "detail", "code", "errors"}
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code
    return body

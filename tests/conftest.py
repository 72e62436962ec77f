"""Fixtures shared by the whole suite."""

import pytest
from rest_framework.test import APIClient

from cmp.celery import app as celery_app
from tests.marketplace.factories import MembershipFactory, OrganizationFactory, UserFactory


@pytest.fixture(autouse=True, scope="session")
def _eager_celery():
    """Unit tests run tasks in-process; tests marked `services` start a real worker instead."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def operator(db):
    return UserFactory(is_staff=True, is_superuser=True, email="operator@example.com")


@pytest.fixture
def organization(db, user):
    organization = OrganizationFactory()
    MembershipFactory(organization=organization, user=user, role="owner")
    return organization


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client

"""Fixtures shared by the whole suite."""

import importlib
import os

import pytest
from django.apps import apps as django_apps
from django.db.models.signals import post_migrate
from rest_framework.test import APIClient

from cmp.celery import app as celery_app
from tests.marketplace.factories import MembershipFactory, OrganizationFactory, UserFactory


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Real hashers cost ~0.4 s per user; the tests check behaviour, not hash strength."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


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


# --- Real services (Redis, a Celery worker) ------------------------------------------------------


def skip_or_fail(reason: str) -> None:
    """A missing service skips the test locally, and fails it when CMP_REQUIRE_SERVICES=1 (CI sets it)."""
    if os.environ.get("CMP_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (CMP_REQUIRE_SERVICES=1: services are required, not skipped)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis named by REDIS_URL, checked to answer; e.g. REDIS_URL=redis://127.0.0.1:6379/1."""
    url = os.environ.get("REDIS_URL", "")
    if not url:
        skip_or_fail("REDIS_URL is not set; this test needs a real Redis")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3).ping()
    except redis.RedisError as error:
        pytest.fail(f"REDIS_URL is set but Redis does not answer: {error}")
    return url


def _restore_categories(sender, **kwargs) -> None:
    """Transactional tests (`django_db(transaction=True)`) end with a flush, which empties the categories
    that migration 0003 created; with --reuse-db they would stay missing for every later run. A flush
    sends post_migrate, so put them back then."""
    from django.apps import apps

    importlib.import_module("marketplace.migrations.0003_categories").create_categories(apps, None)


post_migrate.connect(
    _restore_categories,
    sender=django_apps.get_app_config("marketplace"),
    dispatch_uid="tests.restore_categories",
)

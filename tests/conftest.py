"""Fixtures shared by the whole suite."""

import importlib
import json
import os
import subprocess
from pathlib import Path

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


@pytest.fixture(autouse=True)
def _no_runtime_unless_asked(settings):
    """No test talks to a runtime by accident; tests that need one use the real `lfx serve` fixtures."""
    settings.RUNTIME_URL = ""
    settings.RUNTIME_API_KEY = ""


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
def operator_client(client, operator):
    """Django's test client signed in as the operator (admin pages)."""
    client.force_login(operator)
    return client


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


# --- The agent runtime: sample flows built by the installed `lfx`, and a real `lfx serve` -----------


@pytest.fixture(scope="session")
def sample_flows_dir(tmp_path_factory) -> Path:
    """The five sample products' flows, built at test time with lfx's graph API, one JSON file each."""
    from tests.runtime_server import ROOT, missing_runtime, runtime_bin

    python = runtime_bin("python")
    if python is None:
        missing_runtime("the runtime venv (.venv-runtime with lfx) is not installed; `make test` installs it")
    output = tmp_path_factory.mktemp("flows")
    subprocess.run(
        [str(python), str(ROOT / "scripts" / "build_sample_flows.py"), str(output)],
        check=True,
        capture_output=True,
        timeout=180,
        env={**os.environ, "DO_NOT_TRACK": "true"},
    )
    return output


@pytest.fixture(scope="session")
def sample_flows(sample_flows_dir) -> dict[str, dict]:
    """{slug: export} of the sample products."""
    return {path.stem: json.loads(path.read_text()) for path in sorted(sample_flows_dir.glob("*.json"))}


@pytest.fixture
def support_flow(sample_flows) -> dict:
    """A fresh copy of the offline Customer Support Agent flow: ChatInput -> Prompt Template -> ChatOutput."""
    return json.loads(json.dumps(sample_flows["customer-support-agent"]))


@pytest.fixture
def llm_flow(sample_flows) -> dict:
    """A fresh copy of the Code Review Agent flow, which calls a language model (needs OPENAI_API_KEY)."""
    return json.loads(json.dumps(sample_flows["code-review-agent"]))


@pytest.fixture(scope="session")
def lfx_runtime(tmp_path_factory):
    """A real `lfx serve`, empty, with filesystem-backed flows."""
    from tests.runtime_server import start_lfx_serve, stop

    base = tmp_path_factory.mktemp("lfx")
    (base / "flows").mkdir()
    server = start_lfx_serve(base / "flows", base / "lfx.log")
    yield server
    stop(server)


@pytest.fixture
def runtime_settings(settings, lfx_runtime):
    """Point CMP at the test's real `lfx serve`."""
    settings.RUNTIME_KIND = "lfx"
    settings.RUNTIME_URL = lfx_runtime.url
    settings.RUNTIME_API_KEY = lfx_runtime.api_key
    settings.RUNTIME_TIMEOUT = 30
    return settings

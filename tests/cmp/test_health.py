"""/healthz and /readyz: each dependency up, down or not configured; 503 when a required one is down."""

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def _ready(client, **headers):
    response = client.get("/readyz", **headers)
    return response, response.json()


def test_healthz_answers_without_touching_any_dependency(client, settings, closed_port):
    # given a database-free liveness check and a runtime that is down
    settings.RUNTIME_URL = f"http://127.0.0.1:{closed_port}"
    settings.RUNTIME_API_KEY = "runtime-key"

    # when
    response = client.get("/healthz")

    # then
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_in_embedded_mode_checks_the_database_and_reports_the_rest_not_configured(client):
    response, body = _ready(client)

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert body["status"] == "ok"
    assert list(body["checks"]) == ["database", "redis", "runtime", "ragflow"]
    assert body["checks"]["database"]["status"] == "up"
    assert body["checks"]["database"]["required"] is True
    assert body["checks"]["database"]["latency_ms"] >= 0
    for name in ("redis", "runtime", "ragflow"):
        assert body["checks"][name] == {"status": "not_configured", "latency_ms": None, "required": True}


@pytest.mark.services
def test_readyz_reports_every_configured_dependency_up(
    client, settings, redis_url, runtime_settings, ragflow
):
    settings.REDIS_URL = redis_url

    response, body = _ready(client)

    assert response.status_code == 200
    assert body["status"] == "ok"
    assert {name: check["status"] for name, check in body["checks"].items()} == {
        "database": "up",
        "redis": "up",
        "runtime": "up",
        "ragflow": "up",
    }
    assert all(check["latency_ms"] >= 0 for check in body["checks"].values())
    # RAGFlow v0.14.1 has no health endpoint: the probe lists one dataset, with our key
    probe = ragflow.requests_to("GET", "/api/v1/datasets")[-1]
    assert probe.query == {"page": ["1"], "page_size": ["1"]}
    assert probe.headers["authorization"] == f"Bearer {ragflow.api_key}"


def test_readyz_is_503_when_the_runtime_is_down(client, settings, closed_port):
    settings.RUNTIME_URL = f"http://127.0.0.1:{closed_port}"
    settings.RUNTIME_API_KEY = "runtime-key"

    response, body = _ready(client)

    assert response.status_code == 503
    assert body["status"] == "unavailable"
    assert body["checks"]["runtime"]["status"] == "down"
    assert body["checks"]["runtime"]["latency_ms"] >= 0
    assert body["checks"]["database"]["status"] == "up"
    # a caller inside the network (the test client is 127.0.0.1) sees why
    assert "does not answer its health check" in body["checks"]["runtime"]["detail"]


def test_readyz_is_503_when_redis_is_down(client, settings, closed_port):
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port}/0"

    response, body = _ready(client)

    assert response.status_code == 503
    assert body["checks"]["redis"]["status"] == "down"
    assert "Connection refused" in body["checks"]["redis"]["detail"]


def test_readyz_is_503_when_ragflow_is_down_or_refuses_our_key(client, settings, ragflow, closed_port):
    # given RAGFlow answering 503
    ragflow.down = True
    response, body = _ready(client)
    assert response.status_code == 503
    assert body["checks"]["ragflow"]["status"] == "down"
    assert "HTTP 503" in body["checks"]["ragflow"]["detail"]

    # given RAGFlow up but our key wrong: still not ready, and the key is not echoed
    ragflow.down = False
    settings.RAGFLOW_API_KEY = "wrong-key"
    response, body = _ready(client)
    assert response.status_code == 503
    assert body["checks"]["ragflow"]["status"] == "down"
    assert "wrong-key" not in response.content.decode()

    # given nothing listening at all
    settings.RAGFLOW_BASE_URL = f"http://127.0.0.1:{closed_port}"
    response, body = _ready(client)
    assert response.status_code == 503
    assert body["checks"]["ragflow"]["status"] == "down"


@pytest.mark.django_db(transaction=True)
def test_readyz_is_503_when_the_database_is_down(client, closed_port):
    # given the default connection pointed at a port where no PostgreSQL listens
    original = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(closed_port))
    try:
        response, body = _ready(client)
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(original)

    assert response.status_code == 503
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["status"] == "down"
    assert body["checks"]["database"]["required"] is True


def test_an_optional_dependency_down_degrades_without_failing(client, settings, closed_port):
    settings.RUNTIME_URL = f"http://127.0.0.1:{closed_port}"
    settings.RUNTIME_API_KEY = "runtime-key"
    settings.READINESS_OPTIONAL_CHECKS = ["runtime"]

    response, body = _ready(client)

    assert response.status_code == 200
    assert body["status"] == "degraded"
    assert body["checks"]["runtime"]["status"] == "down"
    assert body["checks"]["runtime"]["required"] is False


def test_public_callers_see_statuses_but_no_error_details(client, settings, closed_port):
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port}/0"

    # through the ingress (a forwarding header) or from a public address: no details
    _, via_proxy = _ready(client, HTTP_X_FORWARDED_FOR="198.51.100.7")
    _, public = _ready(client, REMOTE_ADDR="203.0.113.9")
    for body in (via_proxy, public):
        assert body["checks"]["redis"]["status"] == "down"
        assert "detail" not in body["checks"]["redis"]

    # with the metrics token, from anywhere: details
    settings.METRICS_TOKEN = "metrics-secret"
    _, with_token = _ready(client, REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer metrics-secret")
    assert "Connection refused" in with_token["checks"]["redis"]["detail"]


def test_probes_answer_on_the_pod_address_over_http_in_production(client, settings):
    # given production host validation and HTTPS redirects
    settings.ALLOWED_HOSTS = ["cmp.example.com"]
    settings.SECURE_SSL_REDIRECT = True

    # when the kubelet calls the pod's IP over plain HTTP
    liveness = client.get("/healthz", HTTP_HOST="10.42.0.17:8000")
    readiness = client.get("/readyz", HTTP_HOST="10.42.0.17:8000")
    page = client.get("/marketplace/", HTTP_HOST="10.42.0.17:8000")

    # then the probes answer, while ordinary pages still refuse the unknown host
    assert liveness.status_code == 200
    assert readiness.status_code == 200
    assert page.status_code == 400

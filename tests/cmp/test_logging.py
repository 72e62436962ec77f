"""JSON log lines carry the request id; secrets never reach a log line."""

import logging
import re

import pytest

from cmp.log import REDACTED, logging_config, redact, request_id_var

API_KEY = "ar_sk_live_" + "A1b2C3d4E5" * 4 + "Zz9Yx8"
PERSONAL_TOKEN = "cmp_pat_" + "q" * 40
STRIPE_KEY = "sk_live_" + "51Habc" * 5
WEBHOOK_SECRET = "whsec_" + "c2VjcmV0" * 4


@pytest.mark.django_db
def test_the_request_id_is_on_every_line_and_in_the_response(client, settings, json_log, closed_port):
    # given a request that logs (the runtime is down, /readyz warns about it)
    settings.RUNTIME_URL = f"http://127.0.0.1:{closed_port}"
    settings.RUNTIME_API_KEY = "runtime-key"

    response = client.get("/readyz", HTTP_X_REQUEST_ID="lb-7f3a9c2e-0001")

    assert response["X-Request-ID"] == "lb-7f3a9c2e-0001"
    lines = [entry for entry in json_log.entries() if entry["logger"] == "cmp.health"]
    assert lines, json_log.text
    assert {entry["request_id"] for entry in lines} == {"lb-7f3a9c2e-0001"}
    assert lines[0]["level"] == "WARNING"
    assert lines[0]["message"].startswith("Readiness: runtime is down")
    assert request_id_var.get() == "-"  # nothing leaks into the next request


@pytest.mark.django_db
def test_a_missing_or_malformed_request_id_is_replaced_by_a_fresh_one(client):
    generated = client.get("/healthz")["X-Request-ID"]
    injected = client.get("/healthz", HTTP_X_REQUEST_ID="x\nFAKE log line")["X-Request-ID"]
    another = client.get("/healthz")["X-Request-ID"]

    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert re.fullmatch(r"[0-9a-f]{32}", injected)
    assert len({generated, injected, another}) == 3


def test_lines_outside_a_request_say_so(json_log):
    logging.getLogger("cmp.test").info("background work")

    assert json_log.entries()[-1]["request_id"] == "-"


def test_secrets_in_messages_and_arguments_are_redacted(json_log):
    logger = logging.getLogger("cmp.test")

    logger.info("buyer key %s and token %s", API_KEY, PERSONAL_TOKEN)
    logger.warning("stripe %s webhook %s", STRIPE_KEY, WEBHOOK_SECRET)
    logger.info("headers: Authorization: Bearer %s", "eyJhbGciOiJIUzI1NiJ9.payload.signature")
    logger.error("cannot reach redis://default:s3cr3t-pass@redis.internal:6379/0")

    text = json_log.text
    secrets = (API_KEY, PERSONAL_TOKEN, STRIPE_KEY, WEBHOOK_SECRET, "eyJhbGciOiJIUzI1NiJ9", "s3cr3t-pass")
    for secret in secrets:
        assert secret not in text
    messages = [entry["message"] for entry in json_log.entries()]
    assert messages == [
        f"buyer key ar_sk_live_{REDACTED} and token cmp_pat_{REDACTED}",
        f"stripe sk_live_{REDACTED} webhook whsec_{REDACTED}",
        f"headers: Authorization: Bearer {REDACTED}",
        f"cannot reach redis://default:{REDACTED}@redis.internal:6379/0",
    ]


def test_secrets_in_a_traceback_are_redacted(json_log):
    try:
        raise ValueError(f"rejected key {API_KEY}")
    except ValueError:
        logging.getLogger("cmp.test").exception("checking a key failed")

    entry = json_log.entries()[-1]
    assert "ValueError: rejected key ar_sk_live_" + REDACTED in entry["exception"]
    assert API_KEY not in json_log.text


def test_redaction_leaves_ordinary_text_alone():
    text = "order 42 for sk-free plan, task_id=abc, 3 keys shown as ar_sk_live_ prefixes"

    assert redact(text) == text


def test_the_logging_setting_puts_both_filters_on_the_console():
    config = logging_config(json_lines=True, level="INFO")

    assert config["handlers"]["console"]["filters"] == ["request_id", "redact"]
    assert config["handlers"]["console"]["formatter"] == "json"
    assert logging_config(json_lines=False, level="INFO")["handlers"]["console"]["formatter"] == "plain"

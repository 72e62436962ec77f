"""The runtime client against a real `lfx serve`: deploy, run with run-time variables, stream, remove."""

import uuid

import httpx
import pytest

from runtime_bridge.runtime_client import (
    LfxServeClient,
    RuntimeRejected,
    RuntimeUnavailable,
    get_runtime_client,
)

pytestmark = pytest.mark.services

CONTEXT = "Open Settings, then Security, and press Reset password."


@pytest.fixture
def client(runtime_settings):
    with get_runtime_client() as runtime:
        yield runtime


@pytest.fixture
def deployed(client, support_flow):
    flow_id = str(uuid.uuid4())
    client.deploy_flow(support_flow, flow_id=flow_id, name=f"cmp-test-{flow_id}")
    yield flow_id
    client.delete_flow(flow_id)


def test_deploy_then_run_fills_the_prompt_from_run_time_variables(client, deployed):
    result = client.run(
        deployed,
        input_value="How do I reset my password?",
        session_id="conv-1",
        variables={"CMP_CONTEXT": CONTEXT},
    )

    assert "How do I reset my password?" in result.output
    assert CONTEXT in result.output
    assert result.session_id == "conv-1"


def test_the_stored_flow_holds_no_run_time_values(client, deployed, lfx_runtime):
    client.run(
        deployed, input_value="Hi", session_id="conv-2", variables={"CMP_CONTEXT": "buyer-private-notes"}
    )

    second = client.run(
        deployed, input_value="Hi again", session_id="conv-3", variables={"CMP_CONTEXT": "other"}
    )

    assert "buyer-private-notes" not in second.output
    assert "other" in second.output


def test_stream_ends_with_the_full_answer(client, deployed):
    events = list(
        client.stream(
            deployed,
            input_value="Where is billing?",
            session_id="s",
            variables={"CMP_CONTEXT": "Billing lives under Account."},
        )
    )

    assert events[-1].kind == "end"
    assert "Billing lives under Account." in events[-1].text


def test_redeploying_the_same_id_replaces_the_flow(client, deployed, support_flow):
    changed = {**support_flow}
    client.deploy_flow(changed, flow_id=deployed, name="renamed")

    result = client.run(deployed, input_value="ping", session_id="x", variables={"CMP_CONTEXT": "pong"})
    assert "pong" in result.output


def test_unknown_flow_is_rejected_not_an_outage(client):
    with pytest.raises(RuntimeRejected) as raised:
        client.run(str(uuid.uuid4()), input_value="hi", session_id="s", variables={})

    assert raised.value.runtime_status == 404
    assert client.delete_flow(str(uuid.uuid4())) is False


def test_flow_the_runtime_cannot_load_is_rejected_on_deploy(client, support_flow):
    broken = {
        **support_flow,
        "data": {"nodes": [{"id": "x", "data": {"type": "Nope", "node": {"template": {}}}}], "edges": []},
    }

    with pytest.raises(RuntimeRejected) as raised:
        client.deploy_flow(broken, flow_id=str(uuid.uuid4()), name="broken")

    assert raised.value.runtime_status == 422


def test_wrong_api_key_is_rejected(runtime_settings, lfx_runtime):
    with get_runtime_client(api_key="wrong") as runtime, pytest.raises(RuntimeRejected) as raised:
        runtime.delete_flow(str(uuid.uuid4()))

    assert raised.value.runtime_status == 401


def test_runtime_down_is_unavailable_after_bounded_retries():
    waits: list[float] = []
    client = LfxServeClient(base_url="http://127.0.0.1:9", api_key="k", timeout=1, sleep=waits.append)

    with pytest.raises(RuntimeUnavailable):
        client.delete_flow("abc")
    assert len(waits) == 2
    assert client.health() is False


def test_5xx_is_retried_then_succeeds():
    answers = iter([httpx.Response(503), httpx.Response(502), httpx.Response(204)])
    transport = httpx.MockTransport(lambda request: next(answers))
    client = LfxServeClient(base_url="http://runtime", api_key="k", transport=transport, sleep=lambda _: None)

    assert client.delete_flow("abc") is True


def test_a_run_is_not_repeated_after_a_timeout():
    calls = []

    def handler(request):
        calls.append(request)
        raise httpx.ReadTimeout("slow", request=request)

    client = LfxServeClient(
        base_url="http://runtime", api_key="k", transport=httpx.MockTransport(handler), sleep=lambda _: None
    )

    with pytest.raises(RuntimeUnavailable):
        client.run("f", input_value="hi", session_id="s", variables={})
    assert len(calls) == 1

"""The one module that talks HTTP to the agent runtime: `lfx serve` or a full Langflow.

Chosen by RUNTIME_KIND ("lfx" or "langflow"), at RUNTIME_URL with RUNTIME_API_KEY (header `x-api-key`).
Every call has a timeout; connection failures, timeouts and 5xx answers are retried with backoff and jitter
where repeating the call is safe; failures raise RuntimeUnavailable (the runtime is down or broken) or
RuntimeRejected (it refused what we sent), never an httpx error.

Per-request values (the buyer's persona, retrieved context, LLM keys) travel as run-time variables:
`global_vars` in the body on `lfx serve`, `X-LANGFLOW-GLOBAL-VAR-<NAME>` headers on Langflow. They are never
written into the stored flow.
"""

import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
from django.conf import settings

from cmp.errors import ApplicationError

logger = logging.getLogger(__name__)

RETRYABLE_STATUS = {502, 503, 504}


class RuntimeUnavailable(ApplicationError):
    """The runtime could not be reached or failed on its side (timeouts, 5xx)."""

    status_code = 503
    default_code = "runtime_unavailable"


class RuntimeRejected(ApplicationError):
    """The runtime refused the request (bad flow, unknown flow, wrong credential)."""

    status_code = 502
    default_code = "runtime_rejected"

    def __init__(self, detail: str, *, runtime_status: int):
        super().__init__(detail)
        self.runtime_status = runtime_status


@dataclass(frozen=True)
class DeployedFlow:
    flow_id: str
    endpoint: str


@dataclass(frozen=True)
class RunResult:
    output: str
    session_id: str
    component: str = ""
    raw: dict = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class StreamEvent:
    """One event of a streamed run: "token" (a piece of text), "end" (the full output) or "error"."""

    kind: str
    text: str = ""


class BaseRuntimeClient:
    kind = ""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        timeout: float = 30.0,
        attempts: int = 3,
        backoff: float = 0.3,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.base_url = base_url.rstrip("/")
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"x-api-key": api_key, "accept": "application/json"},
            timeout=httpx.Timeout(timeout, connect=min(5.0, timeout)),
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- transport ------------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, idempotent: bool = True, **kwargs) -> httpx.Response:
        """Send a request, retrying what is safe to repeat.

        Idempotent calls are retried after timeouts, transport errors and 502/503/504. A run is not
        idempotent (the flow may already have executed), so it is retried only when the connection was
        refused or the runtime said 503, i.e. when it certainly did not start.
        """
        for attempt in range(1, self.attempts + 1):
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.ConnectError as error:
                failure, cause, may_retry = (
                    RuntimeUnavailable("The agent runtime cannot be reached."),
                    error,
                    True,
                )
            except httpx.TimeoutException as error:
                failure = RuntimeUnavailable(f"The agent runtime did not answer in time ({method} {path}).")
                cause, may_retry = error, idempotent
            except httpx.TransportError as error:
                failure, cause = RuntimeUnavailable("The connection to the agent runtime failed."), error
                may_retry = idempotent
            else:
                if response.status_code not in RETRYABLE_STATUS:
                    return response
                failure = RuntimeUnavailable(
                    f"The agent runtime is unavailable (HTTP {response.status_code})."
                )
                cause, may_retry = None, idempotent or response.status_code == 503
            logger.warning(
                "Runtime %s %s failed (attempt %s/%s): %s", method, path, attempt, self.attempts, failure
            )
            if not may_retry or attempt == self.attempts:
                raise failure from cause
            self._sleep(self.backoff * 2 ** (attempt - 1) * (1 + random.random()))  # noqa: S311 - jitter
        raise AssertionError("unreachable")

    def _probe(self, path: str) -> bool:
        """A health probe: a runtime that is down is an answer (False), not an error to retry or log."""
        try:
            return self._http.get(path).is_success
        except httpx.HTTPError:
            return False

    @staticmethod
    def _detail(response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return response.text[:300]
        detail = body.get("detail", body) if isinstance(body, dict) else body
        return json.dumps(detail)[:500] if not isinstance(detail, str) else detail[:500]

    def _raise_for_status(self, response: httpx.Response, what: str) -> None:
        if response.is_success:
            return
        if response.status_code >= 500:
            raise RuntimeUnavailable(f"{what} failed in the runtime: {self._detail(response)}")
        raise RuntimeRejected(
            f"{what} was refused by the runtime: {self._detail(response)}",
            runtime_status=response.status_code,
        )

    # --- interface ------------------------------------------------------------------------------

    def health(self) -> bool:
        raise NotImplementedError

    def deploy_flow(self, flow: dict, *, flow_id: str, name: str) -> DeployedFlow:
        raise NotImplementedError

    def delete_flow(self, flow_id: str) -> bool:
        raise NotImplementedError

    def run(self, flow_id: str, *, input_value: str, session_id: str, variables: dict[str, str]) -> RunResult:
        raise NotImplementedError

    def stream(
        self, flow_id: str, *, input_value: str, session_id: str, variables: dict[str, str]
    ) -> Iterator[StreamEvent]:
        raise NotImplementedError


def _stream_events(lines: Iterator[str]) -> Iterator[dict]:
    """Langflow and lfx stream JSON events separated by blank lines."""
    for line in lines:
        line = line.strip()
        if line.startswith("data:"):
            line = line[5:].strip()
        if not line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            logger.warning("Ignoring a malformed stream line from the runtime: %r", line[:200])
            continue
        if isinstance(event, dict):
            yield event


def _text_of(value) -> str:
    """The reply text inside an "end" event's result, whatever its exact nesting."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in ("result", "text", "message", "data"):
            if key in value:
                text = _text_of(value[key])
                if text:
                    return text
    return ""


class LfxServeClient(BaseRuntimeClient):
    """`lfx serve`: /flows/upload/, /flows/<id>/run, /flows/<id>/stream, DELETE /flows/<id>, /health."""

    kind = "lfx"

    def health(self) -> bool:
        return self._probe("/health")

    def list_flow_ids(self) -> list[str]:
        response = self._request("GET", "/flows")
        self._raise_for_status(response, "Listing flows")
        return [flow["id"] for flow in response.json()]

    def deploy_flow(self, flow: dict, *, flow_id: str, name: str) -> DeployedFlow:
        body = {**flow, "id": flow_id, "name": name, "replace": True}
        response = self._request("POST", "/flows/upload/", json=body)
        self._raise_for_status(response, "Deploying the flow")
        deployed_id = response.json()["id"]
        return DeployedFlow(flow_id=deployed_id, endpoint=f"{self.base_url}/flows/{deployed_id}/run")

    def delete_flow(self, flow_id: str) -> bool:
        response = self._request("DELETE", f"/flows/{flow_id}")
        if response.status_code == 404:
            return False
        self._raise_for_status(response, "Removing the flow")
        return True

    def run(self, flow_id: str, *, input_value: str, session_id: str, variables: dict[str, str]) -> RunResult:
        body = {"input_value": input_value, "session_id": session_id, "global_vars": variables}
        # A run is not repeated after a timeout (the flow may have run); only refused connections are.
        response = self._request("POST", f"/flows/{flow_id}/run", json=body, idempotent=False)
        if response.status_code == 500:
            raise RuntimeUnavailable(
                "The agent failed to answer: " + str(response.json().get("result", ""))[:300]
            )
        self._raise_for_status(response, "Running the flow")
        data = response.json()
        return RunResult(
            output=data.get("result", ""),
            session_id=session_id,
            component=data.get("component", ""),
            raw=data,
        )

    def stream(
        self, flow_id: str, *, input_value: str, session_id: str, variables: dict[str, str]
    ) -> Iterator[StreamEvent]:
        body = {"input_value": input_value, "session_id": session_id, "global_vars": variables}
        try:
            with self._http.stream("POST", f"/flows/{flow_id}/stream", json=body) as response:
                if not response.is_success:
                    response.read()
                    self._raise_for_status(response, "Streaming the flow")
                yield from _lfx_events(_stream_events(response.iter_lines()))
        except httpx.TimeoutException as error:
            raise RuntimeUnavailable("The agent runtime did not answer in time.") from error
        except httpx.TransportError as error:
            raise RuntimeUnavailable("The agent runtime cannot be reached.") from error


def _lfx_events(events: Iterator[dict]) -> Iterator[StreamEvent]:
    for event in events:
        kind = event.get("event")
        data = event.get("data") or {}
        if kind == "token":
            yield StreamEvent("token", str(data.get("chunk", "")))
        elif kind == "end":
            yield StreamEvent("end", _text_of(data.get("result", data)))
            return
        elif kind == "error" or event.get("success") is False:
            yield StreamEvent("error", str(data.get("error") or event.get("error") or "The agent failed."))
            return


class LangflowClient(BaseRuntimeClient):
    """Full Langflow: /api/v1/flows/, /api/v1/run/<id> (?stream=true), DELETE /api/v1/flows/<id>,
    /health_check."""

    kind = "langflow"

    @staticmethod
    def _variable_headers(variables: dict[str, str]) -> dict[str, str]:
        return {f"X-LANGFLOW-GLOBAL-VAR-{name}": value for name, value in variables.items()}

    def health(self) -> bool:
        return self._probe("/health_check")

    def deploy_flow(self, flow: dict, *, flow_id: str, name: str) -> DeployedFlow:
        self.delete_flow(flow_id)  # redeploy = replace: Langflow has no overwrite on create
        body = {
            "id": flow_id,
            "name": name,
            "description": flow.get("description") or "",
            "data": flow["data"],
        }
        response = self._request("POST", "/api/v1/flows/", json=body)
        self._raise_for_status(response, "Deploying the flow")
        deployed_id = str(response.json()["id"])
        return DeployedFlow(flow_id=deployed_id, endpoint=f"{self.base_url}/api/v1/run/{deployed_id}")

    def delete_flow(self, flow_id: str) -> bool:
        response = self._request("DELETE", f"/api/v1/flows/{flow_id}")
        if response.status_code == 404:
            return False
        self._raise_for_status(response, "Removing the flow")
        return True

    def _run_body(self, input_value: str, session_id: str) -> dict:
        return {
            "input_value": input_value,
            "input_type": "chat",
            "output_type": "chat",
            "session_id": session_id,
        }

    def run(self, flow_id: str, *, input_value: str, session_id: str, variables: dict[str, str]) -> RunResult:
        response = self._request(
            "POST",
            f"/api/v1/run/{flow_id}",
            params={"stream": "false"},
            json=self._run_body(input_value, session_id),
            headers=self._variable_headers(variables),
            idempotent=False,
        )
        self._raise_for_status(response, "Running the flow")
        data = response.json()
        try:
            message = data["outputs"][0]["outputs"][0]["results"]["message"]
        except (KeyError, IndexError, TypeError) as error:
            raise RuntimeUnavailable("The runtime's answer had no message.") from error
        return RunResult(output=_text_of(message), session_id=data.get("session_id") or session_id, raw=data)

    def stream(
        self, flow_id: str, *, input_value: str, session_id: str, variables: dict[str, str]
    ) -> Iterator[StreamEvent]:
        try:
            with self._http.stream(
                "POST",
                f"/api/v1/run/{flow_id}",
                params={"stream": "true"},
                json=self._run_body(input_value, session_id),
                headers=self._variable_headers(variables),
            ) as response:
                if not response.is_success:
                    response.read()
                    self._raise_for_status(response, "Streaming the flow")
                for event in _stream_events(response.iter_lines()):
                    kind, data = event.get("event"), event.get("data") or {}
                    if kind == "token":
                        yield StreamEvent("token", str(data.get("chunk", "")))
                    elif kind == "end":
                        result = data.get("result", {})
                        try:
                            message = result["outputs"][0]["outputs"][0]["results"]["message"]
                        except (KeyError, IndexError, TypeError):
                            message = result
                        yield StreamEvent("end", _text_of(message))
                        return
                    elif kind == "error":
                        yield StreamEvent(
                            "error", str(data.get("error") or data.get("text") or "The agent failed.")
                        )
                        return
        except httpx.TimeoutException as error:
            raise RuntimeUnavailable("The agent runtime did not answer in time.") from error
        except httpx.TransportError as error:
            raise RuntimeUnavailable("The agent runtime cannot be reached.") from error


CLIENTS = {LfxServeClient.kind: LfxServeClient, LangflowClient.kind: LangflowClient}


def runtime_is_configured() -> bool:
    return bool(settings.RUNTIME_URL and settings.RUNTIME_API_KEY)


def get_runtime_client(**overrides) -> BaseRuntimeClient:
    """A client for the configured runtime. Close it (or use it as a context manager) when done."""
    if not runtime_is_configured():
        raise RuntimeUnavailable("No agent runtime is configured (RUNTIME_URL, RUNTIME_API_KEY).")
    client_class = CLIENTS.get(settings.RUNTIME_KIND)
    if client_class is None:
        raise RuntimeUnavailable(f"Unknown RUNTIME_KIND '{settings.RUNTIME_KIND}': use 'lfx' or 'langflow'.")
    options = {
        "base_url": settings.RUNTIME_URL,
        "api_key": settings.RUNTIME_API_KEY,
        "timeout": settings.RUNTIME_TIMEOUT,
        **overrides,
    }
    return client_class(**options)

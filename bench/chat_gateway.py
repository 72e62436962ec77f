"""Chat gateway benchmark: what CMP adds to a chat message, compared with calling `lfx serve` directly.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cmp_bench_chat .venv/bin/python bench/chat_gateway.py

It starts its own `lfx serve` (from .venv-runtime) and gunicorn (2 sync workers, DEBUG off) on free ports,
migrates the database, and seeds (idempotently) a seller, the offline "Customer Support Agent" listing, a
buyer subscription provisioned into that runtime exactly like a purchase, training documents and an API key.
Then it sends the same message, one at a time over keep-alive connections, alternately
  direct:  POST <lfx>/flows/<flow id>/run  with the run-time variables the gateway would send, and
  gateway: POST <cmp>/api/chat/<config>/messages  with the secret key (credential, subscription, quota,
           rate limit, retrieval, runtime call, usage recording),
and prints p50/p95/p99 of both and the difference. Goal: at most 10 ms added at p50. A third path, "floor"
(GET /api/runtime/ping/, a trivial authenticated DRF view on the same gunicorn), shows what any request
through gunicorn, the middleware and DRF costs before the gateway does anything.
Both servers are stopped at the end. With REDIS_URL set, gunicorn uses Redis for the cache and rate limits.
"""

import argparse
import json
import logging
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cmp.settings")

GOAL_ADDED_P50_MS = 10.0
SERVICE_TOKEN = secrets.token_urlsafe(32)
BENCH_SELLER = "Bench Chat Seller"
BENCH_BUYER = "Bench Chat Buyer"
QUESTION = "When are you open on Saturdays?"
FAQ = [
    (
        "When are you open?",
        "We are open Monday to Friday from nine to five, and on Saturdays from ten to two.",
    ),
    (
        "Do you ship abroad?",
        "We ship to every country in the European Union; delivery takes three to five days.",
    ),
    ("How do I return an item?", "Returns are free within 30 days: print the label from your account page."),
    ("Can I pay by invoice?", "Business customers can pay by invoice within 14 days after delivery."),
    (
        "Where is my order?",
        "Your order page shows the tracking link as soon as the parcel has left our warehouse.",
    ),
    ("Do you have a shop?", "Our shop is at Market Street 12, next to the station, with free parking."),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(url: str, process: subprocess.Popen, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.3)
    raise SystemExit(f"{what} did not start within {timeout:.0f} s")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def start_runtime(workdir: Path) -> tuple[subprocess.Popen, str, str]:
    lfx = ROOT / ".venv-runtime" / "bin" / "lfx"
    if not lfx.exists():
        raise SystemExit("The runtime venv is missing: run `make install` first (it installs lfx).")
    flows = workdir / "flows"
    flows.mkdir()
    port, key = free_port(), secrets.token_urlsafe(24)
    process = subprocess.Popen(
        [str(lfx), "serve", "--flow-dir", str(flows), "--host", "127.0.0.1", "--port", str(port)],
        stdout=(workdir / "lfx.log").open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "DO_NOT_TRACK": "true", "LANGFLOW_API_KEY": key},
        cwd=flows,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until(f"{url}/health", process, "lfx serve")
    return process, url, key


def support_flow(workdir: Path) -> dict:
    output = workdir / "sample-flows"
    subprocess.run(
        [
            str(ROOT / ".venv-runtime" / "bin" / "python"),
            str(ROOT / "scripts" / "build_sample_flows.py"),
            str(output),
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "DO_NOT_TRACK": "true"},
    )
    return json.loads((output / "customer-support-agent.json").read_text())


def seed(flow: dict) -> tuple[str, str, str, dict]:
    """The buyer's config (deployed into the runtime started above), a fresh key, its flow id and the
    run-time variables the gateway sends for QUESTION. Idempotent: reuses the bench seller and buyer."""
    import django

    # The purchase provisions in a Celery task after commit; no worker runs here, so run it inline.
    os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
    django.setup()
    from django.utils import timezone

    from accounts.models import User
    from marketplace.models import Category, Membership, Organization, Resource, ServiceProvider
    from marketplace.services.catalogue import offering_submit, plan_template_apply
    from marketplace.services.orders import order_create
    from marketplace_ai.services.documents import document_add_qa
    from runtime_bridge import gateway
    from runtime_bridge.provisioning import config_deploy
    from runtime_bridge.services import flow_import
    from site_agent.models import CustomerAgentConfig
    from site_agent.services.api_keys import api_key_create

    user, _ = User.objects.get_or_create(email="bench-chat@example.com", defaults={"full_name": "Bench"})
    seller_org, _ = Organization.objects.get_or_create(
        slug="bench-chat-seller", defaults={"name": BENCH_SELLER, "contact_email": "seller@example.com"}
    )
    provider, _ = ServiceProvider.objects.get_or_create(
        organization=seller_org,
        defaults={"state": "approved", "is_trusted": True, "terms_accepted_at": timezone.now()},
    )
    buyer_org, _ = Organization.objects.get_or_create(
        slug="bench-chat-buyer", defaults={"name": BENCH_BUYER, "contact_email": "buyer@example.com"}
    )
    for organization in (seller_org, buyer_org):
        Membership.objects.get_or_create(organization=organization, user=user, defaults={"role": "owner"})

    resource = Resource.objects.filter(organization=buyer_org, state="ok").select_related("offering").first()
    if resource is None:
        agent, _report = flow_import(
            provider=provider, category=Category.objects.get(slug="agents"), raw=flow, actor=user
        )
        plan_template_apply(offering=agent.offering, actor=user)
        offering_submit(offering=agent.offering, actor=user, terms_accepted=True)
        plan = agent.offering.plans.order_by("price_minor").first()
        plan.price_minor, plan.monthly_quota_calls, plan.rate_limit_per_minute = 0, None, 1_000_000
        plan.save()
        order = order_create(organization=buyer_org, plan=plan, actor=user)  # provisions after commit
        order.refresh_from_db()
        resource = order.resource
    config = CustomerAgentConfig.objects.select_related("knowledge_base").get(resource=resource)
    config = config_deploy(config=config)  # into this run's runtime (a previous run's one is gone)
    document_add_qa(
        knowledge_base=config.knowledge_base,
        qa_pairs=[{"question": question, "answer": answer} for question, answer in FAQ],
        actor=user,
        name="Bench FAQ",
    )
    config.api_keys.filter(revoked_at__isnull=True, name="bench").update(revoked_at=timezone.now())
    _key, plaintext = api_key_create(config=config, name="bench", actor=user)
    context = gateway.knowledge_context(config=config, question=QUESTION)
    if "Saturdays" not in context:
        raise SystemExit(f"Retrieval did not find the FAQ: {context!r}")
    variables = gateway.run_variables(
        context=context, agent_name=config.agent_name, tone=config.tone, system_prompt=config.system_prompt
    )
    return str(config.uuid), plaintext, config.runtime_flow_id, variables


def start_gunicorn(runtime_url: str, runtime_key: str, workdir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **{name: value for name, value in os.environ.items() if name != "CELERY_TASK_ALWAYS_EAGER"},
        "DEBUG": "false",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(40),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "RUNTIME_KIND": "lfx",
        "RUNTIME_URL": runtime_url,
        "RUNTIME_API_KEY": runtime_key,
        "LOG_LEVEL": "WARNING",
        "RUNTIME_SERVICE_TOKEN": SERVICE_TOKEN,
    }
    process = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "cmp.wsgi", "-w", "2", "-b", f"127.0.0.1:{port}"],
        stdout=(workdir / "gunicorn.log").open("wb"),
        stderr=subprocess.STDOUT,
        env=env,
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until(f"{url}/api/schema/", process, "gunicorn")
    return process, url


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    lower = int(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def measure(
    *, gateway_url: str, config_uuid: str, key: str, runtime_url: str, runtime_key: str, flow_id: str,
    variables: dict, requests: int, warmup: int,
) -> dict[str, list[float]]:  # fmt: skip
    timings: dict[str, list[float]] = {"direct": [], "gateway": [], "floor": []}
    with (
        httpx.Client(base_url=gateway_url, timeout=30) as cmp,
        httpx.Client(base_url=runtime_url, timeout=30, headers={"x-api-key": runtime_key}) as lfx,
    ):

        def direct(session: str) -> tuple[httpx.Response, str]:
            body = {
                "input_value": QUESTION,
                "session_id": f"{config_uuid}:{session}",
                "global_vars": variables,
            }
            response = lfx.post(f"/flows/{flow_id}/run", json=body)
            return response, response.json().get("result", "")

        def through_gateway(session: str) -> tuple[httpx.Response, str]:
            response = cmp.post(
                f"/api/chat/{config_uuid}/messages",
                json={"input": QUESTION, "session_id": session},
                headers={"Authorization": f"Bearer {key}"},
            )
            return response, response.json().get("output", "")

        def floor(_session: str) -> tuple[httpx.Response, str]:
            response = cmp.get("/api/runtime/ping/", headers={"Authorization": f"Bearer {SERVICE_TOKEN}"})
            return response, "Saturdays from ten to two" if response.status_code == 200 else response.text

        paths = {"direct": direct, "gateway": through_gateway, "floor": floor}
        for number in range(warmup + requests):
            order = list(paths) if number % 2 else list(reversed(paths))
            for kind in order:
                started = time.perf_counter()
                response, answer = paths[kind](f"bench-{number}")
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200 or "Saturdays from ten to two" not in answer:
                    raise SystemExit(
                        f"{kind} request failed: HTTP {response.status_code} {response.text[:300]}"
                    )
                if number >= warmup:
                    timings[kind].append(elapsed)
    return timings


def main() -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would bury the figures
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1000, help="measured messages per path")
    parser.add_argument("--warmup", type=int, default=50, help="unmeasured rounds first")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cmp-bench-chat-") as directory:
        workdir = Path(directory)
        subprocess.run(
            [str(ROOT / ".venv" / "bin" / "python"), "manage.py", "migrate", "--noinput", "-v", "0"],
            check=True,
            cwd=ROOT,
        )
        runtime, runtime_url, runtime_key = start_runtime(workdir)
        server = None
        try:
            os.environ.update(RUNTIME_KIND="lfx", RUNTIME_URL=runtime_url, RUNTIME_API_KEY=runtime_key)
            config_uuid, key, flow_id, variables = seed(support_flow(workdir))
            server, gateway_url = start_gunicorn(runtime_url, runtime_key, workdir)
            timings = measure(
                gateway_url=gateway_url,
                config_uuid=config_uuid,
                key=key,
                runtime_url=runtime_url,
                runtime_key=runtime_key,
                flow_id=flow_id,
                variables=variables,
                requests=args.requests,
                warmup=args.warmup,
            )
        finally:
            if server is not None:
                stop(server)
            stop(runtime)

    print(
        f"{args.requests} requests per path, one at a time, interleaved, after {args.warmup} warm-up rounds"
    )
    print(f"{'path':<10}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'mean ms':>10}")
    for kind, values in timings.items():
        print(
            f"{kind:<10}{percentile(values, 0.5):>10.1f}{percentile(values, 0.95):>10.1f}"
            f"{percentile(values, 0.99):>10.1f}{statistics.fmean(values):>10.1f}"
        )
    added = {
        fraction: percentile(timings["gateway"], fraction) - percentile(timings["direct"], fraction)
        for fraction in (0.5, 0.95, 0.99)
    }
    print(f"{'added':<10}{added[0.5]:>10.1f}{added[0.95]:>10.1f}{added[0.99]:>10.1f}   (gateway - direct)")
    met = added[0.5] <= GOAL_ADDED_P50_MS
    print(f"Goal (<= {GOAL_ADDED_P50_MS:.0f} ms added at p50): {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())

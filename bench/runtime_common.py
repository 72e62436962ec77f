"""Shared by the runtime benchmarks: seed buyer configs, start gunicorn, percentiles.

Seeding writes straight to the database named by DATABASE_URL (the one the server uses): a seller
"Bench Runtime Seller", an active agent offering and N subscriptions with their configs. It is idempotent:
a second run reuses what is there.
"""

import hashlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cmp.settings")

BENCH_SLUG = "bench-runtime-agent"


def django_setup() -> None:
    if not os.environ.get("DATABASE_URL"):
        raise SystemExit("Set DATABASE_URL to a migrated PostgreSQL database (the server uses the same one).")
    import django

    django.setup()


def seed_configs(count: int) -> list:
    """`count` active buyer configs of one bench agent (created once, then reused), oldest first."""
    from django.utils import timezone

    from marketplace.models import Category, Offering, Organization, Plan, Resource, ServiceProvider
    from site_agent.models import AgentIdentity, AgentVersion, CustomerAgentConfig
    from site_agent.services.configs import new_widget_id

    now = timezone.now()
    seller, _ = Organization.objects.get_or_create(
        slug="bench-runtime-seller", defaults={"name": "Bench Runtime Seller"}
    )
    provider, _ = ServiceProvider.objects.get_or_create(
        organization=seller, defaults={"state": "approved", "terms_accepted_at": now}
    )
    offering, _ = Offering.objects.get_or_create(
        slug=BENCH_SLUG,
        defaults={
            "provider": provider,
            "category": Category.objects.order_by("sort_order").first(),
            "name": "Bench Runtime Agent",
            "state": "active",
            "capabilities": ["chat", "api", "knowledge_base"],
            "published_at": now,
            "terms_accepted_at": now,
        },
    )
    plan, _ = Plan.objects.get_or_create(
        offering=offering,
        name="Bench",
        defaults={"price_minor": 0, "monthly_quota_calls": None, "rate_limit_per_minute": 100_000},
    )
    agent, _ = AgentIdentity.objects.get_or_create(
        offering=offering,
        defaults={
            "provider": provider,
            "category": offering.category,
            "name": offering.name,
            "slug": BENCH_SLUG,
        },
    )
    if agent.current_version is None:
        flow = {"name": "Bench", "data": {"nodes": [], "edges": []}}
        agent.current_version = AgentVersion.objects.create(
            agent=agent,
            version="1.0.0",
            flow_json=flow,
            sha256=hashlib.sha256(b"bench-runtime-agent").hexdigest(),
            node_count=0,
            edge_count=0,
        )
        agent.save(update_fields=["current_version"])
    configs = list(CustomerAgentConfig.objects.filter(agent=agent).select_related("resource").order_by("id"))
    for number in range(len(configs), count):
        buyer, _ = Organization.objects.get_or_create(
            slug=f"bench-runtime-buyer-{number}", defaults={"name": f"Bench Runtime Buyer {number}"}
        )
        resource = Resource.objects.create(
            organization=buyer,
            offering=offering,
            plan=plan,
            name=offering.name,
            state="ok",
            current_period_start=now,
        )
        configs.append(
            CustomerAgentConfig.objects.create(
                resource=resource,
                organization=buyer,
                agent=agent,
                agent_version=agent.current_version,
                agent_name="Bench Bot",
                greeting="Hello!",
                widget_id=new_widget_id(),
                runtime_flow_id="bench-flow",
                deployment_state="deployed",
            )
        )
    return configs[:count]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn with 2 sync workers, DEBUG off, on a free local port; stopped on exit."""

    def __init__(self, *, workers: int = 2, token: str):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "DEBUG": "false",
            "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(32),
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "false",
            "RUNTIME_SERVICE_TOKEN": token,
            "LOG_LEVEL": "WARNING",
        }
        self.process = subprocess.Popen(
            [
                str(ROOT / ".venv" / "bin" / "gunicorn"),
                "cmp.wsgi",
                "--workers",
                str(workers),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            start_new_session=True,
        )

    def wait_ready(self, path: str, headers: dict, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited with code {self.process.returncode}")
            try:
                if httpx.get(self.base_url + path, headers=headers, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise SystemExit("gunicorn did not become ready in time")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def check_local(base_url: str) -> None:
    host = httpx.URL(base_url).host
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("The benchmarks only send load to this machine (127.0.0.1).")

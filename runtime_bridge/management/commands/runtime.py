"""`manage.py runtime start|stop|status`: the local `lfx serve` of embedded mode (`make run` starts it).

It serves the flows stored under .data/runtime-flows, listens where RUNTIME_URL says (127.0.0.1:7860 by
default) and requires RUNTIME_API_KEY. It keeps running after `make run` stops, like the embedded database;
`make stop` stops both.
"""

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from runtime_bridge.runtime_client import LfxServeClient

START_TIMEOUT = 120


class Command(BaseCommand):
    help = "Start, stop or check the local lfx serve runtime used in embedded mode."

    def add_arguments(self, parser) -> None:
        parser.add_argument("action", choices=["start", "stop", "status"])

    @property
    def data_dir(self) -> Path:
        return Path(settings.BASE_DIR) / ".data"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "runtime.pid"

    def _client(self) -> LfxServeClient:
        return LfxServeClient(
            base_url=settings.RUNTIME_URL, api_key=settings.RUNTIME_API_KEY, timeout=2, attempts=1
        )

    def _healthy(self) -> bool:
        with self._client() as client:
            return client.health()

    def handle(self, *args, action: str, **options) -> None:
        if settings.RUNTIME_KIND != "lfx" or not settings.RUNTIME_URL:
            raise CommandError(
                "The local runtime is for embedded mode (RUNTIME_KIND=lfx with a RUNTIME_URL)."
            )
        getattr(self, f"_{action}")()

    def _status(self) -> None:
        state = "running" if self._healthy() else "not running"
        self.stdout.write(f"Runtime at {settings.RUNTIME_URL}: {state}")

    def _start(self) -> None:
        if self._healthy():
            self.stdout.write(f"Runtime already running at {settings.RUNTIME_URL}")
            return
        lfx = Path(settings.BASE_DIR) / ".venv-runtime" / "bin" / "lfx"
        if not lfx.exists():
            raise CommandError("The runtime is not installed: run `make install` (it creates .venv-runtime).")
        address = urlsplit(settings.RUNTIME_URL)
        settings.RUNTIME_FLOW_DIR.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir / "runtime.log").open("ab")
        environment = {**os.environ, "DO_NOT_TRACK": "true", "LANGFLOW_API_KEY": settings.RUNTIME_API_KEY}
        process = subprocess.Popen(  # noqa: S603 - our own executable and arguments
            [
                str(lfx),
                "serve",
                "--flow-dir",
                str(settings.RUNTIME_FLOW_DIR),
                "--host",
                address.hostname or "127.0.0.1",
                "--port",
                str(address.port or 7860),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment,
            start_new_session=True,
        )
        self.pid_file.write_text(str(process.pid))
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise CommandError(f"lfx serve exited with {process.returncode}; see .data/runtime.log")
            if self._healthy():
                self.stdout.write(
                    self.style.SUCCESS(f"Runtime (lfx serve) running at {settings.RUNTIME_URL}")
                )
                return
            time.sleep(0.5)
        raise CommandError(f"lfx serve did not answer within {START_TIMEOUT}s; see .data/runtime.log")

    def _stop(self) -> None:
        if not self.pid_file.exists():
            self.stdout.write("No runtime started by make run.")
            return
        pid = int(self.pid_file.read_text())
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        self.pid_file.unlink()
        self.stdout.write("Runtime stopped.")

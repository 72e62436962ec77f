"""CMP settings, driven by environment variables with safe defaults for the embedded (local) mode.

Embedded mode (nothing configured): an embedded PostgreSQL under .data/, tasks run eagerly, an in-memory
cache, a local runtime, built-in retrieval and manual payments. Production sets DATABASE_URL, REDIS_URL,
SECRET_KEY, ALLOWED_HOSTS and DEBUG=false; see .env.example.
"""

import logging
import os
from pathlib import Path

import dj_database_url

from cmp.log import logging_config, sentry_init

BASE_DIR = Path(__file__).resolve().parent.parent
logger = logging.getLogger("cmp.settings")


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", default=True)
SECRET_KEY = env("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise RuntimeError("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "embedded-mode-insecure-key-do-not-use-in-production"  # noqa: S105 - local mode only

SITE_URL = env("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# Production: the site's own host unless ALLOWED_HOSTS names them; its origin is trusted for CSRF when https.
ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS",
    "127.0.0.1,localhost,testserver" if DEBUG else SITE_URL.split("://")[-1].split("/")[0].split(":")[0],
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", SITE_URL if SITE_URL.startswith("https://") else "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django.contrib.humanize",
    "django.contrib.sites",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_countries",
    "django_htmx",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "cmp",
    "accounts",
    "marketplace",
    "marketplace_ai",
    "site_agent",
    "runtime_bridge",
    "billing",
    "widget",
    "demo",
]

MIDDLEWARE = [
    "cmp.log.RequestIdMiddleware",
    "cmp.metrics.PrometheusMiddleware",
    "cmp.health.ProbeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "cmp.security.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "cmp.urls"
WSGI_APPLICATION = "cmp.wsgi.application"
ASGI_APPLICATION = "cmp.asgi.application"
SITE_ID = 1

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "cmp" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "cmp.context_processors.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------
DATABASE_URL = env("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
    # An unreachable database fails a request (and /readyz) in seconds instead of hanging it.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", int(env("DATABASE_CONNECT_TIMEOUT", "5"))
    )
else:
    from cmp.embedded import embedded_database_settings

    DATABASES = {"default": embedded_database_settings(BASE_DIR / ".data" / "postgres")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Celery -----------------------------------------------------------------------------
REDIS_URL = env("REDIS_URL")


def _next_redis_database(url: str) -> str:
    """The same Redis server, next database number: the cache must not share Celery's database, since
    clearing a cache flushes its whole database."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    number = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(number + 1) % 16}"))


CACHE_URL = env("CACHE_URL") or (_next_redis_database(REDIS_URL) if REDIS_URL else "")
if CACHE_URL:
    # Django's Redis backend, with one client per process instead of one per cache call (cmp/cache.py).
    CACHES = {"default": {"BACKEND": "cmp.cache.SharedRedisCache", "LOCATION": CACHE_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "cmp"}}

CELERY_BROKER_URL = env("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", REDIS_URL) or None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=not CELERY_BROKER_URL)
if not CELERY_BROKER_URL:
    CELERY_BROKER_URL = "memory://"  # eager mode: nothing is sent, but kombu wants a transport
# Deployments (or test runs) sharing one Redis keep their tasks apart with a queue name of their own.
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The worker logs through LOGGING below (JSON lines, request ids, redaction), not Celery's own handlers.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Auth -----------------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = env("ACCOUNT_EMAIL_VERIFICATION", "optional")
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_SESSION_REMEMBER = True
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
ACCOUNT_SIGNUP_FORM_CLASS = "accounts.forms.SignupForm"
SOCIALACCOUNT_ADAPTER = "accounts.adapters.SocialAccountAdapter"
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_LOGIN_ON_GET = False

# OpenID Connect (Keycloak): enabled when all three OIDC_* values are set. The provider class is set even
# when no app is configured, because allauth picks it (and its URLs) once, when the URLconf loads.
OIDC_SERVER_URL = env("OIDC_SERVER_URL")
OIDC_CLIENT_ID = env("OIDC_CLIENT_ID")
OIDC_CLIENT_SECRET = env("OIDC_CLIENT_SECRET")
OIDC_PROVIDER_ID = env("OIDC_PROVIDER_ID", "keycloak")
OIDC_PROVIDER_NAME = env("OIDC_PROVIDER_NAME", "Keycloak")
SOCIALACCOUNT_PROVIDERS: dict = {
    "openid_connect": {
        "provider_class": "accounts.oidc.provider.VerifyingOpenIDConnectProvider",
        "OAUTH_PKCE_ENABLED": True,
        "APPS": [],
    }
}
if OIDC_SERVER_URL and OIDC_CLIENT_ID and OIDC_CLIENT_SECRET:
    SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"].append(
        {
            "provider_id": OIDC_PROVIDER_ID,
            "name": OIDC_PROVIDER_NAME,
            "client_id": OIDC_CLIENT_ID,
            "secret": OIDC_CLIENT_SECRET,
            "settings": {"server_url": OIDC_SERVER_URL},
        }
    )

# --- REST API -------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "cmp.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "cmp.errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"anon": "120/minute", "user": "600/minute"},
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CMP API",
    "DESCRIPTION": "Cloud Marketplace Platform for AI agents.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/",
    # /api/docs/ serves Swagger UI from the bundled sidecar package, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One named enum per choice set: several models have a `state`, several fields use the capabilities.
    "ENUM_NAME_OVERRIDES": {
        "CapabilityEnum": "marketplace.models.catalogue.Capability",
        "BillingPeriodEnum": "marketplace.models.catalogue.BillingPeriod",
        "OfferingStateEnum": "marketplace.models.catalogue.OfferingState",
        "OrderStateEnum": "marketplace.models.orders.OrderState",
        "OrderTypeEnum": "marketplace.models.orders.OrderType",
        "ResourceStateEnum": "marketplace.models.orders.ResourceState",
        "RoleEnum": "marketplace.models.organizations.Role",
        "ServiceProviderStateEnum": "marketplace.models.organizations.ServiceProviderState",
        "WorkflowTriggerEnum": "runtime_bridge.models.TriggerKind",
        "WorkflowRunTriggerEnum": "runtime_bridge.models.RunTrigger",
        "WorkflowRunStatusEnum": "runtime_bridge.models.RunStatus",
    },
}

# --- Internationalisation, static and media ----------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(BASE_DIR / ".data" / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Email ----------------------------------------------------------------------------------------
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "CMP <no-reply@cmp.local>")

# --- Security (production) ----------------------------------------------------------------------
# Secure cookies whenever DEBUG is off; a plain-HTTP local stack (docker compose on localhost) may opt out.
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = int(env("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# Content-Security-Policy (cmp.security): enforced in production, report-only while developing.
CSP_REPORT_ONLY = env_bool("CSP_REPORT_ONLY", default=DEBUG)
_form_targets = [
    "'self'",
    # Stripe Checkout, the customer portal and Connect onboarding: a form post, then a redirect there.
    "https://checkout.stripe.com",
    "https://billing.stripe.com",
    "https://connect.stripe.com",
]
if OIDC_SERVER_URL:  # allauth's OpenID Connect login posts, then redirects to the identity provider
    _form_targets.append("/".join(OIDC_SERVER_URL.split("/")[:3]))
CSP_DIRECTIVES: dict[str, list[str]] = {
    "default-src": ["'self'"],
    "script-src": ["'self'", "{nonce}"],
    "style-src": ["'self'", "'unsafe-inline'"],  # style="" attributes; scripts stay nonce-only
    "img-src": ["'self'", "data:", "blob:"],
    "font-src": ["'self'", "data:"],
    "connect-src": ["'self'"],
    "frame-src": ["'self'"],
    "form-action": _form_targets,
    "frame-ancestors": ["'none'"],
    "base-uri": ["'self'"],
    "object-src": ["'none'"],
}

# A Langflow export may be up to 5 MB (runtime_bridge.flows.MAX_FLOW_BYTES), plus the JSON around it.
DATA_UPLOAD_MAX_MEMORY_SIZE = 6 * 1024 * 1024

# Secrets we must read back (webhook signing secrets) are encrypted with a key derived from this (several,
# comma-separated, for rotation: the first encrypts, all decrypt); unset -> derived from SECRET_KEY.
FIELD_ENCRYPTION_KEY = env("FIELD_ENCRYPTION_KEY")

# --- Agent runtime (lfx serve or Langflow) ---------------------------------------------------------
# Embedded mode: `make run` starts a local `lfx serve` on 127.0.0.1:7860 with a key made once under .data/.
RUNTIME_KIND = env("RUNTIME_KIND", "lfx")
RUNTIME_URL = env("RUNTIME_URL", "http://127.0.0.1:7860" if DEBUG else "")
RUNTIME_API_KEY = env("RUNTIME_API_KEY")
RUNTIME_FLOW_DIR = BASE_DIR / ".data" / "runtime-flows"
if not RUNTIME_API_KEY and DEBUG and RUNTIME_URL == "http://127.0.0.1:7860":
    from cmp.embedded import embedded_runtime_key

    RUNTIME_API_KEY = embedded_runtime_key(BASE_DIR / ".data")
RUNTIME_TIMEOUT = float(env("RUNTIME_TIMEOUT", "30"))
# External runtimes call /api/runtime/auth/ and /api/runtime/usage/ with `Authorization: Bearer <this>`.
# Empty: those endpoints refuse every request (401).
RUNTIME_SERVICE_TOKEN = env("RUNTIME_SERVICE_TOKEN")

# --- Knowledge (training documents and retrieval) ------------------------------------------------
# RAGFLOW_BASE_URL set: new knowledge bases are indexed and searched by RAGFlow; unset: built-in retrieval on
# PostgreSQL full-text search. Uploaded files may be up to KNOWLEDGE_MAX_UPLOAD_BYTES. Web pages added by
# URL are fetched by the worker, never from private, loopback, link-local or reserved addresses unless
# KNOWLEDGE_URL_FETCH_ALLOW_PRIVATE is on (for a RAGFlow or intranet on the same network, never in public).
RAGFLOW_BASE_URL = env("RAGFLOW_BASE_URL").rstrip("/")
RAGFLOW_API_KEY = env("RAGFLOW_API_KEY")
RAGFLOW_TIMEOUT = float(env("RAGFLOW_TIMEOUT", "30"))
KNOWLEDGE_MAX_UPLOAD_BYTES = int(env("KNOWLEDGE_MAX_UPLOAD_BYTES", str(50 * 1024 * 1024)))
KNOWLEDGE_URL_FETCH_ALLOW_PRIVATE = env_bool("KNOWLEDGE_URL_FETCH_ALLOW_PRIVATE", default=False)
KNOWLEDGE_URL_FETCH_TIMEOUT = float(env("KNOWLEDGE_URL_FETCH_TIMEOUT", "15"))

# --- Chat -----------------------------------------------------------------------------------------
# The chat gateway (/api/chat/, /api/widget/session, demo chat). LLM_API_KEY, when set, reaches flows as the
# run-time variable OPENAI_API_KEY on every call (never stored in a flow). Widget visitors are limited per
# widget session and per IP address, on top of the plan's per-minute limit. TRUSTED_PROXY_COUNT: how many
# reverse proxies in front of CMP append to X-Forwarded-For (0: use the connection's address).
LLM_API_KEY = env("LLM_API_KEY")
CHAT_DEMO_MESSAGES_PER_DAY = int(env("CHAT_DEMO_MESSAGES_PER_DAY", "5"))
WIDGET_SESSION_SECONDS = int(env("WIDGET_SESSION_SECONDS", "1800"))
CHAT_WIDGET_SESSION_MESSAGES_PER_MINUTE = int(env("CHAT_WIDGET_SESSION_MESSAGES_PER_MINUTE", "10"))
CHAT_WIDGET_IP_MESSAGES_PER_MINUTE = int(env("CHAT_WIDGET_IP_MESSAGES_PER_MINUTE", "30"))
TRUSTED_PROXY_COUNT = int(env("TRUSTED_PROXY_COUNT", "0"))

# --- Marketplace ----------------------------------------------------------------------------------
CMP_DEFAULT_CURRENCY = env("CMP_DEFAULT_CURRENCY", "USD")
CMP_OPERATOR_EMAIL = env("CMP_OPERATOR_EMAIL", "operator@cmp.local")

# --- Billing (Stripe) -----------------------------------------------------------------------------
# STRIPE_SECRET_KEY set: paid orders go through Stripe Checkout and are confirmed by signed webhooks; unset:
# manual mode, an operator marks paid orders paid in admin and invoices are recorded locally.
# STRIPE_API_BASE points the client at another address (tests use a local Stripe double); empty: Stripe.
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY")
STRIPE_PUBLISHABLE_KEY = env("STRIPE_PUBLISHABLE_KEY")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET")
STRIPE_API_BASE = env("STRIPE_API_BASE").rstrip("/")
STRIPE_TIMEOUT = float(env("STRIPE_TIMEOUT", "20"))
STRIPE_MAX_NETWORK_RETRIES = int(env("STRIPE_MAX_NETWORK_RETRIES", "2"))
STRIPE_METER_EVENT_NAME = env("STRIPE_METER_EVENT_NAME", "cmp_api_calls")
# The platform's share of every payment for a connected seller, in percent (the seller keeps the rest).
PLATFORM_FEE_PERCENT = float(env("PLATFORM_FEE_PERCENT", "20"))
# Days a subscription may stay past due before its keys are suspended.
PAYMENT_GRACE_DAYS = int(env("PAYMENT_GRACE_DAYS", "7"))
CELERY_BEAT_SCHEDULE = globals().get("CELERY_BEAT_SCHEDULE", {})
CELERY_BEAT_SCHEDULE |= {
    "billing-report-overage": {"task": "billing.tasks.overage_report_task", "schedule": 3600.0},
    "billing-enforce-grace": {"task": "billing.tasks.grace_period_enforce_task", "schedule": 3600.0},
    "billing-apply-downgrades": {"task": "billing.tasks.scheduled_changes_apply_task", "schedule": 3600.0},
    # Automations: queue the scheduled runs that are due (runtime_bridge.workflows).
    "workflows-due": {"task": "runtime_bridge.tasks.workflows_due_task", "schedule": 60.0},
}

# --- Operations: health, metrics, logging, errors ------------------------------------------------
# /readyz: every configured dependency is required unless named here (database, redis, runtime, ragflow).
READINESS_OPTIONAL_CHECKS = env_list("READINESS_OPTIONAL_CHECKS")
HEALTH_CHECK_TIMEOUT = float(env("HEALTH_CHECK_TIMEOUT", "3"))
HEALTH_CHECK_CACHE_SECONDS = float(env("HEALTH_CHECK_CACHE_SECONDS", "15"))
# /metrics: callers inside the cluster (private address, no proxy) and holders of METRICS_TOKEN.
METRICS_TOKEN = env("METRICS_TOKEN")
METRICS_ALLOW_PRIVATE_NETWORKS = env_bool("METRICS_ALLOW_PRIVATE_NETWORKS", default=True)

# JSON lines in production (LOG_FORMAT=plain to read them by eye); a request id and redaction everywhere.
LOG_FORMAT = env("LOG_FORMAT", "plain" if DEBUG else "json")
LOGGING = logging_config(json_lines=LOG_FORMAT == "json", level=env("LOG_LEVEL", "INFO"))

SENTRY_DSN = env("SENTRY_DSN")
if SENTRY_DSN:
    sentry_init(
        dsn=SENTRY_DSN,
        environment=env("SENTRY_ENVIRONMENT", "development" if DEBUG else "production"),
        release=env("SENTRY_RELEASE") or None,
        traces_sample_rate=float(env("SENTRY_TRACES_SAMPLE_RATE", "0")),
    )

"""Affitrack settings: one file, every value from the environment (each listed in `.env.example`).

An unset DATABASE_URL or REDIS_URL is what a live `make run` of this checkout serves with, else its embedded
servers (core/embedded_services.py): a command in a second terminal needs nothing exported.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from core.embedded_services import checkout_services_read
from core.log_format import logging_config
from core.redis_config import redis_queue_config

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# A built-in key would sign production sessions with a string anyone can read here: with DEBUG off, refuse,
# unless this is a checkout on its embedded servers, which keep a random key of their own in .data/.
SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-change-me" if DEBUG else "")
if not SECRET_KEY and not env.str("DATABASE_URL", default=""):
    try:
        SECRET_KEY = checkout_services_read(BASE_DIR / ".data").get("SECRET_KEY", "")
    except ImproperlyConfigured:
        pass  # refused below, with the message about the key
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY is not set: export a long random one (docs/operations.md), or DEBUG=1.")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Where links are served from; used to print tracking URLs. Beside a live `make run PORT=N`, its address.
SITE_URL = env.str("SITE_URL", default="")
if not SITE_URL and not env.str("DATABASE_URL", default=""):
    try:
        SITE_URL = checkout_services_read(BASE_DIR / ".data").get("SITE_URL", "")
    except ImproperlyConfigured:
        pass  # no servers: refused below, with the message about them
SITE_URL = (SITE_URL or "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.forms",  # the widgets' own templates, for FORM_RENDERER below
    "rest_framework",
    "django_filters",
    "django_rq",
    "django_prometheus",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "referrals",
    "rewards",
    "conversions",
    "core",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "core.log_format.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

AUTHENTICATION_BACKENDS = ["referrals.login_guard.LockoutGuardBackend", "django.contrib.auth.backends.ModelBackend"]
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", default=900)

# HTTPS: behind TLS in production, SECURE_HTTPS=1 turns on the redirect, secure cookies and HSTS.
SECURE_HTTPS = env.bool("SECURE_HTTPS", default=False)
SECURE_SSL_REDIRECT = SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_HTTPS
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if SECURE_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_PRELOAD = SECURE_HTTPS
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Django's defaults send nosniff, a same-origin Referrer-Policy and COOP, X-Frame-Options DENY, HttpOnly sessions.
# Content-Security-Policy: scripts only from our own static files (no inline script anywhere,
# Swagger UI included); inline style attributes are allowed (the admin uses them).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Widgets render from the project's templates too (the rule form's conditions rows).
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"


def _service_url(name: str) -> str:
    """The variable when set (set variables always win), else what this checkout's `make run` uses."""
    return env.str(name, default="") or checkout_services_read(BASE_DIR / ".data")[name]


DATABASES = {"default": env.db_url_config(_service_url("DATABASE_URL"))}
# Persistent connections: the click and ingest paths should not pay a connect per request.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# A streaming replica for the reports (core/database_routing.py): the views that choose it read there while it is
# within REPLICA_MAX_LAG_SECONDS and answering; past REPLICA_LAG_NOTICE_SECONDS their pages say how old they are.
DATABASE_REPLICA_URL = env.str("DATABASE_REPLICA_URL", default="")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = env.db_url_config(DATABASE_REPLICA_URL)
    DATABASES["replica"].update(CONN_MAX_AGE=DATABASES["default"]["CONN_MAX_AGE"], CONN_HEALTH_CHECKS=True)
    # A replica that does not answer must not hold a page up: it is left alone and the primary serves.
    DATABASES["replica"].setdefault("OPTIONS", {})["connect_timeout"] = env.int("REPLICA_CONNECT_TIMEOUT", default=2)
    # Tests: the replica's test database is the primary's, which a real replica receives by replication.
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    DATABASE_ROUTERS = ["core.database_routing.ReplicaRouter"]
REPLICA_LAG_NOTICE_SECONDS = env.int("REPLICA_LAG_NOTICE_SECONDS", default=30)
REPLICA_MAX_LAG_SECONDS = env.int("REPLICA_MAX_LAG_SECONDS", default=300)
REPLICA_RETRY_SECONDS = env.int("REPLICA_RETRY_SECONDS", default=10)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Jobs go to RQ after commit and a worker runs them (the Procfile's `worker`).
REDIS_URL = _service_url("REDIS_URL")
# Redis under Sentinel ("host:port,host:port,host:port"): every client asks them for the master of
# REDIS_SENTINEL_MASTER and follows it through a failover; REDIS_URL then names only the database and password.
REDIS_SENTINELS = env.list("REDIS_SENTINELS", default=[])
REDIS_SENTINEL_MASTER = env.str("REDIS_SENTINEL_MASTER", default="affitrack")
REDIS_SENTINEL_PASSWORD = env.str("REDIS_SENTINEL_PASSWORD", default="")
# A write that must outlive a failover (a buffered click) waits until this many replicas have it (Redis WAIT),
# at most this long; unconfirmed, it is written to PostgreSQL as well (core/redis_connection.py).
REDIS_WAIT_REPLICAS = env.int("REDIS_WAIT_REPLICAS", default=1 if REDIS_SENTINELS else 0)
REDIS_WAIT_TIMEOUT_MS = env.int("REDIS_WAIT_TIMEOUT_MS", default=500)
RQ_QUEUES = {
    "default": {
        **redis_queue_config(
            REDIS_URL,
            sentinels=REDIS_SENTINELS,
            master=REDIS_SENTINEL_MASTER,
            sentinel_password=REDIS_SENTINEL_PASSWORD,
        ),
        "DEFAULT_TIMEOUT": 300,
    }
}
# The intake log's Redis (conversions/intake/intake_log.py): run it with appendfsync always (docs/operations.md).
INTAKE_REDIS_URL = env.str("INTAKE_REDIS_URL", default="") or REDIS_URL
RQ = {"COMMIT_MODE": "auto"}  # we enqueue with transaction.on_commit ourselves

TIME_ZONE = "UTC"
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
# Uploaded files (advertisers' CSVs). Never served by URL: pages stream them to their owner only.
MEDIA_ROOT = env.str("MEDIA_ROOT", default=str(BASE_DIR / "media"))
# The largest CSV an advertiser may upload, in bytes.
CSV_UPLOAD_MAX_BYTES = env.int("CSV_UPLOAD_MAX_BYTES", default=20 * 1024 * 1024)

LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.input_limits.StrictJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api_errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "COERCE_DECIMAL_TO_STRING": True,
    "DEFAULT_THROTTLE_CLASSES": ["conversions.intake.throttling.PerCredentialThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "ingest": env.str("API_RATE_INGEST", default="12000/min"),
        "read": env.str("API_RATE_READ", default="1200/min"),
    },
}

# The cache holds throttle counters, in Redis so all workers share them; on the queue's connection pool, so it
# follows the sentinels too (LOCATION is not read).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": {"pool_class": "core.redis_connection.QueueConnectionPool"},
    }
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Affitrack API",
    "DESCRIPTION": "Self-hosted affiliate and referral conversion tracking.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "core.api_errors.add_error_responses"],
}

# Tracking
CLICK_COOKIE_PREFIX = env.str("CLICK_COOKIE_PREFIX", default="atc_")
# Proxies whose X-Forwarded-For we believe (IPs or CIDRs); from anyone else it is ignored.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
# An operator-supplied MaxMind country database; without it, geoip2fast's bundled data is used.
GEOIP_MMDB_PATH = env.str("GEOIP_MMDB_PATH", default="")
# How long a worker keeps link -> offer and API key -> advertiser lookups: a change elsewhere takes this long.
HOT_CACHE_TTL_SECONDS = env.int("HOT_CACHE_TTL_SECONDS", default=30)
# Clicks go to a Redis buffer and `manage.py flush_clicks` (its own process, see Procfile) COPYs them
# into PostgreSQL in batches (referrals/click_buffer.py). Off: each click is written at once, a batch of one.
CLICK_BUFFER = env.bool("CLICK_BUFFER", default=True)
CLICK_BUFFER_BATCH_SIZE = env.int("CLICK_BUFFER_BATCH_SIZE", default=2000)
INTAKE_BATCH_SIZE = env.int("INTAKE_BATCH_SIZE", default=500)  # conversions per write_conversions batch
# A click is "unique" unless the same IP and user agent clicked the same link within this window.
CLICK_UNIQUE_WINDOW_SECONDS = env.int("CLICK_UNIQUE_WINDOW_SECONDS", default=3600)
# A conversion may not claim to have happened further in the future than this.
CONVERSION_FUTURE_TOLERANCE_SECONDS = env.int("CONVERSION_FUTURE_TOLERANCE_SECONDS", default=300)

# Signed postbacks: how far a signature's timestamp may be from our clock.
SIGNATURE_TOLERANCE_SECONDS = env.int("SIGNATURE_TOLERANCE_SECONDS", default=300)
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24)
REQUEST_LOG_RETENTION_DAYS = env.int("REQUEST_LOG_RETENTION_DAYS", default=30)
# Rewards
# Another currency than its rule's: the rate of the conversion's UTC date or an earlier day within this; else it waits.
EXCHANGE_RATE_MAX_AGE_DAYS = env.int("EXCHANGE_RATE_MAX_AGE_DAYS", default=4)
# The least a payout batch pays a partner, per currency ("USD=50,EUR=50"; unlisted: any), unless their profile says.
PAYOUT_MINIMUMS = env.dict("PAYOUT_MINIMUMS", default={"USD": "50", "EUR": "50", "GBP": "40"})
# Pending conversions the sweeper (process_pending_conversions) takes per batch and transaction.
CONVERSION_BATCH_SIZE = env.int("CONVERSION_BATCH_SIZE", default=1000)
# Email (password reset). The console backend prints mail to the server log; set SMTP for real mail.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=587)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=True)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Affitrack <noreply@localhost>")

# Publisher dashboard
# Missing-conversion claims are accepted up to this many days after the purchase (Involve Asia: 90).
CLAIM_MAX_AGE_DAYS = env.int("CLAIM_MAX_AGE_DAYS", default=90)

# Partner postbacks (webhooks out)
# Off: postbacks to loopback, link-local and private addresses are refused (SSRF). Tests turn it on.
POSTBACKS_ALLOW_PRIVATE = env.bool("POSTBACKS_ALLOW_PRIVATE", default=False)
POSTBACK_TIMEOUT_SECONDS = env.float("POSTBACK_TIMEOUT_SECONDS", default=5.0)
# Seconds before each retry: exponential backoff, about a day in all.
POSTBACK_RETRY_INTERVALS = env.list("POSTBACK_RETRY_INTERVALS", cast=int, default=[30, 120, 600, 3600, 21600, 64800])
POSTBACK_FAILURE_LIMIT = env.int("POSTBACK_FAILURE_LIMIT", default=25)
POSTBACK_SECRET_OVERLAP_HOURS = env.int("POSTBACK_SECRET_OVERLAP_HOURS", default=24)

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# json: one JSON object a line (production); console: readable lines.
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
LOGGING = logging_config(level=LOG_LEVEL, json_lines=LOG_FORMAT == "json")

# Prometheus metrics at /metrics, for `Authorization: Bearer <METRICS_TOKEN>`; unset: no endpoint.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    import sentry_sdk

    from core.sentry_scrub import sentry_before_send

    traces = env.float("SENTRY_TRACES", 0.0)
    sentry_sdk.init(dsn=SENTRY_DSN, send_default_pii=False, traces_sample_rate=traces, before_send=sentry_before_send)

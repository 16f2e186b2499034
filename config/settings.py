"""Affitrack settings: one file, every value from the environment.

With nothing set, Affitrack runs on a SQLite file and runs jobs inline, which
is enough to click around. Set DATABASE_URL and REDIS_URL for PostgreSQL and
real RQ workers. Every variable is listed in `.env.example`.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-change-me")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Where links are served from; used to print tracking URLs.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "django_rq",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "referrals",
    "rewards",
    "conversions",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

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

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# Persistent connections: the click and ingest paths should not pay a connect per request.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Jobs: with REDIS_URL they go to RQ and a worker runs them; without it they
# run inline, right after the transaction that asked for them commits.
REDIS_URL = env.str("REDIS_URL", default="")
RQ_QUEUES = {
    "default": {
        "URL": REDIS_URL or "redis://127.0.0.1:6379/0",
        "ASYNC": bool(REDIS_URL),
        "DEFAULT_TIMEOUT": 300,
    },
}
RQ = {"COMMIT_MODE": "auto"}  # we enqueue with transaction.on_commit ourselves

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api_errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "COERCE_DECIMAL_TO_STRING": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Affitrack API",
    "DESCRIPTION": "Self-hosted affiliate and referral conversion tracking.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Tracking
CLICK_COOKIE_PREFIX = env.str("CLICK_COOKIE_PREFIX", default="atc_")
# A conversion may not claim to have happened further in the future than this.
CONVERSION_FUTURE_TOLERANCE_SECONDS = env.int("CONVERSION_FUTURE_TOLERANCE_SECONDS", default=300)

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
# Shown on the earnings page; a partner is paid once the available balance reaches it.
PAYOUT_MINIMUM = env.str("PAYOUT_MINIMUM", default="50.00")
PAYOUT_MINIMUM_CURRENCY = env.str("PAYOUT_MINIMUM_CURRENCY", default="USD")
# Missing-conversion claims are accepted up to this many days after the purchase (Involve Asia: 90).
CLAIM_MAX_AGE_DAYS = env.int("CLAIM_MAX_AGE_DAYS", default=90)

# Partner postbacks (webhooks out)
# Off: postbacks to loopback, link-local and private addresses are refused (SSRF). Tests turn it on.
POSTBACKS_ALLOW_PRIVATE = env.bool("POSTBACKS_ALLOW_PRIVATE", default=False)
POSTBACK_TIMEOUT_SECONDS = env.float("POSTBACK_TIMEOUT_SECONDS", default=5.0)
# Seconds before each retry: exponential backoff, about a day in all.
POSTBACK_RETRY_INTERVALS = [
    int(s) for s in env.list("POSTBACK_RETRY_INTERVALS", default=["30", "120", "600", "3600", "21600", "64800"])
]
POSTBACK_FAILURE_LIMIT = env.int("POSTBACK_FAILURE_LIMIT", default=25)
POSTBACK_SECRET_OVERLAP_HOURS = env.int("POSTBACK_SECRET_OVERLAP_HOURS", default=24)

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

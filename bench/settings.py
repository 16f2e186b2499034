"""Settings for `make bench`: the project's own, plus the baseline views in `bench.urls`."""

import os

os.environ.setdefault("SECRET_KEY", "bench-only-insecure-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")

from config.settings import *  # noqa: F403
from config.settings import ALLOWED_HOSTS

ROOT_URLCONF = "bench.urls"
# Measure what production runs: never the debug toolbar of error pages and query logging.
DEBUG = False
ALLOWED_HOSTS = [*ALLOWED_HOSTS, "127.0.0.1"]
# wrk makes tens of thousands of requests; a log line each would be part of what we measure.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    # 4xx answers are counted by wrk and reported; logging each would slow the failing run further.
    "loggers": {"django.request": {"level": "ERROR"}},
}
